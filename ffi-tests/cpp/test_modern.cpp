// The standard-C++ side of the wrapper: iterator traits and <algorithm> (and C++20 ranges when
// built as C++20), std::chrono durations, summaries and statistics as C++ structs, per-item
// events, the streaming form, try_execute and the pool's health callback.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>
#if __cplusplus >= 202002L
#include <ranges>
#endif

#include "httpbatch.hpp"
#include "check.hpp"
#include "test_server.hpp"

using It = httpbatch::BatchResult::iterator;
using Traits = std::iterator_traits<It>;
static_assert(std::is_same_v<Traits::value_type, httpbatch::Item>);
static_assert(std::is_same_v<Traits::difference_type, std::ptrdiff_t>);
static_assert(std::is_base_of_v<std::input_iterator_tag, Traits::iterator_category>);
static_assert(std::is_default_constructible_v<It> && std::is_copy_assignable_v<It>);
#if __cplusplus >= 202002L
static_assert(std::random_access_iterator<It>);
static_assert(std::ranges::random_access_range<const httpbatch::BatchResult &>);
#endif
static_assert(std::is_same_v<decltype(std::declval<httpbatch::Item>().wire()), std::chrono::microseconds>);
static_assert(std::is_same_v<decltype(std::declval<httpbatch::BatchResult>().summary()), httpbatch::Summary>);

int main() {
    TestServer server;
    using namespace std::chrono_literals;

    run("iterators_algorithms_and_chrono", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).timeout(5s).connect_timeout(2s).build();
        httpbatch::Batch batch;
        for (int i = 0; i < 10; i++) batch.add_get(server.url(i % 3 == 0 ? "/status/404" : "/bytes/8"));
        batch.add(httpbatch::Request(server.url("/delay/2000")).timeout(50ms));
        batch.deadline(10s).request_timeout(std::chrono::seconds(3));
        httpbatch::BatchResult res = ex.execute(batch);
        auto ok = std::count_if(res.begin(), res.end(), [](const httpbatch::Item &it) { return it.is_success(); });
        CHECK(ok == 6);
        auto first_404 = std::find_if(res.begin(), res.end(), [](const auto &it) { return it.status() == 404; });
        CHECK(first_404 == res.begin() && first_404->status() == 404);
        CHECK(std::distance(res.begin(), res.end()) == 11);
        It it = res.begin();
        It old = it++;
        CHECK(old == res.begin() && it != old && (*it).status() == 200 && it - old == 1);
        CHECK(res.begin() + 11 == res.end() && res.end()[-1].code() == HTTPBATCH_RESULT_TIMEOUT);
        CHECK(--res.end() > res.begin());
        std::vector<uint32_t> statuses;
        std::transform(res.begin(), res.end(), std::back_inserter(statuses), [](const auto &i) { return i.status(); });
        CHECK(statuses.size() == 11 && statuses[1] == 200 && statuses[10] == 0);
#if __cplusplus >= 202002L
        auto bodies = res | std::views::filter([](const auto &i) { return i.is_success(); }) |
                      std::views::transform([](const auto &i) { return i.body().size(); });
        size_t bytes = 0;
        for (size_t n : bodies) bytes += n;
        CHECK(bytes == 6 * 8);
#endif
        // Times are chrono durations.
        const httpbatch::Item fast = res[1];
        CHECK(fast.total() > 0us && fast.total() < 3s && fast.wire() > 0us && fast.wire() <= fast.total());
        CHECK(fast.queued() >= 0us && fast.waited() >= 0us && fast.queued() <= fast.total());
        // The summary is a C++ struct with chrono fields.
        httpbatch::Summary s = res.summary();
        CHECK(s.total == 11 && s.succeeded == 6 && s.status_classes[3] == 4 && s.errors == 1);
        CHECK(s.failed() == 5 && s.duration >= 50ms && s.latency.count == 11 && s.latency.max >= s.latency.p50);
        httpbatch::ExecutorStats st = ex.stats();
        CHECK(st.requests == 11 && st.errors[HTTPBATCH_RESULT_TIMEOUT] == 1 && st.elapsed > 0us);
        httpbatch::ConnectionStats cs = ex.connection_stats();
        CHECK(cs.opened >= 1 && cs.requests >= 11);
    });

    run("events_on_the_calling_thread", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(2).build();
        httpbatch::Batch batch;
        batch.add_get(server.url("/ok")).add_get(server.url("/status/500")).add_get("nope");
        std::vector<httpbatch_event_kind> kinds;
        std::vector<uint32_t> settled(3, 999);
        bool wrong_thread = false;
        auto me = std::this_thread::get_id();
        batch.on_event([&](const httpbatch::Event &e) {
            wrong_thread |= std::this_thread::get_id() != me;
            kinds.push_back(e.kind());
            if (e.item()) settled.at(e.index()) = e.item()->status();
        });
        auto res = ex.execute(batch);
        CHECK(!wrong_thread && !kinds.empty() && kinds.back() == HTTPBATCH_EVENT_KIND_DRAINED);
        CHECK(std::count(kinds.begin(), kinds.end(), HTTPBATCH_EVENT_KIND_STARTED) == 2);
        CHECK(std::count(kinds.begin(), kinds.end(), HTTPBATCH_EVENT_KIND_COMPLETED) == 1);
        CHECK(std::count(kinds.begin(), kinds.end(), HTTPBATCH_EVENT_KIND_FAILED) == 2);
        CHECK(settled[0] == 200 && settled[1] == 500 && settled[2] == 0);
        // An exception from the callback comes back after the run.
        batch.add_get(server.url("/ok"));
        batch.on_event([](const httpbatch::Event &) { throw std::runtime_error("event"); });
        bool caught = false;
        try {
            ex.execute(batch);
        } catch (const std::runtime_error &e) {
            caught = std::string(e.what()) == "event";
        }
        CHECK(caught);
    });

    run("streaming_keeps_nothing", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(8).build();
        httpbatch::Batch batch;
        const size_t n = 400;
        for (size_t i = 0; i < n; i++) batch.add_get(server.url("/bytes/16"));
        std::vector<int> seen(n, 0);
        size_t bytes = 0, with_length = 0;
        httpbatch::Summary s = ex.execute_streaming(batch, [&](size_t index, const httpbatch::Item &it) {
            seen.at(index)++;
            bytes += it.body().size();
            if (it.header("Content-Length") == std::optional<std::string_view>("16")) with_length++;
            if (it.header_count() > 0 && !it.header(0).first.empty()) return;
        });
        CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
        CHECK(bytes == 16 * n && with_length == n && s.total == n && s.succeeded == n);
        CHECK(batch.size() == 0);
    });

    run("try_execute_now_or_the_wait", [&] {
        httpbatch::Limiter limiter(1.0, std::chrono::minutes(1), 1);
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(1).limiter(limiter).build();
        httpbatch::Request req(server.url("/bytes/3"));
        httpbatch::TryResult first = ex.try_execute(req);
        CHECK(first.ran() && (*first.result)[0].body().size() == 3 && first.wait == 0us);
        httpbatch::TryResult second = ex.try_execute(req);
        CHECK(!second.ran() && second.wait > 59s && second.wait <= 60s);
        httpbatch::Executor plain = httpbatch::ExecutorBuilder().workers(1).build();
        try {
            plain.try_execute(req);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_NOT_FOUND);
        }
    });

    run("health_changes_reach_the_callback", [&] {
        std::string bad;
        {
            TestServer gone;
            bad = gone.url("/");
        }
        std::mutex mu;
        std::condition_variable cv;
        std::vector<std::string> origins;
        bool unhealthy = false;
        httpbatch::Pool pool =
            httpbatch::PoolBuilder()
                .health_check(200, 2, 1)
                .on_health_change([&](std::string_view origin, httpbatch_health_state old_state,
                                      httpbatch_health_state new_state) {
                    std::lock_guard<std::mutex> g(mu);
                    origins.emplace_back(origin);
                    unhealthy |= old_state == HTTPBATCH_HEALTH_STATE_HEALTHY &&
                                 new_state == HTTPBATCH_HEALTH_STATE_UNHEALTHY;
                    cv.notify_all();
                })
                .build();
        // An executor keeps the callback alive with the pool.
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(1).pool(pool).build();
        pool.enable_health_check(bad, 20ms, "/ok");
        std::unique_lock<std::mutex> lock(mu);
        CHECK(cv.wait_for(lock, 10s, [&] { return unhealthy; }));
        CHECK(!origins.empty() && origins[0] + "/" == bad);
        lock.unlock();
        pool.disable_health_check();
    });

    CHECK(server.stop());
    std::printf("test_modern: %d tests, %d failed checks\n", tests, failures);
    return failures == 0 ? 0 : 1;
}
