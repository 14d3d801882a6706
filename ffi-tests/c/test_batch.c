/* A batch through the C ABI against the loopback server: ordered results, per-item errors,
 * request options (method, headers, body, tag, timeout), headers, summary and statistics. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

static test_server server;
static char refused_url[64];

static bool header_is(const httpbatch_batch_result *res, size_t i, const char *name,
                      const char *want) {
    const char *v = NULL;
    size_t n = 0;
    if (httpbatch_batch_result_find_header(res, i, name, strlen(name), &v, &n) !=
        HTTPBATCH_RESULT_OK)
        return false;
    return n == strlen(want) && memcmp(v, want, n) == 0;
}

static void ordered_results_with_per_item_errors(void) {
    httpbatch_executor *exec = make_executor(8);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));

    /* 0..99: a mix of statuses, each tagged with its index; slow ones first so completion
     * order differs from input order. */
    for (int i = 0; i < 100; i++) {
        char path[64];
        if (i % 10 == 0)
            snprintf(path, sizeof path, "/delay/%d", 30 - i / 10);
        else if (i % 10 == 7)
            snprintf(path, sizeof path, "/status/%d", 500 + i % 4);
        else
            snprintf(path, sizeof path, "/bytes/%d", i);
        char url[256];
        server_url(&server, path, url, sizeof url);
        httpbatch_request *req = NULL;
        CHECK_OK(httpbatch_request_new(&req));
        CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
        CHECK_OK(httpbatch_request_set_tag(req, (uint64_t)i));
        CHECK_OK(httpbatch_batch_add(batch, req));
        httpbatch_request_free(req);
    }
    /* 100: connection refused. 101: body over the limit is not set here, so a reset instead. */
    CHECK_OK(httpbatch_batch_add_get(batch, refused_url, strlen(refused_url)));
    add_get(batch, &server, "/reset");
    /* 102: a per-request timeout. */
    {
        char url[256];
        server_url(&server, "/delay/2000", url, sizeof url);
        httpbatch_request *req = NULL;
        CHECK_OK(httpbatch_request_new(&req));
        CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
        CHECK_OK(httpbatch_request_set_timeout_ms(req, 100));
        CHECK_OK(httpbatch_batch_add(batch, req));
        httpbatch_request_free(req);
    }

    size_t n = 0;
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 103);

    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(res != NULL);
    CHECK_OK(httpbatch_batch_result_len(res, &n));
    CHECK(n == 103);
    for (size_t i = 0; i < 100; i++) {
        httpbatch_item it = get_item(res, i);
        CHECK(it.outcome == HTTPBATCH_OUTCOME_RESPONSE);
        CHECK(it.code == HTTPBATCH_RESULT_OK);
        CHECK(it.tag == i);
        CHECK(it.attempts == 1);
        CHECK(it.error_message != NULL && it.error_message[0] == '\0');
        CHECK(it.url_len > 0 && memcmp(it.url, "http://127.0.0.1:", 17) == 0);
        CHECK(it.total_us >= it.wire_us);
        if (i % 10 == 0) {
            CHECK(it.status == 200 && it.body_len == 2 && memcmp(it.body, "ok", 2) == 0);
        } else if (i % 10 == 7) {
            CHECK(it.status == 500 + i % 4);
        } else {
            CHECK(it.status == 200);
            CHECK(it.body_len == i);
            char want[16];
            snprintf(want, sizeof want, "%zu", i);
            CHECK(header_is(res, i, "content-length", want));
        }
    }
    httpbatch_item refused = get_item(res, 100);
    CHECK(refused.outcome == HTTPBATCH_OUTCOME_ERROR);
    CHECK(refused.code == HTTPBATCH_RESULT_CONNECT_REFUSED);
    CHECK(refused.status == 0 && refused.body_len == 0 && refused.header_count == 0);
    CHECK(strlen(refused.error_message) == refused.error_message_len);
    CHECK(strstr(refused.error_message, "refused") != NULL);
    httpbatch_item reset = get_item(res, 101);
    CHECK(reset.outcome == HTTPBATCH_OUTCOME_ERROR);
    CHECK(reset.code == HTTPBATCH_RESULT_CONNECTION_RESET || reset.code == HTTPBATCH_RESULT_PROTOCOL ||
          reset.code == HTTPBATCH_RESULT_IO);
    httpbatch_item slow = get_item(res, 102);
    CHECK(slow.outcome == HTTPBATCH_OUTCOME_ERROR && slow.code == HTTPBATCH_RESULT_TIMEOUT);

    httpbatch_batch_summary sum;
    memset(&sum, 0, sizeof sum);
    sum.struct_size = sizeof sum;
    CHECK_OK(httpbatch_batch_result_summary(res, &sum));
    CHECK(sum.total == 103);
    CHECK(sum.responses == 100);
    CHECK(sum.succeeded == 90);
    CHECK(sum.status_classes[1] == 90 && sum.status_classes[4] == 10);
    CHECK(sum.errors == 3);
    CHECK(sum.latency.count == 103 && sum.latency.p50_us <= sum.latency.max_us);

    httpbatch_executor_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_OK(httpbatch_executor_stats_get(exec, &st));
    CHECK(st.batches == 1 && st.requests == 103 && st.completed == 103 && st.in_flight == 0);
    CHECK(st.errors[HTTPBATCH_RESULT_CONNECT_REFUSED] == 1);
    CHECK(st.errors[HTTPBATCH_RESULT_TIMEOUT] == 1);
    CHECK(st.errors_total == 3);
    CHECK(st.throughput >= 0.0);

    httpbatch_connection_stats cs;
    memset(&cs, 0, sizeof cs);
    cs.struct_size = sizeof cs;
    CHECK_OK(httpbatch_executor_connection_stats(exec, &cs));
    CHECK(cs.opened >= 1 && cs.opened <= 20);
    CHECK(cs.requests >= 100);
    CHECK(cs.reused == cs.requests - cs.opened);
    CHECK(cs.live == cs.opened - cs.closed);

    CHECK_OK(httpbatch_executor_reset_stats(exec));
    CHECK_OK(httpbatch_executor_stats_get(exec, &st));
    CHECK(st.requests == 0 && st.errors_total == 0);

    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void request_options_reach_the_wire(void) {
    httpbatch_executor *exec = make_executor(2);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    char url[256];
    server_url(&server, "/echo", url, sizeof url);
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_OK(httpbatch_request_set_method(req, "put", 3));
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    CHECK_OK(httpbatch_request_add_header(req, "X-Trace", 7, "abc 123", 7));
    /* A body with a NUL inside: bodies are bytes, not strings. */
    const uint8_t body[5] = {'a', 0, 'b', 0xff, 'c'};
    CHECK_OK(httpbatch_request_set_body(req, body, sizeof body));
    CHECK_OK(httpbatch_request_set_priority(req, 5));
    CHECK_OK(httpbatch_request_set_retry_non_idempotent(req, true));
    CHECK_OK(httpbatch_batch_add(batch, req));
    /* The batch holds a copy: changing the request afterwards does not change the batch. */
    CHECK_OK(httpbatch_request_set_method(req, "DELETE", 6));
    CHECK_OK(httpbatch_batch_add(batch, req));
    httpbatch_request_free(req);

    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item it = get_item(res, 0);
    CHECK(it.status == 200);
    CHECK(it.body_len == sizeof body && memcmp(it.body, body, sizeof body) == 0);
    CHECK(header_is(res, 0, "x-echo-method", "PUT"));
    CHECK(header_is(res, 0, "X-Echo-H-X-Trace", "abc 123"));
    CHECK(header_is(res, 1, "x-echo-method", "DELETE"));
    CHECK(it.header_count > 2);
    for (size_t h = 0; h < it.header_count; h++) {
        const char *name = NULL, *value = NULL;
        size_t nl = 0, vl = 0;
        CHECK_OK(httpbatch_batch_result_header(res, 0, h, &name, &nl, &value, &vl));
        CHECK(name != NULL && nl > 0 && value != NULL);
    }
    const char *name = NULL, *value = NULL;
    size_t nl = 0, vl = 0;
    CHECK_RC(httpbatch_batch_result_header(res, 0, it.header_count, &name, &nl, &value, &vl),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    CHECK_RC(httpbatch_batch_result_find_header(res, 0, "x-none", 6, &value, &vl),
             HTTPBATCH_RESULT_NOT_FOUND);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void body_limit_and_executor_options(void) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 2));
    CHECK_OK(httpbatch_executor_builder_set_max_body_size(b, 100));
    CHECK_OK(httpbatch_executor_builder_set_connect_timeout_ms(b, 2000));
    CHECK_OK(httpbatch_executor_builder_set_max_idle_per_origin(b, 4));
    CHECK_OK(httpbatch_executor_builder_set_max_redirects(b, 0));
    CHECK_OK(httpbatch_executor_builder_set_user_agent(b, "c-test/1", 8));
    httpbatch_executor *exec = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &exec));
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/bytes/100");
    add_get(batch, &server, "/bytes/101");
    add_get(batch, &server, "/echo");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(get_item(res, 0).status == 200);
    httpbatch_item big = get_item(res, 1);
    CHECK(big.outcome == HTTPBATCH_OUTCOME_ERROR && big.code == HTTPBATCH_RESULT_BODY_TOO_LARGE);
    CHECK(header_is(res, 2, "x-echo-h-user-agent", "c-test/1"));
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

/* The response head limit: a 20,000-byte header parses by default and fails PROTOCOL (after one
 * attempt) at 16 KiB; a small head still parses at that limit. */
static void response_head_limit(void) {
    for (int limited = 0; limited < 2; limited++) {
        httpbatch_executor_builder *b = NULL;
        CHECK_OK(httpbatch_executor_builder_new(&b));
        CHECK_OK(httpbatch_executor_builder_set_workers(b, 2));
        if (limited)
            CHECK_OK(httpbatch_executor_builder_set_max_response_head(b, 16 * 1024));
        httpbatch_executor *exec = NULL;
        CHECK_OK(httpbatch_executor_builder_build(b, &exec));
        httpbatch_batch *batch = NULL;
        CHECK_OK(httpbatch_batch_new(&batch));
        add_get(batch, &server, "/big-header/20000");
        add_get(batch, &server, "/ok");
        httpbatch_batch_result *res = NULL;
        CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
        httpbatch_item big = get_item(res, 0);
        if (limited)
            CHECK(big.outcome == HTTPBATCH_OUTCOME_ERROR && big.code == HTTPBATCH_RESULT_PROTOCOL);
        else
            CHECK(big.outcome == HTTPBATCH_OUTCOME_RESPONSE && big.status == 200);
        CHECK(get_item(res, 1).status == 200);
        httpbatch_batch_result_free(res);
        httpbatch_batch_free(batch);
        httpbatch_executor_free(exec);
    }
}

/* A request that fails validation ends as an error in its own slot; the others run. */
static void invalid_requests_keep_their_slots(void) {
    httpbatch_executor *exec = make_executor(2);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/ok");
    CHECK_OK(httpbatch_batch_add_get(batch, "nope", 4));
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_RC(httpbatch_request_set_url(req, "ftp://127.0.0.1/", 16), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_OK(httpbatch_batch_add(batch, req)); /* slot 2: the URL's error */
    char url[128];
    server_url(&server, "/ok", url, sizeof url);
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    CHECK_RC(httpbatch_request_add_header(req, "x-a", 3, "v\r\nInjected: 1", 14),
             HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK_OK(httpbatch_batch_add(batch, req)); /* slot 3: the header's error */
    httpbatch_request_free(req);
    /* Bulk: the bad middle URL gets its own slot between the good ones. */
    char a[128], b[128], all[300];
    server_url(&server, "/status/201", a, sizeof a);
    server_url(&server, "/status/202", b, sizeof b);
    snprintf(all, sizeof all, "%s%s%s", a, "::bad", b);
    size_t lens[3] = {strlen(a), 5, strlen(b)};
    CHECK_OK(httpbatch_batch_add_gets(batch, all, lens, 3));
    size_t n = 0;
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 7);

    uint64_t before = test_server_get_stats(&server).requests;
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(get_item(res, 0).status == 200);
    httpbatch_item it = get_item(res, 1);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_INVALID_URL);
    CHECK(it.error_message_len > 0 && it.attempts == 0);
    it = get_item(res, 2);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_INVALID_URL);
    CHECK(strstr(it.error_message, "scheme") != NULL);
    it = get_item(res, 3);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_INVALID_HEADER);
    CHECK(get_item(res, 4).status == 201);
    CHECK(get_item(res, 5).code == HTTPBATCH_RESULT_INVALID_URL);
    CHECK(get_item(res, 6).status == 202);
    httpbatch_batch_summary sum;
    sum.struct_size = sizeof sum;
    CHECK_OK(httpbatch_batch_result_summary(res, &sum));
    CHECK(sum.total == 7 && sum.responses == 3 && sum.errors == 4);
    /* Only the three valid requests reached the server. */
    CHECK(test_server_get_stats(&server).requests - before == 3);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void bulk_add_and_bulk_read(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    /* Three URLs end to end, no separators. */
    char a[128], b[128], c[128], all[400];
    server_url(&server, "/bytes/3", a, sizeof a);
    server_url(&server, "/status/201", b, sizeof b);
    server_url(&server, "/echo", c, sizeof c);
    size_t lens[3] = {strlen(a), strlen(b), strlen(c)};
    snprintf(all, sizeof all, "%s%s%s", a, b, c);
    CHECK_OK(httpbatch_batch_add_gets(batch, all, lens, 3));
    /* Strict: all or nothing: a bad second URL adds none of the three, and the message says
     * which. */
    size_t bad_lens[3] = {lens[0], 4, lens[1] + lens[2] - 4};
    CHECK_OK(httpbatch_batch_set_strict(batch, true));
    CHECK_RC(httpbatch_batch_add_gets(batch, all, bad_lens, 3), HTTPBATCH_RESULT_INVALID_URL);
    CHECK_OK(httpbatch_batch_set_strict(batch, false));
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_batch_last_error(batch, msg, sizeof msg, &len));
    CHECK(strstr(msg, "URL 1") != NULL);
    CHECK_RC(httpbatch_batch_add_gets(batch, all, NULL, 3), HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_OK(httpbatch_batch_add_gets(batch, NULL, NULL, 0));
    size_t n = 0;
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 3);

    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item items[3];
    memset(items, 0, sizeof items);
    items[0].struct_size = sizeof items[0];
    CHECK_OK(httpbatch_batch_result_items(res, 0, 3, items));
    CHECK(items[0].status == 200 && items[0].body_len == 3);
    CHECK(items[1].status == 201);
    CHECK(items[2].status == 200 && items[2].struct_size == sizeof items[0]);
    CHECK_RC(httpbatch_batch_result_items(res, 1, 3, items), HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    CHECK_RC(httpbatch_batch_result_items(res, (size_t)-1, 2, items),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    items[0].struct_size = 7;
    CHECK_RC(httpbatch_batch_result_items(res, 0, 1, items), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);

    /* Headers of one item, and of a range, in one call each. */
    size_t count = 0;
    CHECK_RC(httpbatch_batch_result_headers(res, 0, NULL, 0, &count),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK(count == items[0].header_count && count > 0);
    httpbatch_header hs[64];
    CHECK_OK(httpbatch_batch_result_headers(res, 0, hs, 64, &count));
    int saw_length = 0;
    for (size_t i = 0; i < count; i++)
        if (hs[i].name_len == 14 && memcmp(hs[i].name, "content-length", 14) == 0)
            saw_length = hs[i].value_len == 1 && hs[i].value[0] == '3';
    CHECK(saw_length);
    size_t total = 0;
    CHECK_OK(httpbatch_batch_result_headers_range(res, 0, 3, hs, 64, &total));
    CHECK(total == items[0].header_count + items[1].header_count + items[2].header_count);
    CHECK_RC(httpbatch_batch_result_headers_range(res, 0, 3, hs, 1, &total),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(httpbatch_batch_result_headers_range(res, 2, 2, hs, 64, &total),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);

    /* The bytes of items 0..1 back to back: URL, body, then each header's name and value. */
    size_t need = 0;
    CHECK_RC(httpbatch_batch_result_copy_bytes(res, 0, 1, NULL, 0, &need),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    size_t want = items[0].url_len + items[0].body_len;
    CHECK_OK(httpbatch_batch_result_headers(res, 0, hs, 64, &count));
    for (size_t i = 0; i < count; i++)
        want += hs[i].name_len + hs[i].value_len;
    CHECK(need == want);
    uint8_t *bytes = malloc(need);
    CHECK_OK(httpbatch_batch_result_copy_bytes(res, 0, 1, bytes, need, NULL));
    CHECK(memcmp(bytes, a, items[0].url_len) == 0);
    CHECK(memcmp(bytes + items[0].url_len, "xxx", 3) == 0);
    CHECK(memcmp(bytes + items[0].url_len + 3, hs[0].name, hs[0].name_len) == 0);
    CHECK_RC(httpbatch_batch_result_copy_bytes(res, 0, 1, bytes, need - 1, &need),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(httpbatch_batch_result_copy_bytes(res, 3, 1, bytes, need, &need),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);

    /* The same bytes and every header's two lengths in one pass, sized from the items. */
    size_t range_bytes = 0, range_lengths = 0;
    for (size_t i = 0; i < 3; i++) {
        range_bytes += items[i].url_len + items[i].body_len + items[i].headers_len;
        range_lengths += 2 * items[i].header_count;
    }
    CHECK(items[0].headers_len == want - items[0].url_len - items[0].body_len);
    size_t all_need = 0;
    CHECK_OK(httpbatch_batch_result_headers_range(res, 0, 3, hs, 64, &total));
    uint8_t *every = malloc(range_bytes);
    CHECK_OK(httpbatch_batch_result_copy_bytes(res, 0, 3, every, range_bytes, &all_need));
    CHECK(all_need == range_bytes && 2 * total == range_lengths);
    uint8_t *once = malloc(range_bytes);
    size_t lengths[128];
    CHECK(range_lengths <= 128);
    CHECK_OK(httpbatch_batch_result_copy_range(res, 0, 3, lengths, range_lengths, once, range_bytes));
    CHECK(memcmp(once, every, range_bytes) == 0);
    for (size_t i = 0; i < total; i++)
        CHECK(lengths[2 * i] == hs[i].name_len && lengths[2 * i + 1] == hs[i].value_len);
    CHECK_RC(httpbatch_batch_result_copy_range(res, 0, 3, lengths, range_lengths, once,
                                               range_bytes - 1),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(httpbatch_batch_result_copy_range(res, 0, 3, lengths, range_lengths - 1, once,
                                               range_bytes),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(httpbatch_batch_result_copy_range(res, 0, 3, NULL, range_lengths, once, range_bytes),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_RC(httpbatch_batch_result_copy_range(res, 2, 2, lengths, range_lengths, once,
                                               range_bytes),
             HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    /* A caller built before `headers_len` passes the older size and still gets its items. */
    httpbatch_item older[3];
    memset(older, 0xAB, sizeof older);
    older[0].struct_size = offsetof(httpbatch_item, headers_len);
    CHECK_OK(httpbatch_batch_result_items(res, 0, 1, older));
    CHECK(older[0].status == 200 && older[0].header_count == items[0].header_count);
    CHECK(older[0].headers_len == (size_t)0xABABABABABABABABull);
    free(once);
    free(every);
    free(bytes);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void version_and_codes(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", HTTPBATCH_VERSION_MAJOR, HTTPBATCH_VERSION_MINOR,
             HTTPBATCH_VERSION_PATCH);
    CHECK(strcmp(httpbatch_version(), want) == 0);
    CHECK(strcmp(httpbatch_result_str(HTTPBATCH_RESULT_OK), "ok") == 0);
    CHECK(strcmp(httpbatch_result_str(HTTPBATCH_RESULT_TIMEOUT), "timeout") == 0);
    CHECK(strcmp(httpbatch_result_str(123456), "unknown httpbatch_result code") == 0);
    CHECK(HTTPBATCH_RESULT_NULL_ARGUMENT == 1000);
}

static void test_server_counts(void) {
    /* The server process counted every request the batches above sent, over few connections. */
    test_server_stats st = test_server_get_stats(&server);
    CHECK(st.requests >= 100 && st.accepted >= 1 && st.max_in_flight >= 1);
    /* Reading the counters does not count. */
    test_server_stats again = test_server_get_stats(&server);
    CHECK(again.requests == st.requests && again.accepted == st.accepted);
    char url[64];
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%u/ok", server.port);
    CHECK(strcmp(server_url(&server, "/ok", url, sizeof url), want) == 0);
}

int main(void) {
    test_server_start(&server);
    /* A port with nobody listening: start a server, note its port, stop it. */
    test_server gone;
    test_server_start(&gone);
    server_url(&gone, "/ok", refused_url, sizeof refused_url);
    CHECK(test_server_stop(&gone) == 0);

    RUN(ordered_results_with_per_item_errors);
    RUN(request_options_reach_the_wire);
    RUN(body_limit_and_executor_options);
    RUN(response_head_limit);
    RUN(bulk_add_and_bulk_read);
    RUN(invalid_requests_keep_their_slots);
    RUN(version_and_codes);
    RUN(test_server_counts);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_batch");
}
