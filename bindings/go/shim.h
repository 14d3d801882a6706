/* C glue for the Go package: cgo cannot take the address of an exported Go function directly,
 * so the progress trampoline lives here and calls the exported Go function. */
#ifndef HTTPBATCH_GO_SHIM_H
#define HTTPBATCH_GO_SHIM_H
#include <stdint.h>
#include "httpbatch.h"

/* Registers the Go progress trampoline on `batch`; `handle` is a runtime/cgo.Handle. */
httpbatch_result hbgo_set_progress(httpbatch_batch *batch, uintptr_t handle, uint64_t min_interval_ms);

#endif
