#!/usr/bin/env bash
# Builds qlm's kernel tests for AArch64 (NEON kernels, scalar fallbacks) with Debian's cross
# toolchain and runs them under qemu-user. Not part of CI: it installs arm64 packages (multiarch)
# and emulation is slow. The filter takes the kernel, format and single-threaded matmul tests.
#
# usage: scripts/check-aarch64.sh        (as root on Debian 12; build dir build/aarch64)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null ||
   [ ! -e /usr/lib/aarch64-linux-gnu/libfmt.so ]; then
  dpkg --add-architecture arm64
  apt-get update -q
  apt-get install -y -q g++-aarch64-linux-gnu qemu-user libfmt-dev:arm64 libgtest-dev:arm64 \
    libreadline-dev:arm64 libpcre2-dev:arm64
fi
build=$root/build/aarch64
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_CROSSCOMPILING_EMULATOR="qemu-aarch64;-L;/usr/aarch64-linux-gnu" >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_quant
qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/tests/test_quant" \
  --gtest_filter='*Kernels*:Matmul.*:*RandomDot*:Format*:*Dequant*'
