#!/usr/bin/env bash
# Builds the Rust library and every consumer of the C ABI, runs them, and prints
# `ffi: N passed, M failed`; exits non-zero on any failure.
#
#   C    ffi-tests/c/*.c: C11 with -Wall -Wextra -Werror, run plain, under AddressSanitizer +
#        UBSan, and under valgrind memcheck (zero errors, zero definite/indirect leaks)
#   C    examples/c: built with `pkg-config --cflags --libs httpbatch` after scripts/install-c.sh
#        into a temporary prefix, then run
#   C++  ffi-tests/cpp/*.cpp through include/httpbatch.hpp: C++17 -Werror, plain and ASan + UBSan
#   Go   ffi-tests/go: go vet, go test -race (tests and the Example)
#
# Every consumer runs the loopback test server as a process (`httpbatch serve`, built here;
# HTTPBATCH_BIN names it), never through the library.
#
# On a fresh Debian machine it installs what it lacks (valgrind, pkg-config) with apt-get.
# Environment: CARGO_TARGET_DIR (default ./target), FFI_SKIP_VALGRIND=1 to skip valgrind.
set -uo pipefail
shopt -s nullglob
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
lib="$CARGO_TARGET_DIR/release"
build="$root/ffi-tests/build"
mkdir -p "$build"
passed=0
failed=0
failures=()

# run NAME CMD...: runs a step, logs its output to build/NAME.log, counts it.
run() {
    local name="$1"
    shift
    local log="$build/${name//[\/:+]/_}.log"
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL $name (log: $log)"
        tail -n 30 "$log" | sed 's/^/     | /'
    fi
}

# --- prerequisites -------------------------------------------------------------------------
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
    echo "ffi: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo 'int main(void){return 0;}' >"$build/asan-probe.c"
if ! gcc -fsanitize=address,undefined "$build/asan-probe.c" -o "$build/asan-probe" 2>/dev/null ||
    ! "$build/asan-probe"; then
    echo "ffi: gcc -fsanitize=address,undefined does not work here; installing libasan/libubsan"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libasan8 libubsan1 >/dev/null
fi

# --- the library, and the CLI that runs the test server --------------------------------------
# The loopback test server is not in the library or its ABI: the consumers run it as a process,
# `httpbatch serve --port 0 --exit-on-stdin-eof` (ffi-tests/c/server.h, ffi-tests/go/server_test.go).
echo "== cargo build --release --lib --bin httpbatch"
if ! cargo build --release --lib --bin httpbatch --quiet; then
    echo "ffi: 0 passed, 1 failed"
    exit 1
fi
export HTTPBATCH_BIN="$lib/httpbatch"
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
# The Go package's cgo flags name ${SRCDIR}/../../target/release; point it at the real target
# directory when CARGO_TARGET_DIR is elsewhere.
if [ "$(cd "$CARGO_TARGET_DIR" && pwd)" != "$root/target" ]; then
    mkdir -p "$root/target/release"
    ln -sfn "$lib/libhttpbatch.a" "$root/target/release/libhttpbatch.a"
    ln -sfn "$lib/libhttpbatch.so" "$root/target/release/libhttpbatch.so"
fi

# --- C -------------------------------------------------------------------------------------
cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -g -I"$root/include" -I"$root/ffi-tests/c")
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
valgrind_flags=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --suppressions="$root/ffi-tests/valgrind.supp")

for src in ffi-tests/c/*.c; do
    t="$(basename "$src" .c)"
    run "c/$t:build" gcc "${cflags[@]}" "$src" "$lib/libhttpbatch.a" $static_libs -o "$build/$t"
    run "c/$t" "$build/$t"
    run "c/$t:asan+ubsan" bash -c "gcc ${cflags[*]} ${san[*]} '$src' '$lib/libhttpbatch.a' $static_libs -o '$build/$t.asan' && '$build/$t.asan'"
    if [ "${FFI_SKIP_VALGRIND:-0}" != 1 ]; then
        run "c/$t:valgrind" valgrind -q "${valgrind_flags[@]}" "$build/$t"
    fi
done

# --- the install step, pkg-config and the C example ------------------------------------------
prefix="$build/prefix"
rm -rf "$prefix"
run "install-c+pkg-config" bash -c "scripts/install-c.sh '$prefix' && PKG_CONFIG_PATH='$prefix/lib/pkgconfig' pkg-config --exists --print-errors httpbatch"
if [ -d examples/c ]; then
    run "examples/c:build" env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make -s -C examples/c clean all
    # Against a test server process; the example must get every answer the routes script.
    run "examples/c:run" env LD_LIBRARY_PATH="$prefix/lib" bash -c '
        coproc SERVER { exec "$HTTPBATCH_BIN" serve --port 0 --exit-on-stdin-eof; }
        pid=$SERVER_PID
        read -r base <&"${SERVER[0]}"
        out="$(examples/c/batch "$base/ok" "$base/bytes/1024" "$base/status/404" "$base/delay/50" "$base/reset")"
        rc=$?
        kill "$pid"
        # Bash may have reaped the coprocess already (then wait says 127, "not a child").
        wait "$pid" 2>/dev/null
        s=$?
        [ $s -eq 0 ] || [ $s -eq 127 ] || exit 1
        echo "$out"
        [ $rc -eq 0 ] && grep -q "^0: 200, 2 bytes" <<<"$out" && grep -q "^1: 200, 1024 bytes" <<<"$out" &&
            grep -q "^2: 404" <<<"$out" && grep -q "^4: " <<<"$out" &&
            grep -q "^5 requests: 3 succeeded" <<<"$out"
    '
fi

# --- C++ -----------------------------------------------------------------------------------
if [ -d ffi-tests/cpp ]; then
    cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -g -I"$root/include" -I"$root/ffi-tests/c")
    for src in ffi-tests/cpp/*.cpp; do
        t="cpp_$(basename "$src" .cpp)"
        run "cpp/$t:build" g++ "${cxxflags[@]}" "$src" "$lib/libhttpbatch.a" $static_libs -o "$build/$t"
        run "cpp/$t" "$build/$t"
        run "cpp/$t:asan+ubsan" bash -c "g++ ${cxxflags[*]} ${san[*]} '$src' '$lib/libhttpbatch.a' $static_libs -o '$build/$t.asan' && '$build/$t.asan'"
    done
fi

# --- Go ------------------------------------------------------------------------------------
if [ -f ffi-tests/go/go.mod ]; then
    if command -v go >/dev/null; then
        export CGO_ENABLED=1
        run "go/vet+gofmt" bash -c "cd ffi-tests/go && go vet ./... && test -z \"\$(gofmt -l .)\""
        run "go/test-race" bash -c "cd ffi-tests/go && go test -race -count=1 -v ./..."
    else
        failed=$((failed + 1))
        failures+=("go (no go toolchain)")
        echo "FAIL go: the go command is missing"
    fi
fi

echo
if [ $failed -gt 0 ]; then
    echo "failed steps: ${failures[*]}"
fi
echo "ffi: $passed passed, $failed failed"
[ $failed -eq 0 ]
