#!/usr/bin/env bash
# Install qlm's build dependencies (Debian packages), build the release preset, and run a first
# generation on the default model, stories260K, which ships in models/ (no download needed).
# usage: scripts/setup.sh [--no-run | --run-only]
#   --no-run     install and build only
#   --run-only   only the first generation, with qlm already built
#   QLM_BIN=PATH           the qlm binary for the first generation (default build/release/bin/qlm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run_demo=1
build=1
case "${1:-}" in
  "") ;;
  --no-run) run_demo=0 ;;
  --run-only) build=0 ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup: error: unknown option '$1' (scripts/setup.sh [--no-run | --run-only])" >&2; exit 2 ;;
esac

first_generation() {
  local qlm="${QLM_BIN:-$root/build/release/bin/qlm}"
  [ -x "$qlm" ] || { echo "setup: error: $qlm is not built: run scripts/setup.sh without --run-only" >&2; exit 1; }
  scripts/get-model.sh stories260K >/dev/null  # verifies the shipped file's sha256
  echo "setup: first generation (stories260K, greedy, 64 tokens):"
  "$qlm" run -m models/stories260K.gguf -p "Once upon a time" -n 64 --temp 0
}
if [ "$build" = 0 ]; then
  first_generation
  exit 0
fi

packages=(build-essential cmake ninja-build pkg-config git ca-certificates curl
          libxsimd-dev libcli11-dev libfmt-dev libgtest-dev nlohmann-json3-dev libpcre2-dev
          libreadline-dev
          clang libclang-rt-dev valgrind)  # the last line: scripts/fuzz.sh (libFuzzer) and the valgrind test
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
  first_generation
fi
