/* The response cache and request-body compression through the C ABI: a memory + disk cache
 * on the executor builder, the second batch answered from it (fresh hit, 304 revalidation),
 * the disk cache reused by a second executor with only-if-cached, and gzipped bodies. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static test_server server;
static char dir[256];

static httpbatch_executor *cached_executor(uint64_t mem, uint32_t mode) {
    httpbatch_executor_builder *b = NULL;
    CHECK_OK(httpbatch_executor_builder_new(&b));
    CHECK_OK(httpbatch_executor_builder_set_workers(b, 1));
    if (mem > 0)
        CHECK_OK(httpbatch_executor_builder_set_cache_memory(b, mem, 1000));
    CHECK_OK(httpbatch_executor_builder_set_cache_dir(b, dir, strlen(dir), 1 << 20));
    CHECK_OK(httpbatch_executor_builder_set_cache_mode(b, mode));
    CHECK_OK(httpbatch_executor_builder_set_compress_body(b, 1024));
    CHECK_RC(httpbatch_executor_builder_set_cache_mode(b, 77), HTTPBATCH_RESULT_INVALID_CONFIG);
    httpbatch_executor *e = NULL;
    CHECK_OK(httpbatch_executor_builder_build(b, &e));
    if (e == NULL)
        exit(2);
    return e;
}

static httpbatch_cache_stats cache_stats(httpbatch_executor *e) {
    httpbatch_cache_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_executor_cache_stats(e, &s));
    return s;
}

/* A fresh resource and one that must be revalidated; `etag_status` is what the second gets. */
static void run_two(httpbatch_executor *e, uint32_t etag_status) {
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/cacheable/c-fresh?cc=max-age%3D60");
    add_get(batch, &server, "/cacheable/c-etag?cc=no-cache&etag=1");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(e, batch, &res));
    CHECK(get_item(res, 0).status == 200);
    CHECK(get_item(res, 1).status == etag_status);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
}

static void second_batch_comes_from_the_cache(void) {
    httpbatch_executor *e = cached_executor(1 << 20, HTTPBATCH_CACHE_MODE_DEFAULT);
    uint64_t before = test_server_get_stats(&server).requests;
    run_two(e, 200);
    run_two(e, 200);
    httpbatch_cache_stats s = cache_stats(e);
    CHECK(s.misses == 2 && s.hits == 1 && s.revalidations == 1 && s.not_modified == 1);
    CHECK(test_server_get_stats(&server).requests - before == 3);
    httpbatch_executor_free(e);

    /* Another executor on the same directory, offline: the fresh one from disk, the one that
     * needs revalidation a 504 made by the cache; nothing on the wire. */
    e = cached_executor(0, HTTPBATCH_CACHE_MODE_ONLY_IF_CACHED);
    before = test_server_get_stats(&server).requests;
    run_two(e, 504);
    s = cache_stats(e);
    CHECK(s.hits == 1 && s.misses == 1);
    CHECK(test_server_get_stats(&server).requests == before);
    httpbatch_executor_free(e);
}

static void bodies_are_gzipped(void) {
    httpbatch_executor *e = cached_executor(1 << 20, HTTPBATCH_CACHE_MODE_DEFAULT);
    static char body[20000];
    memset(body, 'q', sizeof body);
    char url[256];
    server_url(&server, "/gunzip-echo", url, sizeof url);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    httpbatch_request *req = NULL;
    CHECK_OK(httpbatch_request_new(&req));
    CHECK_OK(httpbatch_request_set_method(req, "POST", 4));
    CHECK_OK(httpbatch_request_set_url(req, url, strlen(url)));
    CHECK_OK(httpbatch_request_set_body(req, (const uint8_t *)body, sizeof body));
    CHECK_OK(httpbatch_batch_add(batch, req));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(e, batch, &res));
    httpbatch_item item = get_item(res, 0);
    CHECK(item.status == 200);
    CHECK(item.body_len == sizeof body && memcmp(item.body, body, sizeof body) == 0);
    bool gzip = false;
    for (size_t h = 0; h < item.header_count; h++) {
        const char *name, *value;
        size_t nl, vl;
        CHECK_OK(httpbatch_batch_result_header(res, 0, h, &name, &nl, &value, &vl));
        if (nl == 18 && memcmp(name, "x-content-encoding", 18) == 0)
            gzip = vl == 4 && memcmp(value, "gzip", 4) == 0;
    }
    CHECK(gzip); /* the server received it gzipped and decoded it byte for byte */
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_request_free(req);
    httpbatch_executor_free(e);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/httpbatch-c-cache-%ld", (long)getpid());
    test_server_start(&server);
    RUN(second_batch_comes_from_the_cache);
    RUN(bodies_are_gzipped);
    CHECK(test_server_stop(&server) == 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_exit("test_cache");
}
