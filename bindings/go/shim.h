/* C glue for the Go package: cgo cannot take the address of an exported Go function directly,
 * so the trampolines for the library's callbacks live here and call the exported Go functions.
 * `handle` is a runtime/cgo.Handle (progress, events, streaming: they run on the calling
 * goroutine's thread during the call) or a registry id (health changes: the health thread). */
#ifndef HTTPBATCH_GO_SHIM_H
#define HTTPBATCH_GO_SHIM_H
#include <stdint.h>
#include "httpbatch.h"

httpbatch_result hbgo_set_progress(httpbatch_batch *batch, uintptr_t handle, uint64_t min_interval_ms);
httpbatch_result hbgo_set_on_event(httpbatch_batch *batch, uintptr_t handle);
httpbatch_result hbgo_execute_streaming(const httpbatch_executor *executor, httpbatch_batch *batch,
                                        uintptr_t handle, httpbatch_batch_summary *summary_out);
httpbatch_result hbgo_set_on_health_change(httpbatch_pool_builder *builder, uintptr_t id);

#endif
