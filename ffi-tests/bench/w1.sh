#!/usr/bin/env bash
# W1 through the Rust API, the C ABI (C program) and the Go package, in one run: each is a
# separate process with its own in-process loopback server, run interleaved ROUNDS times
# (rust, c, go, rust, c, go, ...), each process timing BATCHES batches of 20,000 GETs of
# 64 bytes at concurrency 32 after one warmup batch. Prints the median and best batch time of
# each and the ratios of throughput to the Rust API (>= 1 means as fast as Rust).
# Usage: ffi-tests/bench/w1.sh [ROUNDS] [BATCHES]     (default 3 rounds of 5 batches)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rounds="${1:-3}"
batches="${2:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
lib="$CARGO_TARGET_DIR/release"
out="$root/ffi-tests/build"
mkdir -p "$out" "$root/target/release"
cargo build --release --lib --quiet
cargo bench --bench ffi_w1 --no-run --quiet 2>/dev/null
gcc -std=c11 -O2 -Wall -Wextra -Werror -I"$root/include" ffi-tests/bench/w1.c "$lib/libhttpbatch.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$out/w1"
if [ "$(cd "$CARGO_TARGET_DIR" && pwd)" != "$root/target" ]; then
    ln -sfn "$lib/libhttpbatch.a" "$root/target/release/libhttpbatch.a"
fi
(cd ffi-tests/go && go test -c -o "$out/w1-go.test" .)
log="$out/w1.log"
: >"$log"
for r in $(seq "$rounds"); do
    cargo bench --bench ffi_w1 --quiet -- "$batches" | grep '^w1 ' >>"$log"
    "$out/w1" "$batches" >>"$log"
    (cd ffi-tests/go && HTTPBATCH_W1="$batches" "$out/w1-go.test" -test.run '^TestW1$' | grep '^w1 ') >>"$log"
done
python3 - "$log" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    _, impl, secs = line.split()
    times.setdefault(impl, []).append(float(secs))
rust_med = statistics.median(times["rust"])
rust_best = min(times["rust"])
for impl in ("rust", "c", "go"):
    t = times[impl]
    med, best = statistics.median(t), min(t)
    print(f"{impl:4} batches={len(t):2} median={med*1000:8.1f} ms ({20000/med:8.0f} req/s)"
          f" best={best*1000:8.1f} ms  ratio(median)={rust_med/med:.3f} ratio(best)={rust_best/best:.3f}")
PY
