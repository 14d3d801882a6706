#!/usr/bin/env bash
# Instructions per logical request of request coalescing, counted by callgrind (machine load
# does not change them): the bench client (benches/coalesce.rs, 50 workers, JSON-RPC batches of
# 50) runs under callgrind at two sizes against `httpbatch serve` in another process; the
# marginal cost is (I(big) - I(small)) / (big - small), coalesced and plain (one HTTP request
# per call).
#
#   scripts/bench-coalesce-callgrind.sh [SMALL] [BIG]   (default 1000 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
small_n="${1:-1000}"
big_n="${2:-5000}"
cargo build --release --quiet --bin httpbatch
cargo bench --no-run --quiet --bench coalesce 2>/dev/null
bench=$(ls -t target/release/deps/coalesce-* | grep -v '\.d$' | head -1)
log=$(mktemp)
target/release/httpbatch serve --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q http "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$log" | head -1 | sed 's:/*$::')"
count() {
    local out
    out=$(mktemp)
    COALESCE_URL="$url" COALESCE_MODE="$1" COALESCE_N="$2" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    rm -f "$out"
}
for mode in coalesced plain; do
    a=$(count "$mode" "$small_n")
    b=$(count "$mode" "$big_n")
    echo "$mode: $a instructions at N=$small_n, $b at N=$big_n," \
        "marginal $(( (b - a) / (big_n - small_n) )) per logical request"
done
