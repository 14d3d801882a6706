/* The chained stack through the C ABI: pool (retries, Retry-After cap, per-request opt-in,
 * per-host in-flight cap, warmup, health checks) -> rate limiter (count per interval, burst,
 * run-time change, per-host buckets) -> batch executor, and each layer's statistics. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "check.h"
#include "timing.h"

static test_server server;

static httpbatch_retry_policy *fast_retries(void) {
    httpbatch_retry_policy *p = NULL;
    CHECK_OK(httpbatch_retry_policy_new(&p));
    CHECK_OK(httpbatch_retry_policy_set_max_attempts(p, 4));
    CHECK_OK(httpbatch_retry_policy_set_backoff(p, 5, 50, 2.0));
    CHECK_OK(httpbatch_retry_policy_set_jitter(p, HTTPBATCH_JITTER_NONE));
    return p;
}

static httpbatch_pool *make_pool(size_t per_host, httpbatch_retry_policy *policy) {
    httpbatch_pool_builder *pb = NULL;
    CHECK_OK(httpbatch_pool_builder_new(&pb));
    CHECK_OK(httpbatch_pool_builder_set_max_in_flight_per_host(pb, per_host));
    CHECK_OK(httpbatch_pool_builder_set_timeout_ms(pb, 5000));
    if (policy != NULL)
        CHECK_OK(httpbatch_pool_builder_set_retry_policy(pb, policy));
    CHECK_OK(httpbatch_pool_builder_set_warmup(pb, "/ok", 3, 2000));
    CHECK_OK(httpbatch_pool_builder_set_health_check(pb, 200, 2, 1));
    httpbatch_pool *pool = NULL;
    CHECK_OK(httpbatch_pool_builder_build(pb, &pool));
    if (pool == NULL)
        exit(2);
    return pool;
}

static httpbatch_executor *stack_executor(size_t workers, httpbatch_pool *pool,
                                          httpbatch_limiter *limiter) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, workers));
    CHECK_OK(httpbatch_executor_builder_set_pool(b, pool));
    CHECK_OK(httpbatch_executor_builder_set_limiter(b, limiter));
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL)
        exit(2);
    return e;
}

static httpbatch_item run_one(httpbatch_executor *exec, const char *method, const char *path,
                              bool opt_in) {
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    char url[256];
    server_url(&server, path, url, sizeof url);
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_OK(httpbatch_request_set_method(req, method, strlen(method)));
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    CHECK_OK(httpbatch_request_set_retry_non_idempotent(req, opt_in));
    CHECK_OK(httpbatch_batch_add(batch, req));
    httpbatch_request_free(req);
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item it = get_item(res, 0);
    it.body = NULL; /* owned by res, freed below */
    it.url = NULL;
    it.error_message = NULL;
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    return it;
}

static httpbatch_limiter_stats limiter_stats(const httpbatch_limiter *l) {
    httpbatch_limiter_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_limiter_stats_get(l, &s));
    return s;
}

static httpbatch_pool_stats pool_stats(const httpbatch_pool *p) {
    httpbatch_pool_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_pool_stats_get(p, &s));
    return s;
}

static void limiter_spaces_requests(void) {
    httpbatch_limiter *lim = NULL;
    /* 20 per second, burst 1: 10 requests take about 9 × 50 ms. */
    CHECK_OK(httpbatch_limiter_new(20.0, 1000, 1, &lim));
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 4));
    CHECK_OK(httpbatch_executor_builder_set_limiter(b, lim));
    httpbatch_executor *exec = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &exec));
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 10; i++)
        add_get(batch, &server, "/ok");
    double start = now_ms();
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    double took = now_ms() - start;
    CHECK(took >= 400.0 && took < 2000.0);
    httpbatch_limiter_stats s = limiter_stats(lim);
    /* Four workers start together with a burst of 1: at least three of them wait, however slow
     * the machine (valgrind) makes each request. */
    CHECK(s.admitted == 10 && s.throttled >= 3 && s.burst == 1);
    CHECK(s.rate_per_sec > 19.9 && s.rate_per_sec < 20.1);
    CHECK(s.total_wait_us > 0 && s.max_wait_us <= s.total_wait_us);
    httpbatch_batch_result_free(res);

    /* Run-time change, through the handle, reaches the executor: 1000/s now. */
    CHECK_OK(httpbatch_limiter_set_rate(lim, 1000.0, 1000));
    CHECK_OK(httpbatch_limiter_set_burst(lim, 10));
    CHECK_OK(httpbatch_limiter_reset_stats(lim));
    for (int i = 0; i < 10; i++)
        add_get(batch, &server, "/ok");
    start = now_ms();
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(now_ms() - start < 300.0);
    s = limiter_stats(lim);
    CHECK(s.admitted == 10 && s.burst == 10 && s.rate_per_sec > 999.0);
    httpbatch_batch_result_free(res);

    /* Freeing the handle leaves the executor's reference working; stop reaches waiters. */
    CHECK_OK(httpbatch_limiter_stop(lim));
    httpbatch_limiter_free(lim);
    add_get(batch, &server, "/ok");
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item it = get_item(res, 0);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_STOPPED);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void retries_pay_a_token_each(void) {
    httpbatch_retry_policy *policy = fast_retries();
    httpbatch_pool *pool = make_pool(8, policy);
    httpbatch_retry_policy_free(policy); /* the pool copied it */
    httpbatch_limiter *lim = NULL;
    CHECK_OK(httpbatch_limiter_new(1000.0, 1000, 100, &lim));
    httpbatch_executor *exec = stack_executor(4, pool, lim);

    httpbatch_item it = run_one(exec, "GET", "/seq/c-retry?s=503,503,200", false);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_RESPONSE && it.status == 200 && it.attempts == 3);
    httpbatch_limiter_stats ls = limiter_stats(lim);
    CHECK(ls.admitted == 3); /* the first attempt and both retries */
    httpbatch_pool_stats ps = pool_stats(pool);
    CHECK(ps.requests == 1 && ps.attempts == 3 && ps.retries == 2 && ps.succeeded == 1);
    CHECK(ps.connections_opened >= 1 && ps.connections_live >= 1);
    CHECK(ps.backoff_us >= 10000);

    /* The executor's connection figures are the pool's client's. */
    httpbatch_connection_stats cs;
    memset(&cs, 0, sizeof cs);
    cs.struct_size = sizeof cs;
    CHECK_OK(httpbatch_executor_connection_stats(exec, &cs));
    CHECK(cs.requests == 3);

    /* Per-host pool statistics. */
    char origin[128];
    server_url(&server, "/", origin, sizeof origin);
    httpbatch_pool_host_stats hs;
    memset(&hs, 0, sizeof hs);
    hs.struct_size = sizeof hs;
    CHECK_OK(httpbatch_pool_host_stats_get(pool, origin, strlen(origin), &hs));
    CHECK(hs.requests == 1 && hs.attempts == 3 && hs.in_flight == 0);
    CHECK_RC(httpbatch_pool_host_stats_get(pool, "http://127.0.0.1:1", 18, &hs),
             HTTPBATCH_RESULT_NOT_FOUND);

    httpbatch_limiter_free(lim);
    httpbatch_pool_free(pool);
    httpbatch_executor_free(exec);
}

static void retry_after_cap_and_opt_in(void) {
    httpbatch_retry_policy *policy = fast_retries();
    CHECK_OK(httpbatch_retry_policy_set_retry_after(policy, true, 1000));
    httpbatch_pool *pool = make_pool(8, policy);
    httpbatch_executor *exec = stack_executor(2, pool, NULL);

    /* Retry-After: 1 s is honoured (within the cap). */
    double start = now_ms();
    httpbatch_item it = run_one(exec, "GET", "/seq/c-ra1?s=503,200&retry_after=1", false);
    CHECK(it.status == 200 && it.attempts == 2);
    CHECK(now_ms() - start >= 900.0);
    /* Retry-After: 30 s exceeds the 1 s cap: the 503 comes back at once, not retried. */
    start = now_ms();
    it = run_one(exec, "GET", "/seq/c-ra2?s=503,200&retry_after=30", false);
    CHECK(it.status == 503 && it.attempts == 1);
    CHECK(now_ms() - start < 900.0);
    httpbatch_pool_stats ps = pool_stats(pool);
    CHECK(ps.retry_after_waits == 1 && ps.retry_after_capped == 1);

    /* POST is not retried unless the request opts in. */
    it = run_one(exec, "POST", "/seq/c-post1?s=503,200", false);
    CHECK(it.status == 503 && it.attempts == 1);
    it = run_one(exec, "POST", "/seq/c-post2?s=503,200", true);
    CHECK(it.status == 200 && it.attempts == 2);

    /* The policy can be replaced at run time: one attempt only. */
    CHECK_OK(httpbatch_retry_policy_set_max_attempts(policy, 1));
    CHECK_OK(httpbatch_pool_set_retry_policy(pool, policy));
    it = run_one(exec, "GET", "/seq/c-none?s=503,200", false);
    CHECK(it.status == 503 && it.attempts == 1);

    /* Bad policy values. */
    CHECK_RC(httpbatch_retry_policy_set_max_attempts(policy, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_retry_policy_set_jitter(policy, 99), HTTPBATCH_RESULT_INVALID_ARGUMENT);
    CHECK_RC(httpbatch_retry_policy_set_budget(policy, 1e9, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_retry_policy_set_retry_statuses(policy, NULL, 2),
             HTTPBATCH_RESULT_NULL_ARGUMENT);
    const uint16_t statuses[2] = {429, 503};
    CHECK_OK(httpbatch_retry_policy_set_retry_statuses(policy, statuses, 2));
    CHECK_OK(httpbatch_retry_policy_set_budget(policy, 0.2, 1.0));
    CHECK_OK(httpbatch_retry_policy_set_retry_transport_errors(policy, false));
    CHECK_OK(httpbatch_retry_policy_set_retry_non_idempotent(policy, true));
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_retry_policy_last_error(policy, msg, sizeof msg, &len));
    CHECK(len > 0);

    httpbatch_retry_policy_free(policy);
    httpbatch_pool_free(pool);
    httpbatch_executor_free(exec);
}

static void per_host_in_flight_cap(void) {
    test_server own;
    test_server_start(&own);
    httpbatch_pool *pool = make_pool(2, NULL);
    httpbatch_executor *exec = stack_executor(8, pool, NULL);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 20; i++)
        add_get(batch, &own, "/delay/20");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_batch_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_batch_result_summary(res, &s));
    CHECK(s.succeeded == 20);
    CHECK(test_server_get_stats(&own).max_in_flight == 2);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    httpbatch_pool_free(pool);
    CHECK(test_server_stop(&own) == 0);
}

static void per_host_limiter_buckets(void) {
    httpbatch_limiter *lim = NULL;
    CHECK_OK(httpbatch_limiter_new(1000.0, 1000, 100, &lim));
    CHECK_OK(httpbatch_limiter_set_per_host(lim, 50.0, 1000, 1));
    CHECK_RC(httpbatch_limiter_set_per_host(lim, 50.0, 1000, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    httpbatch_pool *pool = make_pool(8, NULL);
    httpbatch_executor *exec = stack_executor(4, pool, lim);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 6; i++)
        add_get(batch, &server, "/ok");
    double start = now_ms();
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(now_ms() - start >= 80.0); /* 5 × 20 ms at 50/s with burst 1 */
    char origin[128];
    server_url(&server, "/", origin, sizeof origin);
    httpbatch_limiter_stats hs;
    memset(&hs, 0, sizeof hs);
    hs.struct_size = sizeof hs;
    CHECK_OK(httpbatch_executor_limiter_host_stats(exec, origin, strlen(origin), &hs));
    CHECK(hs.admitted == 6 && hs.throttled >= 3 && hs.burst == 1); /* 4 workers start together */
    CHECK_RC(httpbatch_executor_limiter_host_stats(exec, "http://127.0.0.1:1/", 19, &hs),
             HTTPBATCH_RESULT_NOT_FOUND);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    httpbatch_pool_free(pool);
    httpbatch_limiter_free(lim);
}

static void warmup_reports_per_host(void) {
    test_server own, gone;
    test_server_start(&own);
    test_server_start(&gone);
    char good[128], bad[128], hosts[300];
    server_url(&own, "/", good, sizeof good);
    server_url(&gone, "/", bad, sizeof bad);
    CHECK(test_server_stop(&gone) == 0);
    snprintf(hosts, sizeof hosts, "%s\n%s\n", good, bad);

    httpbatch_pool *pool = make_pool(8, NULL);
    httpbatch_warmup_report *report = NULL;
    CHECK_OK(httpbatch_pool_warmup(pool, hosts, strlen(hosts), 4, &report));
    size_t n = 0;
    CHECK_OK(httpbatch_warmup_report_len(report, &n));
    CHECK(n == 2);
    httpbatch_host_warmup h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    CHECK_OK(httpbatch_warmup_report_host(report, 0, &h));
    CHECK(h.requested == 4 && h.opened == 4 && h.ok == 4 && h.failed == 0 && h.live == 4);
    CHECK(h.origin_len > 0 && memcmp(h.origin, "http://127.0.0.1:", 17) == 0);
    CHECK(h.errors_len == 0 && h.errors[0] == '\0');
    CHECK_OK(httpbatch_warmup_report_host(report, 1, &h));
    CHECK(h.ok == 0 && h.failed == 4 && h.opened == 0);
    CHECK(h.errors_len > 0 && strstr(h.errors, "refused") != NULL);
    CHECK_RC(httpbatch_warmup_report_host(report, 2, &h), HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE);
    CHECK(test_server_get_stats(&own).accepted == 4);

    /* Warm connections are reused by the batch that follows: no new socket. */
    httpbatch_executor *exec = stack_executor(4, pool, NULL);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 4; i++)
        add_get(batch, &own, "/ok");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(test_server_get_stats(&own).accepted == 4);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
    httpbatch_warmup_report_free(report);
    httpbatch_pool_free(pool);
    CHECK(test_server_stop(&own) == 0);
}

static void health_checks_open_the_circuit(void) {
    test_server gone;
    test_server_start(&gone);
    char good[128], bad[128], hosts[300];
    server_url(&server, "/", good, sizeof good);
    server_url(&gone, "/", bad, sizeof bad);
    CHECK(test_server_stop(&gone) == 0);
    snprintf(hosts, sizeof hosts, "%s\n%s", good, bad);

    httpbatch_pool *pool = make_pool(8, NULL);
    CHECK_RC(httpbatch_pool_host_health(pool, good, strlen(good), NULL),
             HTTPBATCH_RESULT_NOT_FOUND);
    CHECK_OK(httpbatch_pool_enable_health_check(pool, hosts, strlen(hosts), 30, "/ok", 3));
    /* Enabling again reconfigures the one thread. */
    CHECK_OK(httpbatch_pool_enable_health_check(pool, hosts, strlen(hosts), 30, "/ok", 3));
    httpbatch_host_health h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(httpbatch_pool_host_health(pool, bad, strlen(bad), &h));
        if (h.state == HTTPBATCH_HEALTH_STATE_UNHEALTHY)
            break;
        sleep_ms(20);
    }
    CHECK(h.state == HTTPBATCH_HEALTH_STATE_UNHEALTHY);
    CHECK(h.consecutive_failures >= 2 && h.failed_checks >= 2 && h.unhealthy_since_unix_ms > 0);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_pool_host_last_probe_error(pool, bad, strlen(bad), msg, sizeof msg, &len));
    CHECK(len > 0);
    CHECK_OK(httpbatch_pool_host_health(pool, good, strlen(good), &h));
    CHECK(h.state == HTTPBATCH_HEALTH_STATE_HEALTHY && h.unhealthy_since_unix_ms == 0);

    /* Requests to the unhealthy host fail fast with CIRCUIT_OPEN. */
    httpbatch_executor *exec = stack_executor(2, pool, NULL);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    CHECK_OK(httpbatch_batch_add_get(batch, bad, strlen(bad)));
    add_get(batch, &server, "/ok");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item it = get_item(res, 0);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_CIRCUIT_OPEN);
    CHECK(get_item(res, 1).status == 200);
    httpbatch_pool_stats ps = pool_stats(pool);
    CHECK(ps.circuit_open >= 1);
    CHECK_OK(httpbatch_pool_disable_health_check(pool));
    CHECK_OK(httpbatch_pool_disable_health_check(pool));
    CHECK_OK(httpbatch_pool_reset_stats(pool));
    ps = pool_stats(pool);
    CHECK(ps.requests == 0 && ps.circuit_open == 0);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    /* Freeing the pool handle first: the executor keeps its own reference. */
    httpbatch_pool_free(pool);
    httpbatch_executor_free(exec);
}

static void bad_stack_inputs(void) {
    httpbatch_limiter *lim = (httpbatch_limiter *)&lim; /* must be overwritten with NULL */
    CHECK_RC(httpbatch_limiter_new(0.0, 1000, 1, &lim), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK(lim == NULL);
    CHECK_RC(httpbatch_limiter_new(10.0, 0, 1, &lim), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_limiter_new(10.0, 1000, 0, &lim), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_limiter_new(-1.0, 1000, 1, &lim), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_limiter_new(1.0, 1000, 1, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_OK(httpbatch_limiter_new(0.5, 1000, 1, &lim));
    CHECK_RC(httpbatch_limiter_set_rate(lim, 0.0, 1000), HTTPBATCH_RESULT_INVALID_CONFIG);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_limiter_last_error(lim, msg, sizeof msg, &len));
    CHECK(len > 0);
    CHECK_RC(httpbatch_limiter_set_burst(lim, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    httpbatch_limiter_stats s;
    s.struct_size = 1;
    CHECK_RC(httpbatch_limiter_stats_get(lim, &s), HTTPBATCH_RESULT_BAD_STRUCT_SIZE);
    CHECK_RC(httpbatch_limiter_stats_get(NULL, &s), HTTPBATCH_RESULT_NULL_ARGUMENT);

    httpbatch_pool_builder *pb = NULL;
    CHECK_OK(httpbatch_pool_builder_new(&pb));
    CHECK_RC(httpbatch_pool_builder_set_max_in_flight_per_host(pb, 0),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_pool_builder_set_health_check(pb, 0, 0, 1), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_pool_builder_set_warmup(pb, "/", 1, 0), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_pool_builder_set_retry_policy(pb, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_OK(httpbatch_pool_builder_last_error(pb, msg, sizeof msg, &len));
    CHECK(strstr(msg, "policy") != NULL);
    httpbatch_pool *pool = NULL;
    CHECK_OK(httpbatch_pool_builder_build(pb, &pool));
    CHECK_RC(httpbatch_pool_enable_health_check(pool, "x", 1, 0, "/", 1),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_pool_warmup(pool, "\xff", 1, 1, NULL), HTTPBATCH_RESULT_INVALID_UTF8);

    /* Client settings belong to the pool when there is one. */
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_timeout_ms(b, 1000));
    CHECK_OK(httpbatch_executor_builder_set_pool(b, pool));
    httpbatch_executor *exec = (httpbatch_executor *)&exec;
    CHECK_RC(httpbatch_executor_builder_build(b, &exec), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK(exec == NULL);

    httpbatch_pool_builder_free(NULL);
    httpbatch_pool_free(NULL);
    httpbatch_limiter_free(NULL);
    httpbatch_retry_policy_free(NULL);
    httpbatch_warmup_report_free(NULL);
    httpbatch_pool_free(pool);
    httpbatch_limiter_free(lim);
}

int main(void) {
    test_server_start(&server);
    RUN(limiter_spaces_requests);
    RUN(retries_pay_a_token_each);
    RUN(retry_after_cap_and_opt_in);
    RUN(per_host_in_flight_cap);
    RUN(per_host_limiter_buckets);
    RUN(warmup_reports_per_host);
    RUN(health_checks_open_the_circuit);
    RUN(bad_stack_inputs);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_stack");
}
