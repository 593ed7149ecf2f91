#!/usr/bin/env bash
# Install qlm's build dependencies (Debian packages), build the release preset, and run a first
# generation on the default model (stories260K).
# usage: scripts/setup.sh [--no-run]
#   QLM_MODEL_MIRROR=DIR   take models from a local folder instead of downloading them
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run_demo=1
[ "${1:-}" = "--no-run" ] && run_demo=0

packages=(build-essential cmake ninja-build pkg-config git ca-certificates curl
          libxsimd-dev libcli11-dev libfmt-dev libgtest-dev nlohmann-json3-dev libpcre2-dev
          libreadline-dev
          clang libclang-rt-dev libomp-dev valgrind)  # the last line: scripts/fuzz.sh (libFuzzer) and the valgrind test
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset release -G Ninja >/dev/null
cmake --build --preset release -j "$jobs"
echo "setup: built $root/build/release/bin/qlm"

if [ "$run_demo" = 1 ]; then
  scripts/get-model.sh stories260K
  echo "setup: first generation (stories260K, greedy, 64 tokens):"
  build/release/bin/qlm run -m models/stories260K.gguf -p "Once upon a time" -n 64 --temp 0
fi
