// The Redis feature through the C++ wrapper (httpbatch_redis.hpp), against a real redis-server
// (ffi-tests/c/redis_server.h) and the loopback test server: a shared limiter in two
// executors, a list submitted, run by a worker to completion, and a worker stopped from another
// thread. Built by ffi-tests/run.sh against the library built with the `redis` feature.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "httpbatch_redis.hpp"
#include "redis_server.h"
#include "check.hpp"
#include "test_server.hpp"

int main() {
    using namespace std::chrono_literals;
    TestServer server;
    redis_server redis;
    redis_server_start(&redis);
    const std::string url = redis.url;

    run("shared_limiter_in_two_executors", [&] {
        httpbatch::RedisLimiter la(url, "cpp-exec", 20, 1s, 2), lb(url, "cpp-exec", 20, 1s, 2);
        httpbatch::ExecutorBuilder ba, bb;
        httpbatch::Executor a = httpbatch::with_redis_limiter(ba.workers(4), la).build();
        httpbatch::Executor b = httpbatch::with_redis_limiter(bb.workers(4), lb).build();
        auto start = std::chrono::steady_clock::now();
        for (const httpbatch::Executor *e : {&a, &b}) {
            httpbatch::Batch batch;
            for (int i = 0; i < 4; i++) batch.add_get(server.url("/ok"));
            CHECK(e->execute(batch).summary().succeeded == 4);
        }
        // 8 slots, burst 2, 50 ms apart: the 8th is 300 ms after the first (load only delays).
        CHECK(std::chrono::steady_clock::now() - start >= 290ms);
        CHECK(la.stats().limiter.admitted == 4 && lb.stats().limiter.admitted == 4);
        // One per 10 s: after the first, a 10 ms deadline cannot reach the next slot.
        httpbatch::RedisLimiter slow(url, "cpp-slow", 1, 10s, 1);
        slow.acquire();
        try {
            slow.acquire(10ms);
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_DEADLINE_EXCEEDED);
        }
    });

    run("worker_runs_a_list_to_completion", [&] {
        httpbatch::RedisList list(url, "cpp-done");
        std::vector<std::pair<std::string, std::string>> items;
        for (int i = 0; i < 8; i++) items.emplace_back("r" + std::to_string(i), server.url("/ok"));
        items.emplace_back("spec", "{\"url\":\"" + server.url("/status/404") + "\"}");
        CHECK(list.submit(items) == 9);
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(4).build();
        httpbatch::RedisWorker worker(url, "cpp-done", "cpp-worker");
        worker.exit_when_complete().read_batch(4).visibility_timeout(5s).max_deliveries(3);
        auto sum = worker.run(ex);
        CHECK(sum.started == 9 && sum.recorded == 9);
        auto st = list.status();
        CHECK(st.recorded == 9 && st.pending == 0 && st.failed == 1);
        auto o = list.outcome("spec");
        CHECK(o && o->find("\"status\":404") != std::string::npos);
        CHECK(!list.outcome("missing"));
    });

    run("worker_stops_from_another_thread", [&] {
        httpbatch::RedisList list(url, "cpp-stop");
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(2).build();
        httpbatch::RedisWorker worker(url, "cpp-stop", "cpp-stopper");
        httpbatch_redis_worker_summary sum{};
        std::thread t([&] { sum = worker.run(ex); });
        list.submit({{"a", server.url("/ok")}, {"b", server.url("/ok")}});
        auto until = std::chrono::steady_clock::now() + 20s;
        while (list.status().recorded < 2 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(5ms);
        worker.stop();
        t.join();
        CHECK(sum.recorded == 2);
        CHECK(list.status().pending == 0);
    });

    run("errors_are_exceptions", [&] {
        try {
            httpbatch::RedisWorker w(url, "l", "");
            CHECK(false);
        } catch (const httpbatch::Error &e) {
            CHECK(e.code() == HTTPBATCH_RESULT_INVALID_CONFIG);
        }
    });

    redis_server_stop(&redis);
    std::printf("test_redis: %d tests, %d failed\n", tests, failures);
    return failures == 0 ? 0 : 1;
}
