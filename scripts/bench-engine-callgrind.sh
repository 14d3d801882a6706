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
# shellcheck source=lib/callgrind.sh
. "$here/scripts/lib/callgrind.sh"
cd "$tree"
callgrind_start engine
small=$(callgrind_count W1_URL="$url/bytes/64" W1_N=500)
big=$(callgrind_count W1_URL="$url/bytes/64" W1_N=2000)
echo "W1 through BatchExecutor (C=8) in $tree: $small instructions at N=500, $big at N=2000," \
    "marginal $(( (big - small) / 1500 )) per request"
