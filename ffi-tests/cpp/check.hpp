// The checks of the C++ tests: CHECK(cond) counts a failure and goes on; run(name, f) runs one
// test, counts an unexpected exception as a failure and prints "ok NAME" or "FAILED NAME".
// Each test program includes it once and returns `failures ? 1 : 0`.
#pragma once

#include <cstdio>
#include <exception>

static int failures = 0;
static int tests = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

template <class F>
static void run(const char *name, F f) {
    int before = failures;
    tests++;
    try {
        f();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: unexpected exception: %s\n", name, e.what());
        failures++;
    }
    std::printf("%s %s\n", failures == before ? "ok" : "FAILED", name);
}
