/* Every kind of bad input is a code (and a message on the object), never a crash: NULL handles
 * and out-pointers, invalid UTF-8, CR/LF in headers, wrong struct_size, tiny buffers, bad
 * configuration, and the empty batch (which is valid). */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>

#include "check.h"

static test_server server;

#define NUL_ARG HTTPBATCH_RESULT_NULL_ARGUMENT

static void null_handles_and_out_pointers(void) {
    CHECK_RC(httpbatch_request_new(NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_new(NULL), NUL_ARG);
    CHECK_RC(httpbatch_cancel_token_new(NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_builder_new(NULL), NUL_ARG);

    CHECK_RC(httpbatch_request_set_url(NULL, "http://a/", 9), NUL_ARG);
    CHECK_RC(httpbatch_request_set_method(NULL, "GET", 3), NUL_ARG);
    CHECK_RC(httpbatch_request_add_header(NULL, "a", 1, "b", 1), NUL_ARG);
    CHECK_RC(httpbatch_request_set_body(NULL, NULL, 0), NUL_ARG);
    CHECK_RC(httpbatch_request_set_tag(NULL, 1), NUL_ARG);
    CHECK_RC(httpbatch_batch_add(NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_add_get(NULL, "http://a/", 9), NUL_ARG);
    CHECK_RC(httpbatch_batch_set_fail_fast(NULL, true), NUL_ARG);
    CHECK_RC(httpbatch_batch_set_cancel_token(NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_cancel_token_cancel(NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_builder_set_workers(NULL, 4), NUL_ARG);
    CHECK_RC(httpbatch_executor_builder_build(NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_execute(NULL, NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_stats_get(NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_result_len(NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_result_item(NULL, 0, NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_last_error(NULL, NULL, 0, NULL), NUL_ARG);

    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    /* A NULL text pointer with a non-zero length. */
    CHECK_RC(httpbatch_request_set_url(req, NULL, 5), NUL_ARG);
    CHECK_RC(httpbatch_request_set_body(req, NULL, 5), NUL_ARG);
    /* NULL with length 0 is an empty input: an empty URL is invalid, an empty body is fine. */
    CHECK_RC(httpbatch_request_set_url(req, NULL, 0), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_OK(httpbatch_request_set_body(req, NULL, 0));

    httpbatch_executor *exec = make_executor(1);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    CHECK_RC(httpbatch_executor_execute(exec, batch, NULL), NUL_ARG);
    CHECK_RC(httpbatch_executor_execute(exec, NULL, NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_len(batch, NULL), NUL_ARG);
    CHECK_RC(httpbatch_batch_add(batch, NULL), NUL_ARG);
    /* The executor remembers why its call failed. */
    char msg[128];
    size_t len = 0;
    httpbatch_batch_result *res = NULL;
    CHECK_RC(httpbatch_executor_execute(exec, NULL, &res), NUL_ARG);
    CHECK(res == NULL);
    CHECK_OK(httpbatch_executor_last_error(exec, msg, sizeof msg, &len));
    CHECK(strstr(msg, "batch") != NULL && strlen(msg) == len);

    /* Builders: a NULL out-pointer still consumes the builder (no leak, nothing to free). */
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_RC(httpbatch_executor_builder_build(b, NULL), NUL_ARG);

    /* Every _free accepts NULL. */
    httpbatch_request_free(NULL);
    httpbatch_batch_free(NULL);
    httpbatch_batch_result_free(NULL);
    httpbatch_cancel_token_free(NULL);
    httpbatch_executor_builder_free(NULL);
    httpbatch_executor_free(NULL);

    httpbatch_request_free(req);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void invalid_utf8_and_bad_text(void) {
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    const char bad_url[] = "http://127.0.0.1/\xff\xfe";
    CHECK_RC(httpbatch_request_set_url(req, bad_url, sizeof bad_url - 1),
             HTTPBATCH_RESULT_INVALID_UTF8);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_request_last_error(req, msg, sizeof msg, &len));
    CHECK(strstr(msg, "UTF-8") != NULL);
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "\xc3\x28", 2),
             HTTPBATCH_RESULT_INVALID_UTF8);
    CHECK_RC(httpbatch_request_set_method(req, "G\xffT", 3), HTTPBATCH_RESULT_INVALID_UTF8);
    CHECK_RC(httpbatch_request_set_method(req, "FETCH", 5), HTTPBATCH_RESULT_INVALID_REQUEST);
    CHECK_RC(httpbatch_request_set_url(req, "ftp://127.0.0.1/", 16), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_RC(httpbatch_request_set_url(req, "127.0.0.1/x", 11), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_OK(httpbatch_request_last_error(req, msg, sizeof msg, &len));
    CHECK(strstr(msg, "scheme") != NULL);
    /* Lengths are honoured: text after `len` is not read, so an embedded NUL is not needed. */
    CHECK_OK(httpbatch_request_set_url(req, "http://127.0.0.1/okJUNK", 20));

    /* Bodies are bytes: invalid UTF-8 is fine there. */
    CHECK_OK(httpbatch_request_set_body(req, (const uint8_t *)"\xff\x00\xfe", 3));

    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    CHECK_RC(httpbatch_batch_add_get(batch, bad_url, sizeof bad_url - 1),
             HTTPBATCH_RESULT_INVALID_UTF8);
    /* A strict batch refuses an invalid URL and adds nothing (the 0.1 behaviour). */
    CHECK_OK(httpbatch_batch_set_strict(batch, true));
    CHECK_RC(httpbatch_batch_add_get(batch, "nope", 4), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_OK(httpbatch_batch_last_error(batch, msg, sizeof msg, &len));
    /* The code says the kind; the message says what is wrong with which input, once. */
    CHECK(strstr(msg, "scheme") != NULL && strstr(msg, "\"nope\"") != NULL);
    CHECK(strstr(msg, "invalid_url") == NULL);
    size_t n = 99;
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 0);

    httpbatch_batch_free(batch);
    httpbatch_request_free(req);
}

static void crlf_in_headers_is_rejected(void) {
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "v\r\nInjected: 1", 14),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "v\nx", 3),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "v\rx", 3),
             HTTPBATCH_RESULT_INVALID_HEADER);
    /* A NUL inside the value (given by length). */
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "a\0b", 3),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_RC(httpbatch_request_add_header(req, "bad name", 8, "v", 1),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_RC(httpbatch_request_add_header(req, "x\r\ny", 4, "v", 1),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_RC(httpbatch_request_add_header(req, "", 0, "v", 1), HTTPBATCH_RESULT_INVALID_HEADER);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_request_last_error(req, msg, sizeof msg, &len));
    CHECK(strstr(msg, "header") != NULL);

    /* A request with a refused header never goes on the wire without it: added to a batch, it
     * ends as an error in its own slot. A fresh request goes with only its good header. */
    char url[256];
    server_url(&server, "/echo", url, sizeof url);
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    CHECK_OK(httpbatch_request_add_header(req, "x-good", 6, "yes", 3));
    httpbatch_executor *exec = make_executor(1);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    CHECK_OK(httpbatch_batch_add(batch, req));
    httpbatch_request *fresh = NULL;
    CHECK_OK(httpbatch_request_new(&fresh));
    CHECK_OK(httpbatch_request_set_url(fresh, url, strlen(url)));
    CHECK_OK(httpbatch_request_add_header(fresh, "x-good", 6, "yes", 3));
    CHECK_OK(httpbatch_batch_add(batch, fresh));
    httpbatch_request_free(fresh);
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item first = get_item(res, 0);
    CHECK(first.outcome == HTTPBATCH_OUTCOME_ERROR && first.code == HTTPBATCH_RESULT_INVALID_HEADER);
    const char *v = NULL;
    size_t vl = 0;
    CHECK_OK(httpbatch_batch_result_find_header(res, 1, "x-echo-h-x-good", 15, &v, &vl));
    CHECK_RC(httpbatch_batch_result_find_header(res, 1, "x-echo-h-x-a", 12, &v, &vl),
             HTTPBATCH_RESULT_NOT_FOUND);
    CHECK_RC(httpbatch_batch_result_find_header(res, 1, "injected", 8, &v, &vl),
             HTTPBATCH_RESULT_NOT_FOUND);
    /* The user agent is a header too. */
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_RC(httpbatch_executor_builder_set_user_agent(b, "ua\r\nx: y", 8),
             HTTPBATCH_RESULT_INVALID_HEADER);
    httpbatch_executor_builder_free(b);

    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    httpbatch_request_free(req);
}

static void wrong_struct_size(void) {
    httpbatch_executor *exec = make_executor(1);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/ok");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));

    httpbatch_item item;
    /* Known: sizeof item, and the size before `headers_len` was added (older callers). */
    size_t bad_sizes[] = {0,
                          1,
                          sizeof(size_t),
                          offsetof(httpbatch_item, headers_len) - 8,
                          sizeof item - 4,
                          sizeof item + 8,
                          (size_t)-1};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        memset(&item, 0xAB, sizeof item);
        item.struct_size = bad_sizes[i];
        CHECK_RC(httpbatch_batch_result_item(res, 0, &item), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
        /* Nothing written. */
        CHECK(item.struct_size == bad_sizes[i] && item.tag == 0xABABABABABABABABull);
    }
    httpbatch_executor_stats st;
    memset(&st, 0, sizeof st);
    CHECK_RC(httpbatch_executor_stats_get(exec, &st), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    st.struct_size = sizeof st + 1;
    CHECK_RC(httpbatch_executor_stats_get(exec, &st), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_executor_last_error(exec, msg, sizeof msg, &len));
    CHECK(strstr(msg, "struct_size") != NULL);
    httpbatch_connection_stats cs;
    cs.struct_size = sizeof(httpbatch_executor_stats);
    CHECK_RC(httpbatch_executor_connection_stats(exec, &cs), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    httpbatch_batch_summary sum;
    sum.struct_size = 3;
    CHECK_RC(httpbatch_batch_result_summary(res, &sum), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);

    /* Index out of range. */
    item.struct_size = sizeof item;
    CHECK_RC(httpbatch_batch_result_item(res, 1, &item), HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    CHECK_RC(httpbatch_batch_result_item(res, (size_t)-1, &item),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);

    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void small_buffers_and_length_queries(void) {
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_RC(httpbatch_request_set_url(req, "nope", 4), HTTPBATCH_RESULT_INVALID_URL);
    size_t need = 0;
    CHECK_RC(httpbatch_request_last_error(req, NULL, 0, &need), HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK(need > 10);
    char small[8];
    size_t len = 0;
    memset(small, 'Z', sizeof small);
    CHECK_RC(httpbatch_request_last_error(req, small, sizeof small, &len),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK(len == need && small[7] == '\0' && strlen(small) == 7);
    char *full = malloc(need + 1);
    CHECK_OK(httpbatch_request_last_error(req, full, need + 1, &len));
    CHECK(strlen(full) == need);
    free(full);
    CHECK_RC(httpbatch_request_last_error(req, NULL, 4, &len), NUL_ARG);
    /* len_out may be NULL. */
    char big[512];
    CHECK_OK(httpbatch_request_last_error(req, big, sizeof big, NULL));

    httpbatch_request_free(req);
}

static void bad_configuration(void) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_RC(httpbatch_executor_builder_set_workers(b, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_executor_builder_set_workers(b, 100000), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_executor_builder_set_timeout_ms(b, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_executor_builder_set_connect_timeout_ms(b, 0),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_executor_builder_set_max_idle_per_origin(b, 0),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_executor_builder_last_error(b, msg, sizeof msg, &len));
    CHECK(strstr(msg, "idle") != NULL);
    /* Rejected settings left the defaults: the build works. */
    httpbatch_executor *exec = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &exec));
    CHECK(exec != NULL);
    httpbatch_executor_free(exec);
}

static void empty_batch_is_valid(void) {
    httpbatch_executor *exec = make_executor(2);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(res != NULL);
    size_t n = 99;
    CHECK_OK(httpbatch_batch_result_len(res, &n));
    CHECK(n == 0);
    httpbatch_item item;
    item.struct_size = sizeof item;
    CHECK_RC(httpbatch_batch_result_item(res, 0, &item), HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    httpbatch_batch_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_batch_result_summary(res, &s));
    CHECK(s.total == 0 && s.throughput >= 0.0);
    httpbatch_batch_result_free(res);
    /* Clearing works too. */
    add_get(batch, &server, "/ok");
    CHECK_OK(httpbatch_batch_clear(batch));
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 0);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

int main(void) {
    test_server_start(&server);
    RUN(null_handles_and_out_pointers);
    RUN(invalid_utf8_and_bad_text);
    RUN(crlf_in_headers_is_rejected);
    RUN(wrong_struct_size);
    RUN(small_buffers_and_length_queries);
    RUN(bad_configuration);
    RUN(empty_batch_is_valid);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_bad_inputs");
}
