#!/usr/bin/env bash
# Runs every test: Rust unit, integration and doc tests, every example against its own loopback
# test server, and the C, C++ and Go consumers of the C ABI (which run the server as a process). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

bash scripts/setup.sh

echo "== cargo test (unit, integration, doc)"
# The default targets of every workspace crate (httpbatch and its test server, testserver/):
# library, binaries, integration tests and doc tests (benchmarks are run on purpose with
# `cargo bench`, not as tests). With the `json` feature on: it adds no crate the default `cli`
# feature does not already build, so one build covers the feature's code and tests too.
cargo test --workspace --no-fail-fast --features json

echo "== shared limiter and work list on a real redis-server (feature redis)"
cargo test --features redis --no-fail-fast --lib -- ffi::redis distributed::
cargo test --features redis --no-fail-fast --doc -- distributed shared_rate_limiter
cargo test --features redis --no-fail-fast --test distributed --test distributed_cli

if [ -d examples ] && ls examples/*.rs >/dev/null 2>&1; then
  echo "== examples"
  cargo build --release --examples --quiet --features json
  for ex in examples/*.rs; do
    name=$(basename "$ex" .rs)
    echo "-- example $name"
    timeout 120 cargo run --release --quiet --features json --example "$name" >/dev/null
  done
fi

if [ -x ffi-tests/run.sh ]; then
  echo "== C ABI consumers (C, C++, Go)"
  ffi-tests/run.sh
fi
