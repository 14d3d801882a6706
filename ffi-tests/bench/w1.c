/* W1 through the C ABI: 20,000 GETs of 64 bytes (/bytes/64) at concurrency 32 against the
 * loopback server at $HTTPBATCH_W1_URL (a base URL: w1.sh runs `httpbatch serve`). Each timed
 * batch builds the requests, runs the batch and reads every item's status and body length, as
 * benches/ffi_w1.rs does through the Rust API.
 * Usage: w1 [BATCHES]   (default 5, after one untimed warmup batch); prints `w1 c WALL CPU` seconds. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "httpbatch.h"

#define REQUESTS 20000
#define CONCURRENCY 32

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

#define MUST(call)                                                                  \
    do {                                                                            \
        httpbatch_result rc_ = (call);                                              \
        if (rc_ != HTTPBATCH_RESULT_OK) {                                           \
            fprintf(stderr, "%s: %s\n", #call, httpbatch_result_str(rc_));          \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

int main(int argc, char **argv) {
    int batches = argc > 1 ? atoi(argv[1]) : 5;
    const char *base = getenv("HTTPBATCH_W1_URL");
    char url[128];
    if (base == NULL || snprintf(url, sizeof url, "%s/bytes/64", base) >= (int)sizeof url) {
        fprintf(stderr, "set HTTPBATCH_W1_URL to the test server's base URL\n");
        return 2;
    }
    size_t url_len = strlen(url);
    httpbatch_executor_builder *b = NULL;
    httpbatch_executor *exec = NULL;
    MUST(httpbatch_executor_builder_new(&b));
    MUST(httpbatch_executor_builder_set_workers(b, CONCURRENCY));
    MUST(httpbatch_executor_builder_build(b, &exec));
    httpbatch_batch *batch = NULL;
    MUST(httpbatch_batch_new(&batch));

    for (int round = 0; round <= batches; round++) {
        double t = now();
        double c = cpu();
        for (int i = 0; i < REQUESTS; i++)
            MUST(httpbatch_batch_add_get(batch, url, url_len));
        double built = now();
        httpbatch_batch_result *res = NULL;
        MUST(httpbatch_executor_execute(exec, batch, &res));
        double executed = now();
        size_t bytes = 0;
        for (size_t i = 0; i < REQUESTS; i++) {
            httpbatch_item item;
            item.struct_size = sizeof item;
            MUST(httpbatch_batch_result_item(res, i, &item));
            if (item.outcome != HTTPBATCH_OUTCOME_RESPONSE || item.status != 200) {
                fprintf(stderr, "item %zu: %s\n", i, item.error_message);
                return 1;
            }
            bytes += item.body_len;
        }
        httpbatch_batch_result_free(res);
        double secs = now() - t;
        double cpu_secs = cpu() - c;
        if (bytes != (size_t)REQUESTS * 64) {
            fprintf(stderr, "got %zu bytes\n", bytes);
            return 1;
        }
        if (round > 0) {
            printf("w1 c %.6f %.6f\n", secs, cpu_secs);
            fprintf(stderr, "phases c build %.2f ms, execute %.2f ms, read %.2f ms\n",
                    (built - t) * 1e3, (executed - built) * 1e3, (t + secs - executed) * 1e3);
        }
    }
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    return 0;
}
