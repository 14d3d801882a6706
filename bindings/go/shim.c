#include "shim.h"
#include "_cgo_export.h"

static void hbgo_progress(const httpbatch_progress *progress, void *user) {
    httpbatchGoProgress((httpbatch_progress *)progress, (uintptr_t)user);
}

httpbatch_result hbgo_set_progress(httpbatch_batch *batch, uintptr_t handle, uint64_t min_interval_ms) {
    return httpbatch_batch_set_progress(batch, hbgo_progress, (void *)handle, min_interval_ms);
}

static void hbgo_event(const httpbatch_event *event, void *user) {
    httpbatchGoEvent((httpbatch_event *)event, (uintptr_t)user);
}

httpbatch_result hbgo_set_on_event(httpbatch_batch *batch, uintptr_t handle) {
    return httpbatch_batch_set_on_event(batch, hbgo_event, (void *)handle);
}

static void hbgo_item(size_t index, const httpbatch_item *item, const httpbatch_header *headers,
                      void *user) {
    httpbatchGoItem(index, (httpbatch_item *)item, (httpbatch_header *)headers, (uintptr_t)user);
}

httpbatch_result hbgo_execute_streaming(const httpbatch_executor *executor, httpbatch_batch *batch,
                                        uintptr_t handle, httpbatch_batch_summary *summary_out) {
    return httpbatch_executor_execute_streaming(executor, batch, hbgo_item, (void *)handle,
                                                summary_out);
}

static void hbgo_health(const char *origin, size_t origin_len, httpbatch_health_state old_state,
                        httpbatch_health_state new_state, void *user) {
    httpbatchGoHealth((char *)origin, origin_len, old_state, new_state, (uintptr_t)user);
}

httpbatch_result hbgo_set_on_health_change(httpbatch_pool_builder *builder, uintptr_t id) {
    return httpbatch_pool_builder_set_on_health_change(builder, hbgo_health, (void *)id);
}
