#!/usr/bin/env bash
# Instructions per logical request through the dedup layer and without it, counted by callgrind:
# benches/dedup.rs runs under callgrind at N=1000 and N=10000 against `httpbatch serve` in another
# process; the marginal cost is (I(10000) - I(1000)) / 9000.
#
#   scripts/bench-dedup-callgrind.sh [KEYS] [PATH]   (defaults: 100 keys, /bytes/64)
#
# KEYS=10000 makes every request unique: the layer's overhead with nothing to share.
set -euo pipefail
cd "$(dirname "$0")/.."
keys="${1:-100}"
path="${2:-/bytes/64}"
. scripts/lib/callgrind.sh
callgrind_start dedup
count() {
    callgrind_count --show="$2" DEDUP_URL="$url" DEDUP_N="$2" DEDUP_MODE="$1" DEDUP_KEYS="$keys" \
        DEDUP_PATH="$path"
}
for mode in plain dedup; do
    small=$(count "$mode" 1000)
    big=$(count "$mode" 10000)
    echo "$mode ($keys keys, $path): $small instructions at N=1000, $big at N=10000," \
        "marginal $(( (big - small) / 9000 )) per logical request"
done
