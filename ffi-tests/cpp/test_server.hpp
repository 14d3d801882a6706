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
    // Stops the server now; true when it exited cleanly. The destructor stops it otherwise.
    bool stop() { return test_server_stop(&s_) == 0; }

private:
    test_server s_;
};

#endif
