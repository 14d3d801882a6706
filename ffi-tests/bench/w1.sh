#!/usr/bin/env bash
# W1 through the Rust API, the C ABI (C program) and the Go package, in one run: each is a
# separate process, all against one loopback server process (`httpbatch serve`), run interleaved ROUNDS times
# (in an order that rotates every round), each process timing BATCHES batches of 20,000 GETs of
# 64 bytes at concurrency 32 after one warmup batch. Prints the median and best batch time of
# each and the ratios of throughput to the Rust API (>= 1 means as fast as Rust).
# CPU is the user + system time of the client process during a batch (the server's is not
# counted): less sensitive than wall time to other load on the machine.
# Usage: ffi-tests/bench/w1.sh [ROUNDS] [BATCHES]     (default 3 rounds of 5 batches)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rounds="${1:-3}"
batches="${2:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
lib="$CARGO_TARGET_DIR/release"
out="$root/ffi-tests/build"
mkdir -p "$out"
cargo build --release --lib --bin httpbatch --quiet
cargo bench --bench ffi_w1 --no-run --quiet 2>/dev/null
gcc -std=c11 -O2 -Wall -Wextra -Werror -I"$root/include" ffi-tests/bench/w1.c "$lib/libhttpbatch.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$out/w1"
# The Go package links through pkg-config: install into a scratch prefix, link statically.
HTTPBATCH_NO_BUILD=1 scripts/install-c.sh "$out/w1-prefix" >/dev/null
(cd bindings/go && PKG_CONFIG_PATH="$out/w1-prefix/lib/pkgconfig" \
    go test -tags httpbatch_static -c -o "$out/w1-go.test" .)
# One server for every run; its stdin is this script's pipe, so it stops when the script ends.
coproc SERVER { exec "$lib/httpbatch" serve --port 0 --exit-on-stdin-eof 2>/dev/null; }
read -r base <&"${SERVER[0]}"
export HTTPBATCH_W1_URL="$base"
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
log="$out/w1.log"
: >"$log"
phases="$out/w1-phases.log"
: >"$phases"
run_rust() { cargo bench --bench ffi_w1 --quiet -- "$batches" 2>>"$phases" | grep '^w1 ' >>"$log"; }
run_c() { "$out/w1" "$batches" >>"$log" 2>>"$phases"; }
run_go() { (cd bindings/go && HTTPBATCH_W1="$batches" "$out/w1-go.test" -test.run '^TestW1$' 2>>"$phases" | grep '^w1 ') >>"$log"; }
# The order rotates every round, so none of the three is always first (or last) under
# whatever else the machine is doing.
orders=("run_rust run_c run_go" "run_c run_go run_rust" "run_go run_rust run_c")
for r in $(seq "$rounds"); do
    for step in ${orders[$(((r - 1) % 3))]}; do
        "$step"
    done
done
python3 - "$log" <<'PY'
import statistics, sys
wall, cpu = {}, {}
for line in open(sys.argv[1]):
    _, impl, w, c = line.split()
    wall.setdefault(impl, []).append(float(w))
    cpu.setdefault(impl, []).append(float(c))
rw, rc = statistics.median(wall["rust"]), statistics.median(cpu["rust"])
rb = min(wall["rust"])
print("impl  n   wall median    req/s   wall best | cpu median | ratio to Rust: wall median, wall best, cpu median")
for impl in ("rust", "c", "go"):
    w, c = wall[impl], cpu[impl]
    mw, bw, mc = statistics.median(w), min(w), statistics.median(c)
    print(f"{impl:4} {len(w):2} {mw*1000:9.1f} ms {20000/mw:8.0f} {bw*1000:8.1f} ms | {mc*1000:7.1f} ms"
          f" | {rw/mw:.3f} {rb/bw:.3f} {rc/mc:.3f}")
PY
# Where the caller's time goes: building the requests, the run, reading the results (medians).
python3 - "$phases" <<'PY'
import re, statistics, sys
ph = {}
for line in open(sys.argv[1]):
    m = re.match(r"phases (\w+) build ([\d.]+) ms, execute ([\d.]+) ms, read ([\d.]+) ms", line)
    if m:
        ph.setdefault(m[1], []).append(tuple(float(x) for x in m.groups()[1:]))
for impl in ("rust", "c", "go"):
    rows = ph.get(impl, [])
    if rows:
        b, e, r = (statistics.median(col) for col in zip(*rows))
        print(f"phases {impl:4} build {b:6.2f} ms  execute {e:7.2f} ms  read {r:6.2f} ms")
PY
