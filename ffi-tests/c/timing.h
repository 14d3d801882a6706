/* Monotonic milliseconds and a sleep, for the C tests that time things. Include it first thing
 * after defining _POSIX_C_SOURCE (clock_gettime and nanosleep are POSIX, not C11). */
#ifndef HTTPBATCH_TEST_TIMING_H
#define HTTPBATCH_TEST_TIMING_H

#include <time.h>

static inline double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
