// Tests of the header-only C++17 wrapper (include/httpbatch.hpp) against the loopback test
// server, run as a process (test_server.hpp).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "httpbatch.hpp"
#include "check.hpp"
#include "test_server.hpp"

// Handles own their C objects: move-only.
static_assert(!std::is_copy_constructible_v<httpbatch::Executor>);
static_assert(!std::is_copy_constructible_v<httpbatch::Batch>);
static_assert(!std::is_copy_constructible_v<httpbatch::Request>);
static_assert(!std::is_copy_constructible_v<httpbatch::BatchResult>);
static_assert(!std::is_copy_constructible_v<httpbatch::CancelToken>);
static_assert(std::is_move_constructible_v<httpbatch::Executor>);
static_assert(std::is_move_constructible_v<httpbatch::BatchResult>);

int main() {
    TestServer server;

    run("batch_in_order_with_errors", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).timeout_ms(5000).build();
        httpbatch::Batch batch;
        for (int i = 0; i < 20; i++)
            batch.add(httpbatch::Request(server.url("/bytes/" + std::to_string(i))).tag(i));
        batch.add_get(server.url("/status/503"));
        batch.add(httpbatch::Request("POST", server.url("/echo")).header("x-k", "v").body("payload"));
        batch.add(httpbatch::Request(server.url("/delay/1000")).timeout_ms(50));
        CHECK(batch.size() == 23);
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(batch.size() == 0);
        CHECK(res.size() == 23);
        size_t i = 0;
        for (const httpbatch::Item &item : res) {
            if (i < 20) {
                CHECK(item.is_response() && item.status() == 200);
                CHECK(item.body().size() == i && item.tag() == i);
                CHECK(item.header("content-length") == std::to_string(i));
            }
            i++;
        }
        CHECK(res[20].status() == 503);
        CHECK(res[21].body() == "payload");
        CHECK(res[21].header("x-echo-method") == "POST");
        CHECK(res[21].header("x-echo-h-x-k") == "v");
        CHECK(!res[21].header("x-missing").has_value());
        CHECK(res[21].header_count() > 0 && !res[21].header(0).first.empty());
        CHECK(res[22].outcome() == httpbatch::Outcome::Error);
        CHECK(res[22].code() == HTTPBATCH_RESULT_TIMEOUT);
        CHECK(!res[22].error_message().empty());
        auto sum = res.summary();
        CHECK(sum.total == 23 && sum.succeeded == 21 && sum.errors == 1);
        auto st = ex.stats();
        CHECK(st.requests == 23 && st.errors[HTTPBATCH_RESULT_TIMEOUT] == 1);
        auto cs = ex.connection_stats();
        CHECK(cs.opened >= 1 && cs.reused == cs.requests - cs.opened);
    });

    run("cache_answers_the_second_batch_and_bodies_are_gzipped", [&] {
        httpbatch::Executor ex =
            httpbatch::ExecutorBuilder().workers(1).cache_memory(1 << 20).compress_body(1024).build();
        uint64_t before = server.requests();
        for (int round = 0; round < 2; round++) {
            httpbatch::Batch batch;
            batch.add_get(server.url("/cacheable/cpp?cc=max-age%3D60"));
            batch.add_get(server.url("/cacheable/cpp-etag?cc=no-cache&etag=1"));
            batch.add(httpbatch::Request("POST", server.url("/gunzip-echo")).body(std::string(5000, 'z')));
            auto res = ex.execute(batch);
            CHECK(res.summary().succeeded == 3);
            CHECK(res[2].header("x-content-encoding") == "gzip");
            CHECK(res[2].body() == std::string(5000, 'z'));
        }
        auto cs = ex.cache_stats();
        CHECK(cs.hits == 1 && cs.revalidations == 1 && cs.not_modified == 1 && cs.misses == 2);
        CHECK(cs.bypassed == 2); // the POSTs
        CHECK(server.requests() - before == 5);
    });

    run("errors_are_exceptions_with_code_and_message", [&] {
        try {
            httpbatch::Request r("ftp://nope/");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_URL);
            CHECK(std::string(e.what()).find("scheme") != std::string::npos);
        }
        try {
            httpbatch::Request r(server.url("/ok"));
            r.header("x", "a\r\nb: c");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_HEADER);
        }
        try {
            httpbatch::ExecutorBuilder().workers(0);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
            CHECK(std::string(e.what()).find("workers") != std::string::npos);
        }
        {
            // A request that fails validation keeps its slot and ends there as an error; a
            // strict batch throws instead.
            httpbatch::Batch b;
            b.add(httpbatch::Request()).add_get("nope");  // no URL; a malformed one
            CHECK(b.size() == 2);
            httpbatch::BatchResult res = httpbatch::ExecutorBuilder().workers(1).build().execute(b);
            CHECK(res.size() == 2 && res[0].code() == HTTPBATCH_RESULT_INVALID_URL &&
                  res[1].outcome() == httpbatch::Outcome::Error);
            try {
                httpbatch::Batch strict;
                strict.strict(true).add_get("nope");
                CHECK(false);
            } catch (const httpbatch::Error &e) {
                CHECK(e.code() == HTTPBATCH_RESULT_INVALID_URL);
            }
        }
        try {
            std::string bad = "http://127.0.0.1/\xff";
            httpbatch::Batch b;
            b.add_get(bad);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_UTF8);
        }
    });

    run("progress_and_cancel_from_another_thread", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).build();
        httpbatch::CancelToken token;
        httpbatch::Batch batch;
        for (int i = 0; i < 2000; i++) batch.add_get(server.url(i < 4 ? "/delay/10000" : "/delay/1"));
        std::thread::id caller = std::this_thread::get_id();
        int calls = 0;
        bool wrong_thread = false;
        uint64_t last = 0;
        batch.cancel_token(token).on_progress(
            [&](const httpbatch::Progress &p) {
                calls++;
                wrong_thread |= std::this_thread::get_id() != caller;
                last = p.completed;
            },
            5);
        std::thread t([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            token.cancel();
        });
        auto start = std::chrono::steady_clock::now();
        httpbatch::BatchResult res = ex.execute(batch);
        auto took = std::chrono::steady_clock::now() - start;
        t.join();
        CHECK(took < std::chrono::seconds(3));
        CHECK(token.is_cancelled());
        CHECK(calls >= 1 && !wrong_thread && last == 2000);
        auto s = res.summary();
        CHECK(s.cancelled >= 4 && s.cancelled + s.succeeded == 2000);
        CHECK(res[0].outcome() == httpbatch::Outcome::Cancelled);
    });

    run("callback_exceptions_are_rethrown_after_the_run", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(2).build();
        httpbatch::Batch batch;
        for (int i = 0; i < 10; i++) batch.add_get(server.url("/ok"));
        batch.on_progress([](const httpbatch::Progress &) { throw std::runtime_error("from callback"); },
                          0);
        bool caught = false;
        try {
            ex.execute(batch);
        } catch (const std::runtime_error &e) {
            caught = std::string(e.what()) == "from callback";
        }
        CHECK(caught);
        // The executor is still usable.
        batch.on_progress(nullptr);
        batch.add_get(server.url("/ok"));
        CHECK(ex.execute(batch)[0].status() == 200);
    });

    run("deadline_fail_fast_concurrency", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).build();
        httpbatch::Batch batch;
        for (int i = 0; i < 8; i++) batch.add_get(server.url("/delay/3000"));
        batch.deadline_ms(100);
        auto res = ex.execute(batch);
        auto s = res.summary();
        CHECK(s.errors == 4 && s.not_run == 4);
        CHECK(res[7].outcome() == httpbatch::Outcome::NotRun);

        httpbatch::Batch ff;
        ff.add_get(server.url("/status/500"));
        for (int i = 0; i < 20; i++) ff.add_get(server.url("/ok"));
        ff.fail_fast(true, 500).concurrency(1);
        auto r2 = ex.execute(ff);
        CHECK(r2[0].status() == 500 && r2[20].outcome() == httpbatch::Outcome::NotRun);
    });

    run("pause_and_resume_from_another_thread", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).build();
        httpbatch::Control control;
        httpbatch::Batch batch;
        for (int i = 0; i < 80; i++) batch.add_get(server.url("/delay/10"));
        std::atomic<uint64_t> completed{0};
        std::atomic<bool> paused_seen{false};
        batch.control(control).on_progress(
            [&](const httpbatch::Progress &p) {
                completed = p.completed;
                if (p.paused) paused_seen = true;
            },
            1);
        uint64_t during = 1;
        std::thread t([&] {
            while (completed < 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            control.pause();
            CHECK(control.is_paused());
            // Requests in flight at the pause finish within the first window.
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            uint64_t before = completed;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            during = completed - before;
            control.resume();
        });
        auto res = ex.execute(batch);
        t.join();
        CHECK(during == 0 && paused_seen);
        CHECK(res.summary().succeeded == 80);
    });

    run("moves_transfer_ownership", [&] {
        httpbatch::Executor a = httpbatch::ExecutorBuilder().workers(1).build();
        httpbatch::Executor b = std::move(a);
        httpbatch::Batch batch;
        batch.add_get(server.url("/ok"));
        httpbatch::BatchResult r = b.execute(batch);
        httpbatch::BatchResult r2 = std::move(r);
        CHECK(r2.size() == 1 && r2[0].body() == "ok");
        CHECK(httpbatch::version() == std::to_string(HTTPBATCH_VERSION_MAJOR) + "." +
                                          std::to_string(HTTPBATCH_VERSION_MINOR) + "." +
                                          std::to_string(HTTPBATCH_VERSION_PATCH));
        CHECK(server.requests() > 0 && server.accepted() > 0 && server.port() != 0);
    });

    run("stack_pool_limiter_retries", [&] {
        httpbatch::Pool pool = httpbatch::PoolBuilder()
                                   .max_in_flight_per_host(2)
                                   .retry_policy(httpbatch::RetryPolicy().max_attempts(4).backoff(5, 50).jitter(
                                       HTTPBATCH_JITTER_NONE))
                                   .warmup("/ok", 2000)
                                   .build();
        httpbatch::Limiter limiter(1000, 1000, 100);
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(8).pool(pool).limiter(limiter).build();
        httpbatch::Batch batch;
        batch.add_get(server.url("/seq/cpp-retry?s=503,503,200"));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(res[0].status() == 200 && res[0].attempts() == 3);
        CHECK(limiter.stats().admitted == 3);
        CHECK(pool.stats().retries == 2);

        TestServer own;
        for (int i = 0; i < 12; i++) batch.add_get(own.url("/delay/10"));
        auto r2 = ex.execute(batch);
        CHECK(r2.summary().succeeded == 12 && own.max_in_flight() == 2);

        std::vector<std::string> origins;
        auto report = pool.warmup(own.url("/"), 2, &origins);
        CHECK(report.size() == 1 && report[0].ok == 2 && origins[0].rfind("http://127.0.0.1:", 0) == 0);
        CHECK(!pool.host_health(own.url("/")).has_value());
        try {
            httpbatch::Limiter bad(0, 1000, 1);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
        try {
            httpbatch::ExecutorBuilder().timeout_ms(100).pool(pool).build();
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
    });

    run("net_options_tls_errors_and_proxies", [&] {
        try {
            httpbatch::NetOptions().add_root_certificates_pem("not PEM");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
            CHECK(std::string(e.what()).find("PEM") != std::string::npos);
        }
        try {
            httpbatch::NetOptions().min_tls_version(11);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
        // https to the plain test server: a TLS failure, typed.
        httpbatch::NetOptions plain;
        plain.proxy_from_env(false).min_tls_version(HTTPBATCH_TLS_1_3);
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(1).net_options(plain).build();
        httpbatch::Batch batch;
        batch.add_get("https" + server.url("/ok").substr(4));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(res[0].code() == HTTPBATCH_RESULT_TLS);

        // A proxy on a port nobody listens on refuses everything but the no-proxy hosts.
        uint16_t dead = 0;
        {
            TestServer gone;
            dead = gone.port();
            CHECK(gone.stop());
        }
        httpbatch::NetOptions proxied;
        proxied.proxy_from_env(false).proxy("http://127.0.0.1:" + std::to_string(dead));
        httpbatch::Executor via = httpbatch::ExecutorBuilder().workers(1).net_options(proxied).build();
        httpbatch::Batch b1;
        b1.add_get(server.url("/ok"));
        CHECK(via.execute(b1)[0].code() == HTTPBATCH_RESULT_CONNECT_REFUSED);
        proxied.no_proxy("127.0.0.1");
        httpbatch::Pool pool = httpbatch::PoolBuilder().net_options(proxied).build();
        httpbatch::Executor direct = httpbatch::ExecutorBuilder().workers(1).pool(pool).build();
        httpbatch::Batch b2;
        b2.add_get(server.url("/ok"));
        CHECK(direct.execute(b2)[0].status() == 200);
    });

    run("net_options_decoding", [&] {
        // Decoded by default: the body is the text, without Content-Encoding.
        httpbatch::NetOptions plain;
        plain.proxy_from_env(false);
        httpbatch::Executor dec = httpbatch::ExecutorBuilder().workers(1).net_options(plain).build();
        httpbatch::Batch b1;
        b1.add_get(server.url("/encoded/gzip"));
        b1.add_get(server.url("/echo"));
        httpbatch::BatchResult r1 = dec.execute(b1);
        CHECK(r1[0].status() == 200);
        CHECK(r1[0].body().size() == 900);
        CHECK(!r1[0].header("content-encoding").has_value());
        CHECK(r1[1].header("x-echo-h-accept-encoding").value_or("") == "gzip, deflate, br");
        // Raw: the body as sent, and no Accept-Encoding unless set.
        httpbatch::NetOptions raw;
        raw.proxy_from_env(false).decompress(false);
        httpbatch::Executor rex = httpbatch::ExecutorBuilder().workers(1).net_options(raw).build();
        httpbatch::Batch b2;
        b2.add_get(server.url("/encoded/gzip"));
        b2.add_get(server.url("/echo"));
        httpbatch::BatchResult r2 = rex.execute(b2);
        CHECK(r2[0].header("content-encoding").value_or("") == "gzip");
        CHECK(r2[0].body().size() != 900);
        CHECK(!r2[1].header("x-echo-h-accept-encoding").has_value());
        raw.accept_encoding("br");
        httpbatch::Executor br = httpbatch::ExecutorBuilder().workers(1).net_options(raw).build();
        httpbatch::Batch b3;
        b3.add_get(server.url("/echo"));
        CHECK(br.execute(b3)[0].header("x-echo-h-accept-encoding").value_or("") == "br");
        try {
            httpbatch::NetOptions().accept_encoding("gzip\r\nx: 1");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
    });

    CHECK(server.stop());
    std::printf("test_wrapper: %d tests, %d failed checks\n", tests, failures);
    return failures == 0 ? 0 : 1;
}
