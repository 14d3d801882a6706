/* Client: httpbatch through its C ABI (a C program statically linked with libhttpbatch.a).
 * Same command line and JSON line as every client of the harness (see benches/compare/README.md):
 *   client-c N C RATE BURST URL [URL...]      (RATE 0: unlimited; request i goes to URL[i % len])
 * An executor with C workers (and httpbatch's limiter when RATE > 0), one batch of N GETs, then
 * every item's outcome, status and body length read. Timed from before the executor is built. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpbatch.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MUST(call)                                                                  \
    do {                                                                            \
        httpbatch_result rc_ = (call);                                              \
        if (rc_ != HTTPBATCH_RESULT_OK) {                                           \
            fprintf(stderr, "%s: %s\n", #call, httpbatch_result_str(rc_));          \
            exit(2);                                                                \
        }                                                                           \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: client-c N C RATE BURST URL [URL...]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    size_t c = strtoull(argv[2], NULL, 10);
    double rate = strtod(argv[3], NULL);
    unsigned burst = (unsigned)strtoul(argv[4], NULL, 10);
    char **urls = argv + 5;
    size_t nurls = (size_t)(argc - 5);
    size_t *lens = malloc(nurls * sizeof *lens);
    for (size_t u = 0; u < nurls; u++)
        lens[u] = strlen(urls[u]);

    double t0 = now();
    httpbatch_executor_builder *b = NULL;
    httpbatch_executor *exec = NULL;
    httpbatch_limiter *lim = NULL;
    MUST(httpbatch_executor_builder_new(&b));
    MUST(httpbatch_executor_builder_set_workers(b, c));
    if (rate > 0) {
        MUST(httpbatch_limiter_new(rate, 1000, burst, &lim));
        MUST(httpbatch_executor_builder_set_limiter(b, lim));
    }
    MUST(httpbatch_executor_builder_build(b, &exec));
    httpbatch_batch *batch = NULL;
    MUST(httpbatch_batch_new(&batch));
    for (size_t i = 0; i < n; i++)
        MUST(httpbatch_batch_add_get(batch, urls[i % nurls], lens[i % nurls]));
    httpbatch_batch_result *res = NULL;
    MUST(httpbatch_executor_execute(exec, batch, &res));
    size_t ok = 0, errors = 0;
    unsigned long long bytes = 0;
    char first_error[256] = "";
    for (size_t i = 0; i < n; i++) {
        httpbatch_item item;
        item.struct_size = sizeof item;
        MUST(httpbatch_batch_result_item(res, i, &item));
        if (item.outcome == HTTPBATCH_OUTCOME_RESPONSE && item.status == 200) {
            ok++;
            bytes += item.body_len;
        } else {
            if (errors++ == 0)
                snprintf(first_error, sizeof first_error, "status %u: %s", (unsigned)item.status,
                         item.error_message ? item.error_message : "");
        }
    }
    httpbatch_batch_result_free(res);
    double wall = now() - t0;
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    httpbatch_limiter_free(lim);
    /* first_error is printed as a JSON string: keep it to characters that need no escaping. */
    for (char *p = first_error; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
    printf("{\"client\":\"c\",\"n\":%zu,\"ok\":%zu,\"bytes\":%llu,\"wall_s\":%.6f,\"errors\":%zu,"
           "\"first_error\":\"%s\"}\n",
           n, ok, bytes, wall, errors, first_error);
    free(lens);
    return ok == n ? 0 : 1;
}
