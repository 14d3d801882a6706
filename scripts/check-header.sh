#!/usr/bin/env bash
# Fails when include/httpbatch.h differs by a byte from what the pinned cbindgen generates now.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp --suffix=.h)"
trap 'rm -f "$tmp"' EXIT
"$root/scripts/gen-header.sh" "$tmp"
if ! cmp -s "$tmp" "$root/include/httpbatch.h"; then
    echo "include/httpbatch.h is out of date: run scripts/gen-header.sh and commit it" >&2
    diff -u "$root/include/httpbatch.h" "$tmp" | head -40 >&2 || true
    exit 1
fi
echo "header: include/httpbatch.h matches cbindgen $(tr -d '[:space:]' < "$root/scripts/cbindgen-version")"
