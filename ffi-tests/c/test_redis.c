/* The Redis feature through the C ABI, against a real redis-server (redis_server.h) and the
 * loopback test server: the shared limiter in two executors' stacks, the work list (submit,
 * status, outcomes) and the worker loop, run to completion and stopped from another thread.
 * Built by ffi-tests/run.sh against the library built with the `redis` feature, with
 * -DHTTPBATCH_REDIS. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "redis_server.h"
#include "timing.h"

static test_server server;
static redis_server redis;

static httpbatch_redis_limiter *shared_limiter(const char *key, double count, uint32_t burst) {
    httpbatch_redis_limiter *l = NULL;
    CHECK_OK(httpbatch_redis_limiter_new(redis.url, strlen(redis.url), key, strlen(key), count,
                                         1000, burst, 0, 0.0, &l));
    if (l == NULL)
        exit(2);
    return l;
}

static httpbatch_executor *limited_executor(httpbatch_redis_limiter *shared) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 4));
    CHECK_OK(httpbatch_executor_builder_set_redis_limiter(b, shared));
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL)
        exit(2);
    return e;
}

static uint64_t run_gets(httpbatch_executor *e, int n) {
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < n; i++)
        add_get(batch, &server, "/ok");
    httpbatch_batch_result *r = NULL;
    CHECK_OK(httpbatch_executor_execute(e, batch, &r));
    httpbatch_batch_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_batch_result_summary(r, &s));
    httpbatch_batch_result_free(r);
    httpbatch_batch_free(batch);
    return s.succeeded;
}

/* Two executors (as two processes would build them) share one limit of 20/s with a burst of 2:
 * every request on the wire takes a shared slot, counted on each executor's limiter handle. */
static void shared_limiter_in_two_executors(void) {
    httpbatch_redis_limiter *la = shared_limiter("c-exec", 20.0, 2);
    httpbatch_redis_limiter *lb = shared_limiter("c-exec", 20.0, 2);
    httpbatch_executor *a = limited_executor(la);
    httpbatch_executor *b = limited_executor(lb);
    /* The executors hold their own references. */
    httpbatch_redis_limiter_free(lb);
    test_server_stats before = test_server_get_stats(&server);
    double start = now_ms();
    CHECK(run_gets(a, 4) == 4);
    CHECK(run_gets(b, 4) == 4);
    double took = now_ms() - start;
    /* 8 slots with a burst of 2: the 8th is 6 intervals of 50 ms after the first. Load only
     * makes it later. */
    CHECK(took >= 290.0);
    CHECK(test_server_get_stats(&server).requests - before.requests == 8);
    httpbatch_redis_limiter_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_OK(httpbatch_redis_limiter_stats_get(la, &st));
    CHECK(st.limiter.admitted == 4);
    CHECK(st.limiter.struct_size == sizeof st.limiter);
    CHECK(st.limiter.burst == 2 && st.limiter.rate_per_sec == 20.0);
    CHECK(st.round_trips >= 4 && !st.degraded);
    st.struct_size = 3;
    CHECK_RC(httpbatch_redis_limiter_stats_get(la, &st), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    CHECK_RC(httpbatch_executor_builder_set_redis_limiter(NULL, la),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_executor_free(a);
    httpbatch_executor_free(b);
    httpbatch_redis_limiter_free(la);
}

static httpbatch_redis_list *open_list(const char *name) {
    httpbatch_redis_list *l = NULL;
    CHECK_OK(httpbatch_redis_list_new(redis.url, strlen(redis.url), name, strlen(name), &l));
    if (l == NULL)
        exit(2);
    return l;
}

static httpbatch_redis_worker *new_worker(const char *list, const char *name) {
    httpbatch_redis_worker *w = NULL;
    CHECK_OK(httpbatch_redis_worker_new(redis.url, strlen(redis.url), list, strlen(list), name,
                                        strlen(name), &w));
    if (w == NULL)
        exit(2);
    return w;
}

/* Submits `n` requests with ids "0".."n-1": GETs of /ok, the last one a JSON spec. */
static void submit(httpbatch_redis_list *list, int n, int first) {
    char ids[64][16], payloads[64][256];
    const char *id_ptrs[64], *payload_ptrs[64];
    size_t id_lens[64], payload_lens[64];
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", first + i);
        char url[200];
        server_url(&server, "/ok", url, sizeof url);
        if (i == n - 1)
            snprintf(payloads[i], sizeof payloads[i],
                     "{\"url\":\"%s\",\"method\":\"POST\",\"body\":{\"a\":1}}", url);
        else
            snprintf(payloads[i], sizeof payloads[i], "%s", url);
        id_ptrs[i] = ids[i];
        payload_ptrs[i] = payloads[i];
        id_lens[i] = strlen(ids[i]);
        payload_lens[i] = strlen(payloads[i]);
    }
    uint64_t submitted = 0;
    CHECK_OK(httpbatch_redis_list_submit(list, id_ptrs, id_lens, payload_ptrs, payload_lens,
                                         (size_t)n, &submitted));
    CHECK(submitted == (uint64_t)n);
}

static httpbatch_redis_list_status status(httpbatch_redis_list *list) {
    httpbatch_redis_list_status st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_OK(httpbatch_redis_list_status_get(list, &st));
    return st;
}

/* A worker runs a list to completion on this thread: one outcome per id, readable as JSON; a
 * payload that is not a request gets an error outcome in its slot. */
static void worker_runs_a_list_to_completion(void) {
    httpbatch_redis_list *list = open_list("c-done");
    submit(list, 10, 0);
    const char *bad_id = "bad", *bad = "not a request";
    size_t bad_id_len = strlen(bad_id), bad_len = strlen(bad);
    CHECK_OK(httpbatch_redis_list_submit(list, &bad_id, &bad_id_len, &bad, &bad_len, 1, NULL));
    CHECK(status(list).total == 11 && status(list).queued == 11);

    httpbatch_executor *e = make_executor(4);
    httpbatch_redis_worker *w = new_worker("c-done", "c-worker");
    CHECK_OK(httpbatch_redis_worker_set_exit_when_complete(w, true));
    CHECK_OK(httpbatch_redis_worker_set_read_batch(w, 4));
    httpbatch_redis_worker_summary sum;
    memset(&sum, 0, sizeof sum);
    sum.struct_size = sizeof sum;
    CHECK_OK(httpbatch_redis_worker_run(w, e, &sum));
    CHECK(sum.started == 11 && sum.recorded == 11 && sum.duplicates == 0);
    httpbatch_redis_list_status st = status(list);
    CHECK(st.total == 11 && st.recorded == 11 && st.pending == 0 && st.failed == 1);
    CHECK(st.workers == 1);

    char buf[512];
    size_t len = 0;
    CHECK_OK(httpbatch_redis_list_outcome(list, "9", 1, buf, sizeof buf, &len));
    CHECK(len == strlen(buf));
    CHECK(strstr(buf, "\"status\":200") != NULL && strstr(buf, "\"id\":\"9\"") != NULL);
    CHECK(strstr(buf, "\"worker\":\"c-worker\"") != NULL);
    CHECK_OK(httpbatch_redis_list_outcome(list, bad_id, bad_id_len, buf, sizeof buf, &len));
    CHECK(strstr(buf, "\"kind\":\"invalid_request\"") != NULL);
    /* The length alone, then a buffer too small. */
    CHECK_RC(httpbatch_redis_list_outcome(list, "0", 1, NULL, 0, &len),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK(len > 10);
    CHECK_RC(httpbatch_redis_list_outcome(list, "0", 1, buf, 4, &len),
             HTTPBATCH_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(httpbatch_redis_list_outcome(list, "nope", 4, buf, sizeof buf, &len),
             HTTPBATCH_RESULT_NOT_FOUND);
    CHECK_OK(httpbatch_redis_list_last_error(list, buf, sizeof buf, &len));
    CHECK(strstr(buf, "nope") != NULL);

    httpbatch_redis_worker_free(w);
    httpbatch_executor_free(e);
    httpbatch_redis_list_free(list);
}

typedef struct {
    httpbatch_redis_worker *w;
    httpbatch_executor *e;
    httpbatch_redis_worker_summary sum;
    httpbatch_result rc;
} run_args;

static void *run_thread(void *p) {
    run_args *a = p;
    a->rc = httpbatch_redis_worker_run(a->w, a->e, &a->sum);
    return NULL;
}

/* A worker that runs until stopped: `_stop` from another thread ends `_run` after the work it
 * read is recorded; a second `_run` at the same time is refused. */
static void worker_stops_from_another_thread(void) {
    httpbatch_redis_list *list = open_list("c-stop");
    httpbatch_executor *e = make_executor(4);
    run_args a;
    memset(&a, 0, sizeof a);
    a.w = new_worker("c-stop", "c-stopper");
    a.e = e;
    a.sum.struct_size = sizeof a.sum;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_thread, &a) == 0);
    submit(list, 6, 0);
    /* Wait for the observed state: every outcome recorded. */
    double until = now_ms() + 20000;
    while (status(list).recorded < 6 && now_ms() < until)
        sleep_ms(5);
    CHECK(status(list).recorded == 6);
    CHECK_RC(httpbatch_redis_worker_run(a.w, e, NULL), HTTPBATCH_RESULT_INVALID_ARGUMENT);
    CHECK_OK(httpbatch_redis_worker_stop(a.w));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_OK(a.rc);
    CHECK(a.sum.recorded == 6 && a.sum.released == 0);
    CHECK(status(list).pending == 0);
    /* Stopped stays stopped. */
    CHECK_OK(httpbatch_redis_worker_run(a.w, e, NULL));
    httpbatch_redis_worker_free(a.w);
    httpbatch_executor_free(e);
    httpbatch_redis_list_free(list);
}

static void bad_inputs(void) {
    httpbatch_redis_worker *w = (httpbatch_redis_worker *)1;
    CHECK_RC(httpbatch_redis_worker_new(redis.url, strlen(redis.url), "l", 1, "", 0, &w),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK(w == NULL);
    CHECK_RC(httpbatch_redis_worker_new("http://x", 8, "l", 1, "n", 1, &w),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_redis_worker_new(NULL, 3, "l", 1, "n", 1, &w),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_redis_list *l = NULL;
    CHECK_RC(httpbatch_redis_list_new(redis.url, strlen(redis.url), "", 0, &l),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    w = new_worker("l", "n");
    CHECK_RC(httpbatch_redis_worker_set_visibility_timeout_ms(w, 0),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_redis_worker_set_max_deliveries(w, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_redis_worker_set_read_batch(w, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_OK(httpbatch_redis_worker_set_visibility_timeout_ms(w, UINT64_MAX));
    CHECK_RC(httpbatch_redis_worker_run(w, NULL, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_redis_worker_summary sum;
    sum.struct_size = 1;
    httpbatch_executor *e = make_executor(1);
    CHECK_RC(httpbatch_redis_worker_run(w, e, &sum), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    CHECK_RC(httpbatch_redis_worker_stop(NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_executor_free(e);
    httpbatch_redis_worker_free(w);
    httpbatch_redis_worker_free(NULL);
    httpbatch_redis_list_free(NULL);
}

int main(void) {
    test_server_start(&server);
    redis_server_start(&redis);
    RUN(shared_limiter_in_two_executors);
    RUN(worker_runs_a_list_to_completion);
    RUN(worker_stops_from_another_thread);
    RUN(bad_inputs);
    redis_server_stop(&redis);
    test_server_stop(&server);
    return check_exit("test_redis");
}
