#!/usr/bin/env bash
# What CI runs: install dependencies, build the release and asan (ASan + UBSan) presets, and run
# every test in both. Big-model tests (label "big") and the valgrind test run in the release build
# only. Then every libFuzzer target runs for QLM_FUZZ_SECONDS (default 60) each (scripts/fuzz.sh).
# usage: scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export QLM_SHARED_DIR=${QLM_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
export QLM_MODEL_MIRROR=${QLM_MODEL_MIRROR:-$QLM_SHARED_DIR/models}
[ -d "$QLM_SHARED_DIR" ] || { echo "test: shared data folder not found: $QLM_SHARED_DIR (set QLM_SHARED_DIR)" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh

echo "== release tests"
ctest --preset release -j "$jobs" --timeout 1800

echo "== asan build"
cmake --preset asan -G Ninja >/dev/null
cmake --build --preset asan -j "$jobs"
echo "== asan tests"
ctest --preset asan -j "$jobs" -LE "big|isa" --timeout 1800

echo "== fuzzing (${QLM_FUZZ_SECONDS:-60} s per target)"
scripts/fuzz.sh "${QLM_FUZZ_SECONDS:-60}"
