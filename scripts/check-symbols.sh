#!/usr/bin/env bash
# The C ABI only grows: checks the symbols exported by the built libhttpbatch.so against the
# committed list include/httpbatch.symbols (one name a line, sorted).
#   - a listed symbol the library no longer exports fails (an ABI break: never remove one);
#   - an exported symbol missing from the list fails too, until it is added with
#     `scripts/check-symbols.sh --update` (which only ever appends, and keeps the list sorted).
# Usage: scripts/check-symbols.sh [--update] [LIBRARY]   (default: target/release/libhttpbatch.so,
# built with `cargo build --release --lib`)
# HTTPBATCH_SYMBOLS names the lists to check against, separated by spaces (their union; --update
# appends to the last): for the library built with the redis feature, include/httpbatch.symbols
# and include/httpbatch-redis.symbols, which holds only what that feature adds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
update=0
if [ "${1:-}" = --update ]; then
    update=1
    shift
fi
lib="${1:-${CARGO_TARGET_DIR:-$root/target}/release/libhttpbatch.so}"
read -r -a lists <<<"${HTTPBATCH_SYMBOLS:-$root/include/httpbatch.symbols}"
list="${lists[${#lists[@]}-1]}"
[ -f "$lib" ] || { echo "check-symbols: $lib not found (cargo build --release --lib)" >&2; exit 2; }
exported="$(nm -D --defined-only "$lib" | awk '{print $NF}' | LC_ALL=C sort -u)"
listed="$(for l in "${lists[@]}"; do [ ! -f "$l" ] || cat "$l"; done | LC_ALL=C sort -u)"
removed="$(LC_ALL=C comm -23 <(echo "$listed") <(echo "$exported") | sed '/^$/d')"
added="$(LC_ALL=C comm -13 <(echo "$listed") <(echo "$exported") | sed '/^$/d')"
if [ -n "$removed" ]; then
    echo "check-symbols: symbols removed from the C ABI (never remove one; deprecate it instead):" >&2
    echo "$removed" | sed 's/^/  /' >&2
    exit 1
fi
if [ -n "$added" ]; then
    if [ $update = 1 ]; then
        own="$( [ -f "$list" ] && cat "$list" || true)"
        printf '%s\n%s\n' "$own" "$added" | sed '/^$/d' | LC_ALL=C sort -u >"$list.new"
        mv "$list.new" "$list"
        echo "check-symbols: added $(echo "$added" | wc -l) symbols to $list"
        exit 0
    fi
    echo "check-symbols: new exported symbols, not in ${lists[*]}" >&2
    echo "(add them with scripts/check-symbols.sh --update and commit the list):" >&2
    echo "$added" | sed 's/^/  /' >&2
    exit 1
fi
echo "check-symbols: $(echo "$exported" | wc -l) symbols, none removed"
