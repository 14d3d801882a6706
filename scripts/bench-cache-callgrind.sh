#!/usr/bin/env bash
# Instructions per request of a cache hit (memory and disk stores) and of a plain wire GET of
# the same 64-byte body, counted by callgrind (machine load does not change them): the client
# runs under callgrind at N=500 and N=2000 against `httpbatch serve` in another process, and
# the marginal cost is (I(2000) - I(500)) / 1500.
#
#   scripts/bench-cache-callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/callgrind.sh
callgrind_start cache
count() {
    callgrind_count CACHE_URL="$url" CACHE_MODE="$1" CACHE_N="$2"
}
for mode in mem disk wire; do
    small=$(count "$mode" 500)
    big=$(count "$mode" 2000)
    echo "$mode: $small instructions at N=500, $big at N=2000, marginal $(( (big - small) / 1500 )) per request"
done
