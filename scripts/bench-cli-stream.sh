#!/usr/bin/env bash
# The CLI on a streamed input: N lines (default 1,000,000) piped into `httpbatch -c 16` against
# `httpbatch serve` on loopback; prints peak RSS, wall time, lines out and the summary's counts.
# Usage: scripts/bench-cli-stream.sh [N] [input|completed]
set -euo pipefail
n="${1:-1000000}"
order="${2:-input}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --bin httpbatch --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/httpbatch"
tmp="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" serve --port 0 >"$tmp/url" 2>/dev/null &
server=$!
for _ in $(seq 1 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url="$(head -1 "$tmp/url")"
lines=$(seq 1 "$n" | sed "s|.*|$url/ok|" |
  /usr/bin/time -f "peak RSS %M KiB, wall %e s" -o "$tmp/time" \
    "$bin" -q -c 16 --order "$order" --summary-json="$tmp/summary.json" | wc -l)
echo "$n lines, --order $order: $(cat "$tmp/time"), $lines result lines"
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print('ran', s['ran'], 'succeeded', s['succeeded'], 'throughput %.0f/s' % s['throughput_per_sec'], 'wire p50 %s ms' % s['wire_ms']['p50'])" "$tmp/summary.json"
