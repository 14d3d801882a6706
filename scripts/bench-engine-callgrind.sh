#!/usr/bin/env bash
# Instructions per request of W1 through BatchExecutor, counted by callgrind (machine load does
# not change them): the client runs under callgrind at N=500 and N=2000 against `httpbatch serve`
# in another process, and the marginal cost is (I(2000) - I(500)) / 1500.
#
#   scripts/bench-engine-callgrind.sh [CHECKOUT]   (default: this checkout)
#
# CHECKOUT may be another worktree with benches/engine.rs copied in, to compare before and after.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="${1:-$here}"
cd "$tree"
cargo build --release --quiet --bin httpbatch
cargo bench --no-run --quiet --bench engine 2>/dev/null
bench=$(ls -t target/release/deps/engine-* | grep -v '\.d$' | head -1)
log=$(mktemp)
target/release/httpbatch serve --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q http "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$log" | head -1 | sed 's:/*$::')/bytes/64"
count() {
    local out
    out=$(mktemp)
    W1_URL="$url" W1_N="$1" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" \
        >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    rm -f "$out"
}
small=$(count 500)
big=$(count 2000)
echo "W1 through BatchExecutor (C=8) in $tree: $small instructions at N=500, $big at N=2000," \
    "marginal $(( (big - small) / 1500 )) per request"
