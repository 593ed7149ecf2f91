#!/usr/bin/env bash
# The GPU checks of the CUDA backend, as one run on a machine with an NVIDIA GPU and the CUDA
# toolkit (nvcc, CMake): configure a QLM_CUDA=ON build, build the CUDA tests and qlm, run
# `ctest -L cuda` (the kernels against the scalar references; the forward pass with layers on the
# GPU against the golden logits at -ngl 0, 1, half and all, and forked sequences against the
# CPU), then show what -ngl does there (qlm info's placement against the real GPU, a short run
# and a bench with -ngl all beside -ngl 0).
#
#   scripts/cuda-device-check.sh [BUILD_DIR]     on the GPU machine (default build/cuda)
#   scripts/cuda-device-check.sh --fetch-deps    here, with network: download the Debian packages
#                                                qlm builds against into .cuda-deps/ (git-ignored)
#   scripts/cuda-device-check.sh --pack          here: copy the golden files, models and synth-gguf
#                                                the GPU tests read from ../shared into .cuda-shared/
#                                                (git-ignored, about 33 MB: carry it)
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

pack_dir=$root/.cuda-shared
if [ "${1:-}" = "--pack" ]; then
  shared=${QLM_SHARED_DIR:-$root/../shared}
  rm -rf "$pack_dir"
  mkdir -p "$pack_dir/golden" "$pack_dir/models/synth" "$pack_dir/models/vocab" "$pack_dir/tools"
  for g in stories260K-F32.story1 stories260K-F32.story_long mini-f32 qwen-mini-f32.bpe1 qwen3-mini-f32.bpe1 \
           llama3-mini-f32.bpe1 phi3-mini-f32.story2 mini-Q8_0 mini-Q6_K mini-Q5_K_S mini-Q4_K_M mini-Q4_0; do
    cp "$shared/golden/$g.json" "$pack_dir/golden/"
  done
  cp "$shared/models/stories260K-F32.gguf" "$pack_dir/models/"
  for q in Q8_0 Q6_K Q5_K_S Q4_K_M Q4_0; do cp "$shared/models/synth/mini-$q.gguf" "$pack_dir/models/synth/"; done
  for v in gpt-2 llama-spm phi-3; do cp "$shared/models/vocab/ggml-vocab-$v.gguf" "$pack_dir/models/vocab/"; done
  cp "$shared/tools/synth-gguf" "$shared/tools/synth-gguf.c" "$pack_dir/tools/"
  echo "cuda-device-check: $(du -sh "$pack_dir" | cut -f1) in $pack_dir: carry .cuda-shared to the GPU machine"
  exit 0
fi

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

# The golden files and models the forward tests read: the carried .cuda-shared (--pack), or ../shared.
shared=${QLM_SHARED_DIR:-$root/../shared}
[ -d "$pack_dir/golden" ] && shared=$pack_dir
export QLM_SHARED_DIR=$shared
cache=$build/cache
export SYNTH_CACHE_DIR=$cache/synth-gguf

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
set -o pipefail
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQLM_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DQLM_SHARED_DIR="$shared" -DQLM_CACHE_DIR="$cache" "${cmake_prefix[@]}" 2>&1 |
  tee "$logs/configure.log"
cmake --build "$build" -j"$(nproc)" --target test_cuda_kernels test_cuda_forward qlm 2>&1 | tee "$logs/build.log"
# Only the synthetic models the CUDA tests read (the fixture would make every one, tinyllama too).
"$root/scripts/synth-models.sh" "$cache/models" mini-f32 qwen-mini-f32 qwen3-mini-f32 llama3-mini-f32 phi3-mini-f32 \
  2>&1 | tee "$logs/synth.log"

status=0
ctest --test-dir "$build" -L cuda -FS synth --output-on-failure --no-tests=error 2>&1 | tee "$logs/ctest-cuda.log" ||
  status=1

# What -ngl does on this machine: the placement against the GPU's free memory, the same greedy
# text on the GPU as on the CPU, and bench numbers with every layer on the GPU beside none.
model=$root/models/stories260K.gguf
{
  "$build/bin/qlm" info "$model" -ngl all | sed -n '/^gpu plan/,$p'
  "$build/bin/qlm" run -m "$model" -p "Once upon a time" -n 32 --temp 0 -ngl all >"$logs/run-gpu.txt"
  "$build/bin/qlm" run -m "$model" -p "Once upon a time" -n 32 --temp 0 >"$logs/run-cpu.txt"
  for m in "$model" "$shared/models/synth/mini-Q4_0.gguf"; do
    "$build/bin/qlm" bench -m "$m" -p 64 -n 32 -r 3 -ngl all
    "$build/bin/qlm" bench -m "$m" -p 64 -n 32 -r 3
  done
} 2>&1 | tee "$logs/ngl.log" || status=1
if cmp -s "$logs/run-gpu.txt" "$logs/run-cpu.txt"; then
  echo "cuda-device-check: -ngl all gives the CPU's greedy text"
else
  echo "cuda-device-check: -ngl all changed the greedy text:" && cat "$logs/run-gpu.txt" "$logs/run-cpu.txt"
  status=1
fi
echo "cuda-device-check: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
