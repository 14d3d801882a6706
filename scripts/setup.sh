#!/usr/bin/env bash
# Installs what the full test suite needs on a fresh Debian machine that has only the toolchains
# (Rust, Go, gcc/g++). Idempotent: skips whatever is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# The C++ example is built as a CMake user builds it (find_package(httpbatch)).
command -v cmake >/dev/null || need_apt+=(cmake)
# Real proxies for tests/proxy.rs, started by the test on loopback (tinyproxy-bin: the
# program without the system service).
command -v tinyproxy >/dev/null || need_apt+=(tinyproxy-bin)
command -v microsocks >/dev/null || need_apt+=(microsocks)
# A real Redis for tests/distributed*.rs (feature `redis`): each test starts its own instance on a
# free loopback port and stops it; the Debian service the package starts is stopped below.
redis_new=0
command -v redis-server >/dev/null || { need_apt+=(redis-server); redis_new=1; }
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ "$redis_new" = 1 ]; then
  # The package's own service (port 6379) is not what the tests use; do not leave it running.
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# The header generator, pinned: regenerating include/httpbatch.h must not change a byte.
if [ -f scripts/cbindgen-version ]; then
  want=$(cat scripts/cbindgen-version)
  have=$(cbindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    echo "setup: installing cbindgen $want"
    cargo install cbindgen --version "$want" --locked --quiet
  fi
fi
