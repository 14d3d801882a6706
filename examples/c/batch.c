/* A complete C program using httpbatch: fetch URLs in parallel, print one line per URL in input
 * order, then the totals. Copy it and build it with the Makefile beside it:
 *
 *     scripts/install-c.sh "$HOME/.local"
 *     PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig" make -C examples/c
 *     LD_LIBRARY_PATH="$HOME/.local/lib" examples/c/batch https://example.com/ ...
 *
 * To try it locally, run the CLI's test server (`httpbatch serve --port 8080`) and give it URLs
 * such as http://127.0.0.1:8080/ok, /bytes/1024, /status/404, /delay/50 and /reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <httpbatch.h>

/* Prints the failing call, its code and the object's message, and exits. */
#define TRY(call, last_error_fn, obj)                                                     \
    do {                                                                                  \
        httpbatch_result rc_ = (call);                                                    \
        if (rc_ != HTTPBATCH_RESULT_OK) {                                                 \
            char msg_[256] = "";                                                          \
            last_error_fn((obj), msg_, sizeof msg_, NULL);                                \
            fprintf(stderr, "%s: %s (%s)\n", #call, httpbatch_result_str(rc_), msg_);     \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static void on_progress(const httpbatch_progress *p, void *user) {
    (void)user;
    fprintf(stderr, "\r%3.0f%% %llu/%llu", p->percent, (unsigned long long)p->completed,
            (unsigned long long)p->total);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL...\n", argv[0]);
        return 2;
    }

    httpbatch_executor_builder *builder = NULL;
    httpbatch_executor *executor = NULL;
    if (httpbatch_executor_builder_new(&builder) != HTTPBATCH_RESULT_OK)
        return 1;
    TRY(httpbatch_executor_builder_set_workers(builder, 16), httpbatch_executor_builder_last_error,
        builder);
    TRY(httpbatch_executor_builder_set_timeout_ms(builder, 10000),
        httpbatch_executor_builder_last_error, builder);
    /* _build consumes the builder whatever happens. */
    httpbatch_result rc = httpbatch_executor_builder_build(builder, &executor);
    if (rc != HTTPBATCH_RESULT_OK) {
        fprintf(stderr, "build: %s\n", httpbatch_result_str(rc));
        return 1;
    }

    httpbatch_batch *batch = NULL;
    if (httpbatch_batch_new(&batch) != HTTPBATCH_RESULT_OK)
        return 1;
    for (int i = 1; i < argc; i++)
        TRY(httpbatch_batch_add_get(batch, argv[i], strlen(argv[i])), httpbatch_batch_last_error,
            batch);
    TRY(httpbatch_batch_set_deadline_ms(batch, 60000), httpbatch_batch_last_error, batch);
    TRY(httpbatch_batch_set_progress(batch, on_progress, NULL, 100), httpbatch_batch_last_error,
        batch);

    httpbatch_batch_result *result = NULL;
    TRY(httpbatch_executor_execute(executor, batch, &result), httpbatch_executor_last_error,
        executor);
    fputc('\n', stderr);

    size_t n = 0;
    httpbatch_batch_result_len(result, &n);
    for (size_t i = 0; i < n; i++) {
        httpbatch_item item;
        item.struct_size = sizeof item; /* always set before the call */
        if (httpbatch_batch_result_item(result, i, &item) != HTTPBATCH_RESULT_OK)
            continue;
        if (item.outcome == HTTPBATCH_OUTCOME_RESPONSE)
            printf("%zu: %u, %zu bytes, %.1f ms\n", i, (unsigned)item.status, item.body_len,
                   (double)item.total_us / 1000.0);
        else
            printf("%zu: %s: %s\n", i, httpbatch_result_str(item.code), item.error_message);
    }
    httpbatch_batch_summary summary;
    summary.struct_size = sizeof summary;
    if (httpbatch_batch_result_summary(result, &summary) == HTTPBATCH_RESULT_OK)
        printf("%llu requests: %llu succeeded, %llu errors, p50 %.1f ms, %.0f req/s\n",
               (unsigned long long)summary.total, (unsigned long long)summary.succeeded,
               (unsigned long long)summary.errors, (double)summary.latency.p50_us / 1000.0,
               summary.throughput);

    httpbatch_batch_result_free(result);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(executor);
    return 0;
}
