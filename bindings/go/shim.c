#include "shim.h"
#include "_cgo_export.h"

static void hbgo_progress(const httpbatch_progress *progress, void *user) {
    httpbatchGoProgress((httpbatch_progress *)progress, (uintptr_t)user);
}

httpbatch_result hbgo_set_progress(httpbatch_batch *batch, uintptr_t handle, uint64_t min_interval_ms) {
    return httpbatch_batch_set_progress(batch, hbgo_progress, (void *)handle, min_interval_ms);
}
