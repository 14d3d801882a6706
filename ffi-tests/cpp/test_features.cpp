// The C++ surfaces of in-flight dedup, request coalescing (JSON-RPC and JSON-array codecs,
// per-item errors), adaptive limits and pagination (pages and items as input ranges, limits,
// resume), against the test server process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>
#if __cplusplus >= 202002L
#include <ranges>
#endif

#include "httpbatch.hpp"
#include "check.hpp"
#include "test_server.hpp"

using ItemIt = httpbatch::Paginator::ItemIterator;
static_assert(std::is_same_v<std::iterator_traits<ItemIt>::value_type, std::string_view>);
static_assert(std::is_base_of_v<std::input_iterator_tag, std::iterator_traits<ItemIt>::iterator_category>);
#if __cplusplus >= 202002L
static_assert(std::input_iterator<ItemIt>);
static_assert(std::input_iterator<httpbatch::Paginator::PageIterator>);
#endif

static std::string rpc_call(const char *method, int i) {
    return "{\"jsonrpc\":\"2.0\",\"method\":\"" + std::string(method) + "\",\"params\":[" + std::to_string(i) +
           "],\"id\":" + std::to_string(i) + "}";
}

int main() {
    TestServer server;
    using namespace std::chrono_literals;

    run("dedup_100_identical_requests_reach_the_server_once", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(100).dedup().build();
        CHECK(server.reset());
        httpbatch::Batch batch;
        // Long enough for every worker to join the one request in flight.
        for (int i = 0; i < 100; i++) batch.add_get(server.url("/delay/2000"));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(res.size() == 100);
        CHECK(std::all_of(res.begin(), res.end(), [](const httpbatch::Item &it) {
            return it.status() == 200 && it.body() == "ok";
        }));
        CHECK(server.requests_for("/delay/") == 1);
        httpbatch::DedupStats s = ex.dedup_stats();
        CHECK(s.requests == 100 && s.wire == 1 && s.saved == 99 && s.in_flight == 0);

        // Mixed keys: one wire request per distinct URL.
        CHECK(server.reset());
        for (int i = 0; i < 90; i++) batch.add_get(server.url("/delay/1500?k=" + std::to_string(i % 3)));
        res = ex.execute(batch);
        CHECK(std::count_if(res.begin(), res.end(), [](const auto &it) { return it.is_success(); }) == 90);
        CHECK(server.requests_for("/delay/") == 3);
        CHECK(ex.dedup_stats().wire == 4);
        // Without dedup the stats are all zero.
        httpbatch::Executor plain = httpbatch::ExecutorBuilder().build();
        CHECK(plain.dedup_stats().requests == 0);
    });

    run("jsonrpc_batch_one_http_request_with_per_item_remote_errors", [&] {
        httpbatch::Executor ex =
            httpbatch::ExecutorBuilder().workers(10).coalesce(httpbatch::Codec::JsonRpc, 10, 10s).build();
        CHECK(server.reset());
        httpbatch::Batch batch;
        for (int i = 0; i < 10; i++)
            batch.add(httpbatch::Request("POST", server.url("/jsonrpc")).body(rpc_call(i == 3 ? "fail" : "echo", i)));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(server.requests_for("/jsonrpc") == 1);
        for (const httpbatch::Item &it : res) {
            if (it.index() == 3) {
                CHECK(it.outcome() == httpbatch::Outcome::Error);
                CHECK(it.code() == HTTPBATCH_RESULT_REMOTE);
                CHECK(it.error_message().find("-32000") != std::string_view::npos);
            } else {
                // The server answers a batch in reverse order; each item gets its own reply.
                std::string want = "\"result\":[" + std::to_string(it.index()) + "]";
                CHECK(it.status() == 200 && it.body().find(want) != std::string_view::npos);
            }
        }
        std::optional<httpbatch::CoalesceStats> s = ex.coalesce_stats();
        CHECK(s && s->logical == 10 && s->http_requests == 1 && s->mean_batch_size == 10.0 && s->item_errors == 1);
        CHECK(!httpbatch::ExecutorBuilder().build().coalesce_stats());
    });

    run("json_array_codec_splits_results", [&] {
        httpbatch::Executor ex =
            httpbatch::ExecutorBuilder().workers(5).coalesce(httpbatch::Codec::JsonArray, 5, 10s).build();
        CHECK(server.reset());
        httpbatch::Batch batch;
        for (int i = 0; i < 5; i++)
            batch.add(httpbatch::Request("POST", server.url("/json-array")).body(std::to_string(i * 10)));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(server.requests_for("/json-array") == 1);
        for (const httpbatch::Item &it : res) {
            std::string want = "\"item\":" + std::to_string(it.index() * 10);
            CHECK(it.status() == 200 && it.body().find(want) != std::string_view::npos);
        }
        CHECK(ex.coalesce_stats()->http_requests == 1);
    });

    run("bad_coalesce_options_throw_invalid_config", [&] {
        try {
            httpbatch::ExecutorBuilder().coalesce(httpbatch::Codec::JsonRpc, 0, 1ms);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
    });

    run("adaptive_429_holds_the_host_and_quotas_set_its_rate", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(2).adaptive().build();
        std::string host = server.url("/");
        CHECK(!ex.adaptive_host_stats(host));
        httpbatch::Batch batch;
        batch.add_get(server.url("/seq/cpp-hold?s=429,200&retry_after=2"));
        httpbatch::BatchResult res = ex.execute(batch);
        CHECK(res[0].status() == 429);
        auto read_at = std::chrono::steady_clock::now();
        std::optional<httpbatch::AdaptiveHostStats> s = ex.adaptive_host_stats(host);
        CHECK(s && s->holds == 1 && s->held_for > 0ms && s->held_for <= 2s);
        // The next request to the host waits out the hold before it is sent: the call cannot
        // return before the hold (read after read_at, whole milliseconds rounded down) ends.
        batch.add_get(server.url("/seq/cpp-hold?s=429,200&retry_after=2"));
        res = ex.execute(batch);
        CHECK(res[0].status() == 200 && res[0].waited() > 0ms);
        CHECK(s && std::chrono::steady_clock::now() >= read_at + s->held_for);
        CHECK(ex.adaptive_host_stats(host)->held_for == 0ms);

        // A quota the server advertises becomes the host's rate.
        batch.add_get(server.url("/quota/cpp?limit=20"));
        res = ex.execute(batch);
        s = ex.adaptive_host_stats(host);
        CHECK(res[0].status() == 200 && s && s->effective_rate_per_sec == 20.0 &&
              s->advertised_rate_per_sec == 20.0 && s->quota_answers >= 1);
    });

    run("cursor_walk_items_as_a_range", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(2).build();
        httpbatch::Paginator walk(ex, httpbatch::Request(server.url("/pages/cursor/57?per=10")),
                                  "cursor:/meta/next:after");
        walk.items_at("/data");
        std::vector<std::string> items;
        for (std::string_view item : walk.items()) items.emplace_back(item);
        CHECK(items.size() == 57);
        CHECK(items.front() == "{\"id\":1}" && items.back() == "{\"id\":57}");
        std::string state = walk.state();
        CHECK(state.find("\"done\":true") != std::string::npos && state.find("\"items\":57") != std::string::npos);
        CHECK(!walk.next_item());
    });

    run("page_walk_limits_and_algorithms", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().build();
        httpbatch::Paginator walk(ex, httpbatch::Request(server.url("/pages/numbered/100?per=10")), "page:page");
        walk.items_at("/items").total_at("/total").limits(3, 0);
        size_t pages = 0, items = 0;
        for (const httpbatch::Page &page : walk.pages()) {
            CHECK(page.status == 200 && page.body.find("\"total\":100") != std::string_view::npos);
            CHECK(page.items.size() == 10);
            items += page.items.size();
            pages++;
        }
        CHECK(pages == 3 && items == 30);

        httpbatch::Paginator link(ex, httpbatch::Request(server.url("/pages/link/25?per=10")), "link");
        link.items_at("/items").limits(0, 12);
        auto range = link.items();
        CHECK(std::count_if(range.begin(), range.end(), [](std::string_view) { return true; }) == 12);
        try {
            httpbatch::Paginator bad(ex, httpbatch::Request(server.url("/pages/link/25")), "sideways");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
    });

    run("a_failed_page_throws_and_the_walk_resumes_from_its_state", [&] {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().build();
        const std::string path = "/pages/link/30?per=10&fail=cpp&fail_page=2";
        httpbatch::Paginator walk(ex, httpbatch::Request(server.url(path)), "link");
        walk.items_at("/items");
        std::vector<std::string> seen;
        bool failed = false;
        try {
            for (std::string_view item : walk.items()) seen.emplace_back(item);
        } catch (const httpbatch::PageError &e) {
            failed = true;
            CHECK(e.status() == 500 && e.body().find("scripted failure") != std::string::npos);
        }
        CHECK(failed && seen.size() == 10);
        std::string state = walk.state();
        httpbatch::Paginator again(ex, httpbatch::Request(server.url(path)), "link");
        again.items_at("/items").resume(state);
        for (std::string_view item : again.items()) seen.emplace_back(item);
        CHECK(seen.size() == 30 && seen[10] == "{\"id\":11}" && seen[29] == "{\"id\":30}");
        // Options are for before the first page.
        try {
            again.limits(1, 1);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_ARGUMENT);
        }
    });

    if (failures) std::fprintf(stderr, "test_features: %d failed checks\n", failures);
    return failures ? 1 : 0;
}
