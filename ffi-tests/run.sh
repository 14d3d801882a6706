#!/usr/bin/env bash
# Builds the Rust library and every consumer of the C ABI, runs them, and prints
# `ffi: N passed, M failed`; exits non-zero on any failure.
#
#   C    ffi-tests/c/*.c: C11 with -Wall -Wextra -Werror, run plain, under AddressSanitizer +
#        UBSan, and under valgrind memcheck (zero errors, zero definite/indirect leaks)
#   ABI  the SONAME of libhttpbatch.so, and the exported symbols against include/httpbatch.symbols
#        (scripts/check-symbols.sh: the list only grows)
#   C    examples/c: after scripts/install-c.sh into a temporary prefix, built with
#        `pkg-config --cflags --libs httpbatch` (shared) and with
#        `pkg-config --static --cflags --libs httpbatch-static` (static), then run
#   C++  ffi-tests/cpp/*.cpp through include/httpbatch.hpp: C++17 -Werror, plain, ASan + UBSan
#        and valgrind memcheck, and C++20;
#        examples/cpp configured with CMake's find_package(httpbatch) against the prefix, built, run
#   Go   bindings/go through pkg-config against the prefix: go vet, go test -race (static
#        library, -tags httpbatch_static), go test (shared library); then a module outside the
#        repository `go get`s it from a file-based module proxy (no replace line) and runs
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
command -v cmake >/dev/null || missing+=(cmake)
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
# `httpbatch serve --port 0 --exit-on-stdin-eof` (ffi-tests/c/server.h, bindings/go/server_test.go).
echo "== cargo build --release --lib --bin httpbatch"
if ! cargo build --release --lib --bin httpbatch --quiet; then
    echo "ffi: 0 passed, 1 failed"
    exit 1
fi
export HTTPBATCH_BIN="$lib/httpbatch"
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

# --- the library with the `redis` feature, for the Redis tests of C, C++ and Go --------------
# Installed into a prefix of its own (its .pc files define HTTPBATCH_REDIS); then the default
# library is built again (cargo keeps both builds: that is a copy), which everything else links.
# Each Redis test starts its own redis-server on a free loopback port (ffi-tests/c/redis_server.h,
# bindings/go/redis_test.go); scripts/setup.sh installs it.
redis_prefix=""
if command -v redis-server >/dev/null; then
    rm -rf "$build/prefix-redis"
    run "install-c(redis)" bash -c "HTTPBATCH_FEATURES=redis HTTPBATCH_PROFILE=release scripts/install-c.sh '$build/prefix-redis' &&
        cargo build --release --lib --quiet &&
        ! nm -D --defined-only '$lib/libhttpbatch.so' | grep -q httpbatch_redis_"
    [ -f "$build/prefix-redis/lib/libhttpbatch.a" ] && redis_prefix="$build/prefix-redis"
else
    echo "ffi: redis-server is not installed (scripts/setup.sh installs it): skipping the Redis tests of C, C++ and Go"
fi

# --- the library's ABI -----------------------------------------------------------------------
run "abi/soname" bash -c "readelf -d '$lib/libhttpbatch.so' | grep -q 'SONAME.*\[libhttpbatch\.so\.0\]'"
run "abi/symbols" scripts/check-symbols.sh "$lib/libhttpbatch.so"
if [ -n "$redis_prefix" ]; then
    run "abi/symbols(redis)" \
        env HTTPBATCH_SYMBOLS="$root/include/httpbatch.symbols $root/include/httpbatch-redis.symbols" \
        scripts/check-symbols.sh "$redis_prefix/lib/libhttpbatch.so"
fi

# --- the install step: pkg-config files and the CMake package, in a temporary prefix -----------
prefix="$build/prefix"
rm -rf "$prefix"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
run "install-c+pkg-config" bash -c "HTTPBATCH_NO_BUILD=1 scripts/install-c.sh '$prefix' &&
    pkg-config --exists --print-errors httpbatch httpbatch-static &&
    test -L '$prefix/lib/libhttpbatch.so' && test -L '$prefix/lib/libhttpbatch.so.0' &&
    test -f '$prefix/lib/cmake/httpbatch/httpbatch-config.cmake'"

# --- C -------------------------------------------------------------------------------------
cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -g -I"$root/include" -I"$root/ffi-tests/c")
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
valgrind_flags=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --suppressions="$root/ffi-tests/valgrind.supp")

# redis_lib NAME: sets `archive` and `defines` for test NAME (test_redis*: the redis-enabled
# library); false when it is a Redis test and redis-server is not installed.
redis_lib() {
    archive="$lib/libhttpbatch.a"
    defines=""
    case "$1" in
    *test_redis*)
        [ -n "$redis_prefix" ] || return 1
        archive="$redis_prefix/lib/libhttpbatch.a"
        defines="-DHTTPBATCH_REDIS"
        ;;
    esac
}

for src in ffi-tests/c/*.c; do
    t="$(basename "$src" .c)"
    redis_lib "$t" || continue
    run "c/$t:build" gcc "${cflags[@]}" $defines "$src" "$archive" $static_libs -o "$build/$t"
    run "c/$t" "$build/$t"
    run "c/$t:asan+ubsan" bash -c "gcc ${cflags[*]} $defines ${san[*]} '$src' '$archive' $static_libs -o '$build/$t.asan' && '$build/$t.asan'"
    if [ "${FFI_SKIP_VALGRIND:-0}" != 1 ]; then
        run "c/$t:valgrind" valgrind -q "${valgrind_flags[@]}" "$build/$t"
    fi
done

# --- the C example through pkg-config: shared and static -----------------------------------
if [ -d examples/c ]; then
    run "examples/c:build" make -s -C examples/c clean all static
    # The shared build records the SONAME; the static one needs no libhttpbatch at all.
    run "examples/c:linked-shared" bash -c "readelf -d examples/c/batch | grep -q 'NEEDED.*\[libhttpbatch\.so\.0\]'"
    run "examples/c:linked-static" bash -c "! readelf -d examples/c/batch-static | grep -q libhttpbatch"
    for bin in batch batch-static; do
        # Against a test server process; the example must get every answer the routes script.
        run "examples/c:run-$bin" env LD_LIBRARY_PATH="$prefix/lib" BIN="examples/c/$bin" bash -c '
            coproc SERVER { exec "$HTTPBATCH_BIN" serve --port 0 --exit-on-stdin-eof; }
            pid=$SERVER_PID
            read -r base <&"${SERVER[0]}"
            out="$("$BIN" "$base/ok" "$base/bytes/1024" "$base/status/404" "$base/delay/50" "$base/reset")"
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
    done
fi

# --- C++ -----------------------------------------------------------------------------------
if [ -d ffi-tests/cpp ]; then
    cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -g -I"$root/include" -I"$root/ffi-tests/c")
    for src in ffi-tests/cpp/*.cpp; do
        t="cpp_$(basename "$src" .cpp)"
        redis_lib "$t" || continue
        run "cpp/$t:build" g++ "${cxxflags[@]}" $defines "$src" "$archive" $static_libs -o "$build/$t"
        run "cpp/$t" "$build/$t"
        run "cpp/$t:asan+ubsan" bash -c "g++ ${cxxflags[*]} $defines ${san[*]} '$src' '$archive' $static_libs -o '$build/$t.asan' && '$build/$t.asan'"
        if [ "${FFI_SKIP_VALGRIND:-0}" != 1 ]; then
            run "cpp/$t:valgrind" valgrind -q "${valgrind_flags[@]}" "$build/$t"
        fi
        # C++20 too: the ranges and iterator concepts the wrapper promises there.
        run "cpp/$t:c++20" bash -c "g++ ${cxxflags[*]/-std=c++17/-std=c++20} $defines '$src' '$archive' $static_libs -o '$build/$t.20' && '$build/$t.20'"
    done
fi
# The C++ example as a CMake user builds it: find_package(httpbatch CONFIG REQUIRED) in the prefix.
if [ -f examples/cpp/CMakeLists.txt ]; then
    cbuild="$build/examples-cpp"
    rm -rf "$cbuild"
    run "examples/cpp:cmake" bash -c "cmake -S examples/cpp -B '$cbuild' -DCMAKE_PREFIX_PATH='$prefix' \
        -DCMAKE_BUILD_TYPE=Release && cmake --build '$cbuild'"
    run "examples/cpp:run" env CBUILD="$cbuild" bash -c '
        coproc SERVER { exec "$HTTPBATCH_BIN" serve --port 0 --exit-on-stdin-eof; }
        pid=$SERVER_PID
        read -r base <&"${SERVER[0]}"
        "$CBUILD/batch" "$base" && "$CBUILD/batch-static" "$base"
        rc=$?
        kill "$pid"
        # Bash may have reaped the coprocess already (then wait says 127, "not a child").
        wait "$pid" 2>/dev/null
        s=$?
        [ $s -eq 0 ] || [ $s -eq 127 ] || exit 1
        [ $rc -eq 0 ]
    '
fi

# --- Go ------------------------------------------------------------------------------------
# Through pkg-config against the prefix, as a user who ran scripts/install-c.sh builds it.
if [ -f bindings/go/go.mod ]; then
    if command -v go >/dev/null; then
        export CGO_ENABLED=1 GOTOOLCHAIN=local
        run "go/vet+gofmt" bash -c "cd bindings/go && go vet ./... && go vet -tags httpbatch_static ./... &&
            test -z \"\$(gofmt -l . ../../ffi-tests/goproxy ../../ffi-tests/go-consumer)\""
        run "go/test-race(static)" bash -c "cd bindings/go && go test -tags httpbatch_static -race -count=1 -v ./..."
        run "go/test(shared)" env LD_LIBRARY_PATH="$prefix/lib" bash -c "cd bindings/go && go test -count=1 ./..."
        # The Redis wrappers (tag httpbatch_redis) against the redis-enabled library.
        if [ -n "$redis_prefix" ]; then
            run "go/test-race(static, redis)" env PKG_CONFIG_PATH="$redis_prefix/lib/pkgconfig" bash -c "cd bindings/go &&
                go vet -tags httpbatch_static,httpbatch_redis ./... &&
                go test -tags httpbatch_static,httpbatch_redis -race -count=1 -run Redis -v ./..."
        fi
        # A module outside the repository: `go get` from a file-based module proxy (no replace
        # line, no network), the library through pkg-config, a build and a run.
        # A fresh directory each run: the go command indexes a module-cache directory once per
        # path and version, so a reused path would serve a stale file list.
        rm -rf "$build"/go-outside.*
        gowork="$(mktemp -d "$build/go-outside.XXXXXX")"
        mkdir -p "$gowork/consumer"
        cp ffi-tests/go-consumer/main.go "$gowork/consumer/"
        version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
        run "go/outside-module:get+build" env GOWORK_DIR="$gowork" VERSION="v$version" bash -c '
            set -e
            go run ffi-tests/goproxy/main.go bindings/go "$VERSION" "$GOWORK_DIR/proxy"
            cd "$GOWORK_DIR/consumer"
            printf "module example.com/consumer\n\ngo 1.21\n" >go.mod
            export GOPROXY="file://$GOWORK_DIR/proxy" GOSUMDB=off GOFLAGS=-modcacherw \
                GOMODCACHE="$GOWORK_DIR/modcache"
            go get "github.com/httpbatch/httpbatch/bindings/go@$VERSION"
            ! grep -q replace go.mod
            go build -o consumer .
            go build -tags httpbatch_static -o consumer-static .
        '
        run "go/outside-module:run" env GOWORK_DIR="$gowork" LD_LIBRARY_PATH="$prefix/lib" bash -c '
            coproc SERVER { exec "$HTTPBATCH_BIN" serve --port 0 --exit-on-stdin-eof; }
            pid=$SERVER_PID
            read -r base <&"${SERVER[0]}"
            out="$("$GOWORK_DIR/consumer/consumer" "$base" && "$GOWORK_DIR/consumer/consumer-static" "$base")"
            rc=$?
            kill "$pid"
            # Bash may have reaped the coprocess already (then wait says 127, "not a child").
            wait "$pid" 2>/dev/null
            s=$?
            [ $s -eq 0 ] || [ $s -eq 127 ] || exit 1
            echo "$out"
            [ $rc -eq 0 ] && [ "$(grep -c "^1: error 0 invalid_url=true" <<<"$out")" = 2 ] &&
                [ "$(grep -c "^3: error 0 invalid_url=false deadline=true" <<<"$out")" = 2 ] &&
                [ "$(grep -c "^2: response 404" <<<"$out")" = 2 ]
        '
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
