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
. scripts/lib/callgrind.sh
callgrind_start coalesce
count() {
    callgrind_count COALESCE_URL="$url" COALESCE_MODE="$1" COALESCE_N="$2"
}
for mode in coalesced plain; do
    a=$(count "$mode" "$small_n")
    b=$(count "$mode" "$big_n")
    echo "$mode: $a instructions at N=$small_n, $b at N=$big_n," \
        "marginal $(( (b - a) / (big_n - small_n) )) per logical request"
done
