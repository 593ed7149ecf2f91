#!/usr/bin/env bash
# The GPU checks of the CUDA backend, as one run on a machine with an NVIDIA GPU and the CUDA
# toolkit (nvcc, CMake): configure a QLM_CUDA=ON build, build the kernels' test and qlm, run
# `ctest -L cuda` (the kernels against the scalar references), then show what -ngl does there
# (qlm info's placement against the real GPU, a short run with -ngl all).
#
#   scripts/cuda-device-check.sh [BUILD_DIR]     on the GPU machine (default build/cuda)
#   scripts/cuda-device-check.sh --fetch-deps    here, with network: download the Debian packages
#                                                qlm builds against into .cuda-deps/ (git-ignored)
#
# A GPU machine without qlm's build dependencies (CLI11, fmt, nlohmann-json, PCRE2, readline,
# xsimd, GoogleTest, pkg-config) gets them from .cuda-deps/: the .deb files are unpacked with
# `dpkg -x` into a private prefix that CMake, pkg-config and the loader are pointed at. With
# $OUT set, the logs are copied there. Exit status: 0 when every check passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps_dir=$root/.cuda-deps
deps_pkgs=(libcli11-dev libfmt-dev libfmt9 nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0
           libpcre2-posix3 libreadline-dev libreadline8 libncurses-dev libtinfo6 libxsimd-dev libgtest-dev pkgconf
           pkgconf-bin libpkgconf3)

if [ "${1:-}" = "--fetch-deps" ]; then
  mkdir -p "$deps_dir"
  (cd "$deps_dir" && apt-get download "${deps_pkgs[@]}")
  echo "cuda-device-check: $(ls "$deps_dir"/*.deb | wc -l) packages in $deps_dir: carry .cuda-deps to the GPU machine"
  exit 0
fi

build=${1:-$root/build/cuda}
logs=$(mktemp -d)
finish() {
  if [ -n "${OUT:-}" ]; then cp "$logs"/*.log "$OUT"/ 2>/dev/null || true; fi
}
trap finish EXIT

if ! nvidia-smi -L >"$logs/gpus.log" 2>&1 || ! grep -q "^GPU [0-9]" "$logs/gpus.log"; then
  echo "cuda-device-check: no NVIDIA GPU here (nvidia-smi -L): run this script on the GPU machine" >&2
  exit 1
fi
cat "$logs/gpus.log"
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
[ -x "$nvcc" ] || { echo "cuda-device-check: no nvcc on PATH, in \$CUDACXX or /usr/local/cuda/bin" >&2; exit 1; }
"$nvcc" --version | tail -2

# The carried build dependencies, when there are any.
cmake_prefix=()
if compgen -G "$deps_dir/*.deb" >/dev/null; then
  prefix=/tmp/qlm-deps
  rm -rf "$prefix"
  for deb in "$deps_dir"/*.deb; do dpkg -x "$deb" "$prefix"; done
  arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  export PATH=$prefix/usr/bin:$PATH
  export PKG_CONFIG_SYSROOT_DIR=$prefix
  export PKG_CONFIG_PATH=$prefix/usr/lib/$arch/pkgconfig:$prefix/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$prefix/usr/lib/$arch:$prefix/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LIBRARY_PATH=$prefix/usr/lib/$arch:$prefix/lib/$arch${LIBRARY_PATH:+:$LIBRARY_PATH}
  cmake_prefix=(-DCMAKE_PREFIX_PATH="$prefix/usr")
  echo "cuda-device-check: build dependencies from $deps_dir unpacked into $prefix"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
set -o pipefail
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQLM_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" "${cmake_prefix[@]}" 2>&1 | tee "$logs/configure.log"
cmake --build "$build" -j"$(nproc)" --target test_cuda_kernels qlm 2>&1 | tee "$logs/build.log"

status=0
ctest --test-dir "$build" -L cuda --output-on-failure --no-tests=error 2>&1 | tee "$logs/ctest-cuda.log" || status=1

# What -ngl does on this machine: the placement against the GPU's free memory, and a run that
# says where its layers ran (the forward pass has no GPU path yet: the CPU, after one warning).
model=$root/models/stories260K.gguf
{
  "$build/bin/qlm" info "$model" -ngl all | sed -n '/^gpu plan/,$p'
  "$build/bin/qlm" run -m "$model" -p "Once upon a time" -n 16 --temp 0 -ngl all
} 2>&1 | tee "$logs/ngl.log" || status=1
echo "cuda-device-check: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
