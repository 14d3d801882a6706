/* TLS and proxy options through the C ABI (httpbatch_net_options): bad inputs are codes with a
 * message, a TLS failure is HTTPBATCH_RESULT_TLS, and the proxy options reach the executor's and
 * the pool's clients (a proxy on a dead port refuses every request unless no-proxy lets it by). */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

static test_server server;
static char dead_proxy[64];

static httpbatch_item run_get(httpbatch_executor *exec, const char *url) {
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    CHECK_OK(httpbatch_batch_add_get(batch, url, strlen(url)));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item item = get_item(res, 0);
    /* The item's pointers die with the result; the checks below read only numbers. */
    item.body = NULL;
    item.url = NULL;
    item.error_message = NULL;
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    return item;
}

static httpbatch_net_options *proxy_options(const char *no_proxy) {
    httpbatch_net_options *o = NULL;
    CHECK_OK(httpbatch_net_options_new(&o));
    CHECK_OK(httpbatch_net_options_set_proxy_from_env(o, false));
    CHECK_OK(httpbatch_net_options_set_proxy(o, dead_proxy, strlen(dead_proxy)));
    if (no_proxy != NULL)
        CHECK_OK(httpbatch_net_options_set_no_proxy(o, no_proxy, strlen(no_proxy)));
    return o;
}

static httpbatch_executor *executor_with(httpbatch_net_options *o) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 2));
    CHECK_OK(httpbatch_executor_builder_set_net_options(b, o));
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL)
        exit(2);
    return e;
}

static void bad_options_are_refused_with_a_message(void) {
    CHECK_RC(httpbatch_net_options_new(NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_RC(httpbatch_net_options_set_proxy(NULL, "", 0), HTTPBATCH_RESULT_NULL_ARGUMENT);
    CHECK_RC(httpbatch_executor_builder_set_net_options(NULL, NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_net_options *o = NULL;
    CHECK_OK(httpbatch_net_options_new(&o));
    const char *junk = "-----BEGIN NOTHING-----";
    CHECK_RC(httpbatch_net_options_add_root_certificates_pem(o, (const uint8_t *)junk, strlen(junk)),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    char msg[256];
    size_t len = 0;
    CHECK_OK(httpbatch_net_options_last_error(o, msg, sizeof msg, &len));
    CHECK(strstr(msg, "PEM") != NULL && strlen(msg) == len);
    const char *path = "/nonexistent/ca.pem";
    CHECK_RC(httpbatch_net_options_add_root_certificates_file(o, path, strlen(path)),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_net_options_set_client_certificate_files(o, path, strlen(path), path,
                                                                 strlen(path)),
             HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_net_options_set_min_tls_version(o, 10), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_OK(httpbatch_net_options_set_min_tls_version(o, HTTPBATCH_TLS_1_3));
    CHECK_RC(httpbatch_net_options_set_proxy(o, "ftp://p:1", 9), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_RC(httpbatch_net_options_set_builtin_roots(o, false), HTTPBATCH_RESULT_INVALID_CONFIG);
    CHECK_OK(httpbatch_net_options_set_danger_accept_invalid_certs(o, true));
    httpbatch_net_options_free(o);
    httpbatch_net_options_free(NULL);
}

static void https_to_a_plain_port_is_a_tls_error(void) {
    httpbatch_net_options *o = NULL;
    CHECK_OK(httpbatch_net_options_new(&o));
    CHECK_OK(httpbatch_net_options_set_proxy_from_env(o, false));
    httpbatch_executor *exec = executor_with(o);
    httpbatch_net_options_free(o);
    char url[256];
    server_url(&server, "/ok", url, sizeof url);
    char https[260] = "https";
    strcat(https, url + 4); /* http://… → https://… */
    httpbatch_item item = run_get(exec, https);
    CHECK(item.outcome == HTTPBATCH_OUTCOME_ERROR);
    CHECK_RC(item.code, HTTPBATCH_RESULT_TLS);
    httpbatch_executor_free(exec);
}

static void the_executor_uses_the_proxy_unless_no_proxy_matches(void) {
    char url[256];
    server_url(&server, "/ok", url, sizeof url);

    httpbatch_net_options *o = proxy_options(NULL);
    httpbatch_executor *exec = executor_with(o);
    httpbatch_net_options_free(o);
    httpbatch_item item = run_get(exec, url);
    CHECK(item.outcome == HTTPBATCH_OUTCOME_ERROR);
    CHECK_RC(item.code, HTTPBATCH_RESULT_CONNECT_REFUSED);
    httpbatch_executor_free(exec);

    o = proxy_options("localhost, 127.0.0.0/8");
    exec = executor_with(o);
    httpbatch_net_options_free(o);
    item = run_get(exec, url);
    CHECK(item.outcome == HTTPBATCH_OUTCOME_RESPONSE);
    CHECK(item.status == 200);
    httpbatch_executor_free(exec);
}

static void the_pool_uses_the_proxy(void) {
    httpbatch_net_options *o = proxy_options(NULL);
    httpbatch_retry_policy *policy = NULL;
    CHECK_OK(httpbatch_retry_policy_new(&policy));
    CHECK_OK(httpbatch_retry_policy_set_max_attempts(policy, 1));
    httpbatch_pool_builder *pb = NULL;
    CHECK_OK(httpbatch_pool_builder_new(&pb));
    CHECK_OK(httpbatch_pool_builder_set_retry_policy(pb, policy));
    CHECK_OK(httpbatch_pool_builder_set_net_options(pb, o));
    httpbatch_net_options_free(o);
    httpbatch_retry_policy_free(policy);
    httpbatch_pool *pool = NULL;
    CHECK_OK(httpbatch_pool_builder_build(pb, &pool));
    if (pool == NULL)
        exit(2);
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_pool(b, pool));
    httpbatch_executor *exec = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &exec));
    if (exec == NULL)
        exit(2);
    char url[256];
    server_url(&server, "/ok", url, sizeof url);
    httpbatch_item item = run_get(exec, url);
    CHECK_RC(item.code, HTTPBATCH_RESULT_CONNECT_REFUSED);
    httpbatch_executor_free(exec);
    httpbatch_pool_free(pool);
}

int main(void) {
    test_server_start(&server);
    /* A port nothing listens on: a second server, started and stopped. */
    test_server gone;
    test_server_start(&gone);
    unsigned port = (unsigned)gone.port;
    CHECK(test_server_stop(&gone) == 0);
    snprintf(dead_proxy, sizeof dead_proxy, "http://127.0.0.1:%u", port);

    RUN(bad_options_are_refused_with_a_message);
    RUN(https_to_a_plain_port_is_a_tls_error);
    RUN(the_executor_uses_the_proxy_unless_no_proxy_matches);
    RUN(the_pool_uses_the_proxy);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_net");
}
