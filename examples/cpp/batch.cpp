// A complete C++ program using httpbatch through its C++17 wrapper: fetch a few paths of a
// server in parallel under a deadline, stream a larger batch without keeping it, and count with
// <algorithm>. Build it with the CMakeLists.txt beside it (find_package(httpbatch)); run it
// against the CLI's test server:  httpbatch serve --port 8080 & build/batch http://127.0.0.1:8080
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include <httpbatch.hpp>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s BASE_URL   (e.g. http://127.0.0.1:8080)\n", argv[0]);
        return 2;
    }
    const std::string base = argv[1];
    using namespace std::chrono_literals;
    try {
        httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(8).timeout(5s).build();

        // One item per request, in order: responses (any status) and errors alike.
        httpbatch::Batch batch;
        for (const char *path : {"/ok", "/bytes/1024", "/status/404", "/delay/50"}) batch.add_get(base + path);
        batch.add_get("not a url");  // fails validation: an error in its own slot
        batch.deadline(10s);
        httpbatch::BatchResult res = ex.execute(batch);
        for (const httpbatch::Item &it : res) {
            if (it.is_response())
                std::printf("%zu: %u, %zu bytes, %lld us on the wire\n", it.index(), it.status(),
                            it.body().size(), static_cast<long long>(it.wire().count()));
            else
                std::printf("%zu: error: %.*s\n", it.index(), static_cast<int>(it.error_message().size()),
                            it.error_message().data());
        }
        auto ok = std::count_if(res.begin(), res.end(), [](const httpbatch::Item &it) { return it.is_success(); });
        httpbatch::Summary s = res.summary();
        std::printf("%llu requests: %lld succeeded, %llu errors, p50 %lld us\n",
                    static_cast<unsigned long long>(s.total), static_cast<long long>(ok),
                    static_cast<unsigned long long>(s.errors), static_cast<long long>(s.latency.p50.count()));

        // The streaming form: each item as it settles, nothing kept.
        httpbatch::Batch many;
        for (int i = 0; i < 1000; i++) many.add_get(base + "/bytes/64");
        size_t bytes = 0;
        httpbatch::Summary streamed = ex.execute_streaming(many, [&](size_t, const httpbatch::Item &it) {
            bytes += it.body().size();
        });
        std::printf("streamed %llu items, %zu bytes\n", static_cast<unsigned long long>(streamed.total), bytes);
        return ok == 3 && s.errors == 1 && bytes == 64000 ? 0 : 1;
    } catch (const httpbatch::Error &e) {
        std::fprintf(stderr, "httpbatch: %s\n", e.what());
        return 1;
    }
}
