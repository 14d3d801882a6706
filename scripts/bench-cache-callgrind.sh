#!/usr/bin/env bash
# Instructions per request of a cache hit (memory and disk stores) and of a plain wire GET of
# the same 64-byte body, counted by callgrind (machine load does not change them): the client
# runs under callgrind at N=500 and N=2000 against `httpbatch serve` in another process, and
# the marginal cost is (I(2000) - I(500)) / 1500.
#
#   scripts/bench-cache-callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin httpbatch
cargo bench --no-run --quiet --bench cache 2>/dev/null
bench=$(ls -t target/release/deps/cache-* | grep -v '\.d$' | head -1)
log=$(mktemp)
target/release/httpbatch serve --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q http "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$log" | head -1 | sed 's:/*$::')"
count() {
    local out
    out=$(mktemp)
    CACHE_URL="$url" CACHE_MODE="$1" CACHE_N="$2" valgrind --tool=callgrind \
        --callgrind-out-file="$out" "$bench" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    rm -f "$out"
}
for mode in mem disk wire; do
    small=$(count "$mode" 500)
    big=$(count "$mode" 2000)
    echo "$mode: $small instructions at N=500, $big at N=2000, marginal $(( (big - small) / 1500 )) per request"
done
