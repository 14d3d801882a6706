#!/usr/bin/env bash
# Builds the release libraries and installs them for C, C++ and Go users:
#   PREFIX/lib/libhttpbatch.so.X.Y.Z  (SONAME libhttpbatch.so.X) + the .so.X and .so links
#   PREFIX/lib/libhttpbatch.a          (debug info stripped)
#   PREFIX/include/httpbatch.h, httpbatch*.hpp (the C++ wrapper and its parts)
#   PREFIX/lib/pkgconfig/httpbatch.pc          the shared library (Libs.private: what the static
#                                              library needs from the system)
#   PREFIX/lib/pkgconfig/httpbatch-static.pc   the static library, self-contained
#   PREFIX/lib/cmake/httpbatch/                find_package(httpbatch CONFIG): httpbatch::httpbatch
#                                              (shared) and httpbatch::httpbatch_static
#
# Usage: scripts/install-c.sh PREFIX      (e.g. /usr/local, or $HOME/.local)
# Then:  cc app.c $(pkg-config --cflags --libs httpbatch)           (shared; PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#                                                                  if PREFIX is not a system prefix)
#        cc app.c $(pkg-config --static --cflags --libs httpbatch-static)   (static)
# Environment: CARGO_TARGET_DIR (default ./target); HTTPBATCH_PROFILE, the Cargo profile built
# and installed (default `dist`: fat LTO, one codegen unit, stripped; see Cargo.toml);
# HTTPBATCH_NO_BUILD=1 installs what is built, by default from `release` (what the tests build);
# HTTPBATCH_FEATURES=redis builds the library with the shared Redis limiter and work list, and
# the .pc files then define HTTPBATCH_REDIS (which shows their declarations in the header).
set -euo pipefail
prefix="${1:?usage: scripts/install-c.sh PREFIX}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
features="${HTTPBATCH_FEATURES:-}"
if [ "${HTTPBATCH_NO_BUILD:-0}" = 1 ]; then
    profile="${HTTPBATCH_PROFILE:-release}"
else
    profile="${HTTPBATCH_PROFILE:-dist}"
    cargo build --profile "$profile" --lib --quiet ${features:+--features "$features"}
fi
cflags='-I${includedir}'
defines=""
case ",$features," in
*,redis,*)
    cflags="$cflags -DHTTPBATCH_REDIS"
    defines="HTTPBATCH_REDIS"
    ;;
esac
target="${CARGO_TARGET_DIR:-$root/target}/$profile"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
libdir="$prefix/lib"
mkdir -p "$libdir/pkgconfig" "$libdir/cmake/httpbatch" "$prefix/include"

install -m 0755 "$target/libhttpbatch.so" "$libdir/libhttpbatch.so.$version"
ln -sfn "libhttpbatch.so.$version" "$libdir/libhttpbatch.so.$major"
ln -sfn "libhttpbatch.so.$major" "$libdir/libhttpbatch.so"
install -m 0644 "$target/libhttpbatch.a" "$libdir/"
# rustc does not strip a staticlib: the standard library's DWARF would triple its size.
if command -v "${STRIP:-strip}" >/dev/null; then
    "${STRIP:-strip}" --strip-debug "$libdir/libhttpbatch.a"
fi
install -m 0644 include/httpbatch.h include/httpbatch*.hpp "$prefix/include/"

# What the static library needs from the system (`rustc --print native-static-libs` on Linux).
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cat >"$libdir/pkgconfig/httpbatch.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
static_libs=$static_libs

Name: httpbatch
Description: Synchronous, thread-based HTTP batch client (C ABI, shared library)
Version: $version
Cflags: $cflags
Libs: -L\${libdir} -lhttpbatch
Libs.private: \${static_libs}
PC
# pkg-config always prints a package's Libs, so `--static` cannot turn `-lhttpbatch` (which the
# linker resolves to the .so when both are installed) into the archive: the static library is a
# package of its own, naming the archive by path.
cat >"$libdir/pkgconfig/httpbatch-static.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: httpbatch-static
Description: Synchronous, thread-based HTTP batch client (C ABI, static library)
Version: $version
Cflags: $cflags
Libs: \${libdir}/libhttpbatch.a $static_libs
PC

sed -e "s|@STATIC_LIBS@|$static_libs|" -e "s|@MAJOR@|$major|" -e "s|@DEFINES@|$defines|" \
    cmake/httpbatch-config.cmake \
    >"$libdir/cmake/httpbatch/httpbatch-config.cmake"
sed -e "s|@VERSION@|$version|" cmake/httpbatch-config-version.cmake \
    >"$libdir/cmake/httpbatch/httpbatch-config-version.cmake"
echo "installed httpbatch $version into $prefix"
