#!/usr/bin/env bash
# Regenerates what comes from the error-kind table (src/error/table.rs) and the C interface's own
# codes (src/ffi/interface_codes.rs): src/ffi/codes.rs (httpbatch_result), bindings/go/codes.go
# (the Go Code constants and Err sentinels), then include/httpbatch.h with the pinned cbindgen.
# A normal build fails while those files are out of date; this is how to bring them up to date.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# build.rs writes the generated files instead of checking them when HTTPBATCH_WRITE_CODES=1.
HTTPBATCH_WRITE_CODES=1 cargo check --lib --quiet
"$root/scripts/gen-header.sh"
echo "codes: src/ffi/codes.rs, bindings/go/codes.go and include/httpbatch.h regenerated"
