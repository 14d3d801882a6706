#!/usr/bin/env bash
# Builds the release libraries and installs them for C/C++ users:
#   PREFIX/lib/libhttpbatch.{so,a}, PREFIX/include/httpbatch.{h,hpp}, PREFIX/lib/pkgconfig/httpbatch.pc
# Usage: scripts/install-c.sh PREFIX      (e.g. /usr/local, or $HOME/.local)
# Then:  cc app.c $(pkg-config --cflags --libs httpbatch)         (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#        if PREFIX is not a system prefix; at run time LD_LIBRARY_PATH=PREFIX/lib, or link with
#        `pkg-config --static --libs httpbatch` and -l:libhttpbatch.a for a self-contained binary).
set -euo pipefail
prefix="${1:?usage: scripts/install-c.sh PREFIX}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --lib --quiet
target="${CARGO_TARGET_DIR:-$root/target}/release"
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$target/libhttpbatch.so" "$prefix/lib/"
install -m 0644 "$target/libhttpbatch.a" "$prefix/lib/"
install -m 0644 include/httpbatch.h include/httpbatch.hpp "$prefix/include/"
sed "s|^prefix=.*|prefix=$prefix|" "$target/httpbatch.pc" > "$prefix/lib/pkgconfig/httpbatch.pc"
echo "installed httpbatch into $prefix"
