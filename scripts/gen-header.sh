#!/usr/bin/env bash
# Regenerates include/httpbatch.h with the pinned cbindgen (scripts/cbindgen-version).
# Usage: scripts/gen-header.sh [OUTPUT]   (default include/httpbatch.h)
# Installs the pinned cbindgen with `cargo install --locked` when it is missing or another version.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pin="$(tr -d '[:space:]' < "$root/scripts/cbindgen-version")"
out="${1:-$root/include/httpbatch.h}"
cbindgen_bin="$(command -v cbindgen || true)"
if [[ -z "$cbindgen_bin" ]] || [[ "$("$cbindgen_bin" --version)" != "cbindgen $pin" ]]; then
    echo "installing cbindgen $pin" >&2
    cargo install cbindgen --version "$pin" --locked --quiet >&2
    cbindgen_bin="$(command -v cbindgen || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cbindgen")"
fi
cd "$root"
"$cbindgen_bin" --quiet --config cbindgen.toml --crate httpbatch --output "$out"
