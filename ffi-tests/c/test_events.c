/* Reachable from C: per-item events, the streaming form, the limiter's try_execute and the
 * pool's health-change callback — against a test server process. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "timing.h"

static test_server server;

/* --- per-item events ------------------------------------------------------------------------ */

typedef struct {
    pthread_t caller;
    int wrong_thread;
    size_t started, completed, failed, drained, after_drained;
    int started_at[8], settled_at[8];
    httpbatch_result codes[8];
    uint32_t statuses[8];
    size_t body_len[8];
} events_seen;

static void on_event(const httpbatch_event *e, void *user) {
    events_seen *s = user;
    if (!pthread_equal(pthread_self(), s->caller))
        s->wrong_thread++;
    if (s->drained)
        s->after_drained++;
    switch (e->kind) {
    case HTTPBATCH_EVENT_KIND_STARTED:
        s->started++;
        if (e->index < 8) s->started_at[e->index]++;
        break;
    case HTTPBATCH_EVENT_KIND_COMPLETED:
    case HTTPBATCH_EVENT_KIND_FAILED:
        if (e->kind == HTTPBATCH_EVENT_KIND_COMPLETED)
            s->completed++;
        else
            s->failed++;
        if (e->index < 8 && e->item != NULL) {
            s->settled_at[e->index]++;
            s->codes[e->index] = e->item->code;
            s->statuses[e->index] = e->item->status;
            s->body_len[e->index] = e->item->body_len;
        }
        break;
    case HTTPBATCH_EVENT_KIND_DRAINED:
        s->drained++;
        break;
    default:
        break;
    }
}

static void events_per_item_on_the_calling_thread(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/bytes/10");
    add_get(batch, &server, "/status/500");
    CHECK_OK(httpbatch_batch_add_get(batch, "nope", 4));
    add_get(batch, &server, "/ok");
    events_seen seen;
    memset(&seen, 0, sizeof seen);
    seen.caller = pthread_self();
    CHECK_OK(httpbatch_batch_set_on_event(batch, on_event, &seen));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(seen.wrong_thread == 0 && seen.after_drained == 0 && seen.drained == 1);
    /* Three requests started (the invalid one never does); each of the four settled once. */
    CHECK(seen.started == 3 && seen.started_at[2] == 0 && seen.started_at[0] == 1);
    CHECK(seen.completed == 2 && seen.failed == 2);
    for (int i = 0; i < 4; i++)
        CHECK(seen.settled_at[i] == 1);
    CHECK(seen.statuses[0] == 200 && seen.body_len[0] == 10);
    CHECK(seen.statuses[1] == 500 && seen.codes[1] == HTTPBATCH_RESULT_OK);
    CHECK(seen.codes[2] == HTTPBATCH_RESULT_INVALID_URL);
    httpbatch_batch_result_free(res);
    /* Removing the callback: nothing more is delivered. */
    CHECK_OK(httpbatch_batch_set_on_event(batch, NULL, NULL));
    add_get(batch, &server, "/ok");
    memset(&seen, 0, sizeof seen);
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(seen.started == 0 && seen.drained == 0);
    httpbatch_batch_result_free(res);
    CHECK_RC(httpbatch_batch_set_on_event(NULL, on_event, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

/* --- streaming ------------------------------------------------------------------------------ */

#define STREAM_N 300

typedef struct {
    pthread_t caller;
    int wrong_thread;
    unsigned char seen[STREAM_N + 1];
    size_t items, bytes, errors, content_length_headers;
} stream_seen;

static void on_item(size_t index, const httpbatch_item *item, const httpbatch_header *headers,
                    void *user) {
    stream_seen *s = user;
    if (!pthread_equal(pthread_self(), s->caller))
        s->wrong_thread++;
    s->items++;
    if (index <= STREAM_N)
        s->seen[index]++;
    if (item->outcome == HTTPBATCH_OUTCOME_RESPONSE) {
        s->bytes += item->body_len;
        for (size_t i = 0; i < item->header_count; i++)
            if (headers[i].name_len == 14 && memcmp(headers[i].name, "content-length", 14) == 0)
                s->content_length_headers++;
    } else {
        CHECK(headers == NULL && item->header_count == 0);
        s->errors++;
    }
}

static void streaming_hands_over_each_item_once(void) {
    httpbatch_executor *exec = make_executor(8);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < STREAM_N; i++)
        add_get(batch, &server, "/bytes/64");
    CHECK_OK(httpbatch_batch_add_get(batch, "nope", 4)); /* index STREAM_N */
    stream_seen *s = calloc(1, sizeof *s);
    s->caller = pthread_self();
    httpbatch_batch_summary sum;
    sum.struct_size = sizeof sum;
    CHECK_OK(httpbatch_executor_execute_streaming(exec, batch, on_item, s, &sum));
    CHECK(s->wrong_thread == 0 && s->items == STREAM_N + 1);
    for (int i = 0; i <= STREAM_N; i++)
        CHECK(s->seen[i] == 1);
    CHECK(s->bytes == 64u * STREAM_N && s->errors == 1 && s->content_length_headers == STREAM_N);
    CHECK(sum.total == STREAM_N + 1 && sum.succeeded == STREAM_N && sum.errors == 1);
    /* The requests were moved out of the batch. */
    size_t n = 9;
    CHECK_OK(httpbatch_batch_len(batch, &n));
    CHECK(n == 0);
    /* A NULL summary is fine; a NULL callback runs nothing. */
    add_get(batch, &server, "/ok");
    memset(s->seen, 0, sizeof s->seen);
    s->items = 0;
    CHECK_OK(httpbatch_executor_execute_streaming(exec, batch, on_item, s, NULL));
    CHECK(s->items == 1 && s->seen[0] == 1);
    add_get(batch, &server, "/ok");
    CHECK_RC(httpbatch_executor_execute_streaming(exec, batch, NULL, NULL, NULL),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    sum.struct_size = 3;
    CHECK_RC(httpbatch_executor_execute_streaming(exec, batch, on_item, s, &sum),
             HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    free(s);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

/* --- try_execute ---------------------------------------------------------------------------- */

static httpbatch_executor *limited_executor(httpbatch_limiter *lim) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 2));
    CHECK_OK(httpbatch_executor_builder_set_limiter(b, lim));
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL)
        exit(2);
    return e;
}

static void try_execute_runs_now_or_says_how_long_to_wait(void) {
    /* One request a minute, a burst of one: the first goes, the second would wait ~60 s. */
    httpbatch_limiter *lim = NULL;
    CHECK_OK(httpbatch_limiter_new(1.0, 60000, 1, &lim));
    httpbatch_executor *exec = limited_executor(lim);
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    char url[128];
    server_url(&server, "/bytes/5", url, sizeof url);
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    uint64_t before = test_server_get_stats(&server).requests;

    httpbatch_batch_result *res = (httpbatch_batch_result *)&res;
    uint64_t wait_us = 99;
    CHECK_OK(httpbatch_executor_try_execute(exec, req, &res, &wait_us));
    CHECK(res != NULL && wait_us == 0);
    if (res != NULL) {
        httpbatch_item it = get_item(res, 0);
        CHECK(it.status == 200 && it.body_len == 5);
        httpbatch_batch_summary sum;
        sum.struct_size = sizeof sum;
        CHECK_OK(httpbatch_batch_result_summary(res, &sum));
        CHECK(sum.total == 1 && sum.succeeded == 1 && sum.status_classes[1] == 1);
        httpbatch_batch_result_free(res);
    }
    CHECK_OK(httpbatch_executor_try_execute(exec, req, &res, &wait_us));
    CHECK(res == NULL && wait_us > 59u * 1000000u && wait_us <= 60u * 1000000u);
    /* Only the first reached the server. */
    CHECK(test_server_get_stats(&server).requests - before == 1);

    /* An invalid request: a one-item result holding its error, nothing sent. */
    httpbatch_request *bad = NULL;
    CHECK_OK(httpbatch_request_new(&bad));
    CHECK_OK(httpbatch_executor_try_execute(exec, bad, &res, &wait_us));
    CHECK(res != NULL && get_item(res, 0).code == HTTPBATCH_RESULT_INVALID_URL);
    httpbatch_batch_result_free(res);
    httpbatch_request_free(bad);
    CHECK_RC(httpbatch_executor_try_execute(exec, req, NULL, &wait_us),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_RC(httpbatch_executor_try_execute(exec, req, &res, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_executor_free(exec);
    httpbatch_limiter_free(lim);

    /* Without a limiter there is nothing to try. */
    exec = make_executor(1);
    CHECK_RC(httpbatch_executor_try_execute(exec, req, &res, &wait_us), HTTPBATCH_RESULT_NOT_FOUND);
    CHECK(res == NULL);
    httpbatch_executor_free(exec);
    httpbatch_request_free(req);
}

/* --- the pool's health-change callback -------------------------------------------------------- */

typedef struct {
    atomic_int changes;
    atomic_int to_unhealthy;
    atomic_int wrong_origin;
    char origin[128];
} health_seen;

static void on_health(const char *origin, size_t origin_len, httpbatch_health_state old_state,
                      httpbatch_health_state new_state, void *user) {
    health_seen *h = user;
    if (origin_len != strlen(h->origin) || memcmp(origin, h->origin, origin_len) != 0)
        atomic_fetch_add(&h->wrong_origin, 1);
    if (old_state == HTTPBATCH_HEALTH_STATE_HEALTHY && new_state == HTTPBATCH_HEALTH_STATE_UNHEALTHY)
        atomic_fetch_add(&h->to_unhealthy, 1);
    atomic_fetch_add(&h->changes, 1);
}

static void health_changes_reach_the_callback(void) {
    test_server gone;
    test_server_start(&gone);
    char bad[128];
    server_url(&gone, "/", bad, sizeof bad);
    CHECK(test_server_stop(&gone) == 0);
    health_seen *h = calloc(1, sizeof *h);
    /* The origin as the pool reports it: scheme, host and port, no path. */
    snprintf(h->origin, sizeof h->origin, "%.*s", (int)(strlen(bad) - 1), bad);

    httpbatch_pool_builder *pb = NULL;
    CHECK_OK(httpbatch_pool_builder_new(&pb));
    CHECK_OK(httpbatch_pool_builder_set_health_check(pb, 200, 2, 1));
    CHECK_OK(httpbatch_pool_builder_set_on_health_change(pb, on_health, h));
    httpbatch_pool *pool = NULL;
    CHECK_OK(httpbatch_pool_builder_build(pb, &pool));
    CHECK_OK(httpbatch_pool_enable_health_check(pool, bad, strlen(bad), 20, "/ok", 3));
    /* Wait for the observed change (bounded), not for a fixed time. */
    for (int i = 0; i < 250 && atomic_load(&h->changes) == 0; i++)
        sleep_ms(20);
    CHECK(atomic_load(&h->to_unhealthy) == 1 && atomic_load(&h->wrong_origin) == 0);
    CHECK_OK(httpbatch_pool_disable_health_check(pool));
    httpbatch_pool_free(pool);
    free(h);
    CHECK_RC(httpbatch_pool_builder_set_on_health_change(NULL, on_health, NULL),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
}

int main(void) {
    test_server_start(&server);
    RUN(events_per_item_on_the_calling_thread);
    RUN(streaming_hands_over_each_item_once);
    RUN(try_execute_runs_now_or_says_how_long_to_wait);
    RUN(health_changes_reach_the_callback);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_events");
}
