/* Pagination and dedup through the C ABI: a cursor walk item by item, a page walk that fails
 * mid-way and resumes from its saved JSON state, and the executor's dedup option sharing
 * identical requests in flight. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "check.h"

static test_server server;

static httpbatch_paginator *make_paginator(httpbatch_executor *exec, const char *path,
                                           const char *strategy, const char *items) {
    char url[256];
    server_url(&server, path, url, sizeof url);
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    httpbatch_paginator *p = NULL;
    CHECK_OK(httpbatch_paginator_new(exec, req, strategy, strlen(strategy), &p));
    httpbatch_request_free(req); /* the paginator copied it */
    if (p == NULL)
        exit(2);
    CHECK_OK(httpbatch_paginator_set_items(p, items, strlen(items)));
    return p;
}

static void cursor_walk_item_by_item(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_paginator *p =
        make_paginator(exec, "/pages/cursor/57?per=10", "cursor:/meta/next:after", "/data");
    unsigned count = 0;
    for (;;) {
        const char *json = NULL;
        size_t len = 0;
        uint32_t outcome = 99;
        CHECK_OK(httpbatch_paginator_next_item(p, &json, &len, &outcome));
        if (outcome != HTTPBATCH_PAGE_READ)
            break;
        count++;
        char want[32];
        snprintf(want, sizeof want, "{\"id\":%u}", count);
        CHECK(len == strlen(want) && memcmp(json, want, len) == 0);
    }
    CHECK(count == 57);
    char state[256];
    size_t len = 0;
    CHECK_OK(httpbatch_paginator_state(p, state, sizeof state, &len));
    CHECK(strstr(state, "\"done\":true") != NULL && strstr(state, "\"items\":57") != NULL);
    httpbatch_paginator_free(p);
    httpbatch_executor_free(exec);
}

static void page_walk_resumes_after_a_failure(void) {
    httpbatch_executor *exec = make_executor(4);
    const char *path = "/pages/numbered/30?per=10&fail=c1&fail_page=2";
    httpbatch_paginator *p = make_paginator(exec, path, "page:page", "/items");
    uint32_t outcome = 99;
    CHECK_OK(httpbatch_paginator_next_page(p, &outcome));
    CHECK(outcome == HTTPBATCH_PAGE_READ);
    size_t count = 0;
    CHECK_OK(httpbatch_paginator_page_item_count(p, &count));
    CHECK(count == 10);
    CHECK_OK(httpbatch_paginator_next_page(p, &outcome));
    CHECK(outcome == HTTPBATCH_PAGE_FAILED);
    uint16_t status = 0;
    CHECK_OK(httpbatch_paginator_page_status(p, &status));
    CHECK(status == 500);
    char why[256];
    size_t why_len = 0;
    CHECK_OK(httpbatch_paginator_last_error(p, why, sizeof why, &why_len));
    CHECK(strstr(why, "500") != NULL);
    char state[256];
    size_t state_len = 0;
    CHECK_OK(httpbatch_paginator_state(p, state, sizeof state, &state_len));
    httpbatch_paginator_free(p);

    /* Resume: pages 2 and 3, then the end. */
    p = make_paginator(exec, path, "page:page", "/items");
    CHECK_OK(httpbatch_paginator_resume(p, state, state_len));
    unsigned pages = 0;
    for (;;) {
        CHECK_OK(httpbatch_paginator_next_page(p, &outcome));
        if (outcome != HTTPBATCH_PAGE_READ)
            break;
        pages++;
        const char *json = NULL;
        size_t len = 0;
        CHECK_OK(httpbatch_paginator_page_item(p, 0, &json, &len));
        char want[32];
        snprintf(want, sizeof want, "{\"id\":%u}", pages * 10 + 1);
        CHECK(len == strlen(want) && memcmp(json, want, len) == 0);
    }
    CHECK(pages == 2);
    CHECK(outcome == HTTPBATCH_PAGE_DONE);
    httpbatch_paginator_free(p);
    httpbatch_executor_free(exec);
}

static void dedup_option_shares_requests_in_flight(void) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 30));
    CHECK_OK(httpbatch_executor_builder_set_dedup(b, true, false));
    httpbatch_executor *exec = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &exec));
    if (exec == NULL)
        exit(2);
    CHECK(test_server_reset(&server) == 0);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 30; i++)
        add_get(batch, &server, "/delay/300");
    httpbatch_batch_result *result = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &result));
    for (size_t i = 0; i < 30; i++) {
        httpbatch_item item = get_item(result, i);
        CHECK(item.status == 200);
    }
    httpbatch_dedup_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    CHECK_OK(httpbatch_executor_dedup_stats(exec, &stats));
    CHECK(stats.requests == 30 && stats.wire + stats.saved == 30 && stats.saved > 0);
    CHECK(test_server_get_stats(&server).requests == stats.wire);
    httpbatch_batch_result_free(result);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

int main(void) {
    test_server_start(&server);
    RUN(cursor_walk_item_by_item);
    RUN(page_walk_resumes_after_a_failure);
    RUN(dedup_option_shares_requests_in_flight);
    test_server_stop(&server);
    return check_exit("test_paginate");
}
