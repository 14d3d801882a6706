#!/usr/bin/env bash
# The side-by-side harness (issue 11; benches/compare/README.md says what each figure means):
# builds the checkout's release libraries and CLI, the harness's clients (httpbatch through the
# Rust API, the C ABI, the Go package and the CLI; plain threads on one ureq Agent; reqwest +
# tokio; Go net/http) and its loopback server, then runs the workloads in interleaved rounds and
# prints ONE markdown table on stdout (progress on stderr). Only loopback is used; every client
# run and the whole run are time-bounded.
#
# Usage: scripts/bench-compare.sh [--quick] [--rounds N] [--only W1,W1L,W2,W3,W7,CG,ST]
#                                 [--clients httpbatch,httpbatch-stream,ureq,reqwest,c-abi,go-httpbatch,go-nethttp,cli,wrk]
#                                 [--profile dist|release] [--no-install]
#   --quick       3 rounds of W1 and W7, one of W1L, W2 and W3 (callgrind and strace as in full):
#                 a few minutes on 2 cores. Default: 7 rounds (3 of W3), every client.
#   --profile     the Cargo profile of everything built (default dist: what scripts/install-c.sh
#                 ships, fat LTO; `release` is what CI and `cargo install` build).
#   --no-install  do not try `apt-get install wrk linux-perf` when wrk or perf is missing (the run
#                 goes on without them: no wrk figures; strace-only system-call counts).
# Environment: CARGO_TARGET_DIR (default ./target): the harness's own workspace builds there too
# (same profile, so the dependencies both share are built once); the C and Go clients go to
# benches/compare/build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0
install=1
profile=dist
runner_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; runner_args+=(--quick) ;;
        --rounds|--only|--clients) runner_args+=("$1" "${2:?$1 wants a value}"); shift ;;
        --profile) profile="${2:?--profile wants a value}"; shift ;;
        --no-install) install=0 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-compare: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cmp="$root/benches/compare"
build="$cmp/build"
mkdir -p "$build"
say() { echo "bench-compare: $*" >&2; }

# The libraries and the CLI, with the profile the libraries ship with.
say "building the checkout (profile $profile: libhttpbatch.a/.so, the httpbatch CLI)"
cargo build --profile "$profile" --lib --bin httpbatch --quiet
lib="$CARGO_TARGET_DIR/$profile"
say "building the harness (benches/compare, profile $profile)"
cargo build --profile "$profile" --manifest-path "$cmp/Cargo.toml" --bins --quiet
bins="$CARGO_TARGET_DIR/$profile"

say "building the C client"
gcc -std=c11 -O2 -Wall -Wextra -Werror -I"$root/include" "$cmp/c/client.c" "$lib/libhttpbatch.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$build/client-c"

if command -v go >/dev/null; then
    say "building the Go clients"
    HTTPBATCH_NO_BUILD=1 HTTPBATCH_PROFILE="$profile" scripts/install-c.sh "$build/prefix" >/dev/null
    # go build leaves an executable it thinks up to date as it is, and the static library it
    # links is not among what it checks: without this the Go client kept an older library.
    rm -f "$build/client-go-httpbatch"
    (cd "$cmp/go" &&
        PKG_CONFIG_PATH="$build/prefix/lib/pkgconfig" go build -tags httpbatch_static \
            -o "$build/client-go-httpbatch" ./httpbatch &&
        go build -o "$build/client-go-nethttp" ./nethttp)
else
    say "go not installed: no Go clients"
    rm -f "$build/client-go-httpbatch" "$build/client-go-nethttp"
fi

# wrk (reference rates) and perf (exact system-call counts, ST; Debian's package is linux-perf):
# installed once when missing, if we may; the run goes on without them otherwise.
for pkg in wrk:wrk perf:linux-perf; do
    tool=${pkg%%:*} deb=${pkg#*:}
    if ! command -v "$tool" >/dev/null && [ $install = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "$tool missing: trying apt-get install $deb (--no-install skips this)"
        timeout 300 apt-get install -y -qq "$deb" >/dev/null 2>&1 || say "could not install $deb: going on without $tool"
    fi
done
for tool in valgrind strace; do
    command -v $tool >/dev/null || say "$tool not installed (scripts/setup.sh installs it): its figures will be missing"
done

say "running (progress below; the table follows on stdout)"
bound=$([ $quick = 1 ] && echo 1800 || echo 7200)
echo "Checkout: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown); everything built with the \`$profile\` profile."
echo
timeout --kill-after=10 "$bound" "$bins/compare" --bins "$bins" --build "$build" \
    --cli "$lib/httpbatch" "${runner_args[@]}"
