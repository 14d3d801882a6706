#!/usr/bin/env bash
# Runs the fuzz targets of tests/fuzz.rs (property tests over arbitrary bytes: URL parser,
# header validation, Retry-After parser, query builder, the test server's request parser) and of
# src/bin/httpbatch/input/fuzz.rs (the CLI's input lines: URLs and JSON request specs) with
# many more cases than CI does. Not run by CI; bounded by CASES.
#
#   scripts/fuzz.sh [CASES]   (default 20000 per target; the test-server target runs CASES/10,
#                              one loopback connection each)
#
# A failure prints the minimal input and is saved in tests/fuzz.proptest-regressions, which is
# replayed first on every later run (CI included): commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
server_cases=$(( cases / 10 ))
export PROPTEST_CASES="$cases"
export PROPTEST_MAX_SHRINK_ITERS=10000
start=$(date +%s)
cargo test --release --quiet --test fuzz -- --skip the_test_server_survives
PROPTEST_CASES="$server_cases" cargo test --release --quiet --test fuzz the_test_server_survives
cargo test --release --quiet --bin httpbatch input::fuzz
echo "fuzz: 6 targets x $cases cases + 1 x $server_cases = $(( 6 * cases + server_cases ))" \
    "executions in $(( $(date +%s) - start )) s"
