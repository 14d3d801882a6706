// The test server process for the C++ tests: an RAII wrapper over ffi-tests/c/server.h (which
// runs `httpbatch serve`; the server is not part of the library or its C ABI).
#ifndef HTTPBATCH_TEST_SERVER_HPP
#define HTTPBATCH_TEST_SERVER_HPP

#include <cstdint>
#include <string>
#include <string_view>

#include "server.h"

class TestServer {
public:
    TestServer() { test_server_start(&s_); }
    ~TestServer() { test_server_stop(&s_); }
    TestServer(const TestServer &) = delete;
    TestServer &operator=(const TestServer &) = delete;

    // "http://127.0.0.1:PORT" followed by `path` (starting with '/').
    std::string url(std::string_view path) const { return std::string(s_.base).append(path); }
    uint16_t port() const { return static_cast<uint16_t>(s_.port); }
    uint64_t requests() const { return test_server_get_stats(&s_).requests; }
    uint64_t accepted() const { return test_server_get_stats(&s_).accepted; }
    uint64_t max_in_flight() const { return test_server_get_stats(&s_).max_in_flight; }
    // Requests whose path starts with `prefix` (`/__stats?prefix=`).
    uint64_t requests_for(const std::string &prefix) const {
        char json[512];
        std::string path = "/__stats?prefix=" + prefix;
        if (test_server_get(&s_, path.c_str(), json, sizeof json) != 200) return UINT64_MAX;
        return test_server_field_(json, "requests_for");
    }
    bool reset() const { return test_server_reset(&s_) == 0; }
    // Stops the server now; true when it exited cleanly. The destructor stops it otherwise.
    bool stop() { return test_server_stop(&s_) == 0; }

private:
    test_server s_;
};

#endif
