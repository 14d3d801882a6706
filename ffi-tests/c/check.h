/* Tiny self-checking test helpers shared by the C tests (C11, no dependencies). Define
 * _POSIX_C_SOURCE 200809L before including it (the test server helper, server.h, needs POSIX). */
#ifndef HTTPBATCH_TEST_CHECK_H
#define HTTPBATCH_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpbatch.h"
#include "server.h"

static int check_failures = 0;
static int check_tests = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

/* Checks that `expr` returns `want`, printing both codes' descriptions when it does not. */
#define CHECK_RC(expr, want)                                                           \
    do {                                                                               \
        httpbatch_result rc_ = (expr);                                                 \
        if (rc_ != (httpbatch_result)(want)) {                                         \
            fprintf(stderr, "%s:%d: %s returned %u (%s), want %u (%s)\n", __FILE__,    \
                    __LINE__, #expr, (unsigned)rc_, httpbatch_result_str(rc_),          \
                    (unsigned)(want), httpbatch_result_str(want));                     \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, HTTPBATCH_RESULT_OK)

/* Runs one test function and reports it. */
#define RUN(test)                                                                      \
    do {                                                                               \
        int before_ = check_failures;                                                  \
        check_tests++;                                                                 \
        test();                                                                        \
        printf("%s %s\n", check_failures == before_ ? "ok" : "FAILED", #test);        \
    } while (0)

/* Exit status for main: 0 when every check passed. */
static inline int check_exit(const char *program) {
    printf("%s: %d tests, %d failed checks\n", program, check_tests, check_failures);
    return check_failures == 0 ? 0 : 1;
}

/* Writes the test server's URL for `path` into `buf`. */
static inline const char *server_url(const test_server *server, const char *path, char *buf,
                                     size_t len) {
    return test_server_url(server, path, buf, len);
}

/* Reads item `i` of `result`. */
static inline httpbatch_item get_item(const httpbatch_batch_result *result, size_t i) {
    httpbatch_item item;
    memset(&item, 0, sizeof item);
    item.struct_size = sizeof item;
    httpbatch_result rc = httpbatch_batch_result_item(result, i, &item);
    if (rc != HTTPBATCH_RESULT_OK) {
        fprintf(stderr, "httpbatch_batch_result_item(%zu): %s\n", i, httpbatch_result_str(rc));
        exit(2);
    }
    return item;
}

/* Adds a GET of `path` on `server` to `batch`. */
static inline void add_get(httpbatch_batch *batch, const test_server *server, const char *path) {
    char url[256];
    server_url(server, path, url, sizeof url);
    CHECK_OK(httpbatch_batch_add_get(batch, url, strlen(url)));
}

/* Builds an executor with `workers` threads. */
static inline httpbatch_executor *make_executor(size_t workers) {
    httpbatch_executor_builder *b = NULL;
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, workers));
    CHECK_OK(httpbatch_executor_builder_set_timeout_ms(b, 10000));
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL) {
        fprintf(stderr, "could not build an executor\n");
        exit(2);
    }
    return e;
}

#endif
