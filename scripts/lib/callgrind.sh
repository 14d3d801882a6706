# Shared by the scripts/bench-*-callgrind.sh scripts (source it; bash): instructions counted by
# callgrind, which machine load does not change, for a bench client running against
# `httpbatch serve` in another process.
#
#   callgrind_start BENCH        builds the CLI and benches/BENCH.rs, starts the test server
#                                (stopped when the script exits); sets $bench (the bench binary)
#                                and $url (the server's base URL, no trailing slash)
#   callgrind_count [--show=LABEL] [VAR=VALUE ...]
#                                runs $bench under callgrind with these variables set and prints
#                                its total instructions; --show copies the bench's own output to
#                                stderr, each line prefixed "  [LABEL] "
#
# Run from the repository (or worktree) root.

callgrind_start() {
    local name="$1"
    cargo build --release --quiet --bin httpbatch
    cargo bench --no-run --quiet --bench "$name" 2>/dev/null
    bench=$(ls -t target/release/deps/"$name"-* | grep -v '\.d$' | head -1)
    callgrind_log_=$(mktemp)
    target/release/httpbatch serve --port 0 >"$callgrind_log_" 2>&1 &
    callgrind_server_=$!
    trap 'kill $callgrind_server_ 2>/dev/null; rm -f "$callgrind_log_"' EXIT
    for _ in $(seq 100); do grep -q http "$callgrind_log_" && break; sleep 0.1; done
    url="$(grep -o 'http://[^ ]*' "$callgrind_log_" | head -1 | sed 's:/*$::')"
}

callgrind_count() {
    local show="" out
    case "${1:-}" in
    --show=*)
        show="${1#--show=}"
        shift
        ;;
    esac
    out=$(mktemp)
    if [ -n "$show" ]; then
        env "$@" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" 2>/dev/null |
            sed "s/^/  [$show] /" >&2
    else
        env "$@" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" >/dev/null 2>&1
    fi
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    rm -f "$out"
}
