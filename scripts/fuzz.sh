#!/usr/bin/env bash
# Build the libFuzzer targets (preset fuzz: clang, ASan + UBSan) and run each for SECONDS (default
# 60), one after another. Fails (exit 1) on any finding: a crash, a sanitizer report, a leak, a
# timeout or an out-of-memory input; the reproducer is left in build/fuzz/findings/TARGET/.
# usage: scripts/fuzz.sh [SECONDS]
#   QLM_FUZZ_TARGETS="fuzz_gguf ..."   run only these targets (default: all in build/fuzz/fuzz_targets.txt)
#   QLM_FUZZ_JOBS=N                    parallel fuzzing jobs per target (default 1)
# The corpus of each target grows in build/fuzz/corpus/TARGET/ across runs. Seeds are written at
# run time: hand-made ones (fuzz_seeds, tests/fuzz/seeds/TARGET/) plus copies of small real files
# from $QLM_SHARED_DIR/models (never committed). Replay one input: build/fuzz/bin/TARGET FILE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }
export QLM_SHARED_DIR=${QLM_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found: run scripts/setup.sh (installs clang, libclang-rt-dev)" >&2; exit 1; }

cmake --preset fuzz -G Ninja >/dev/null
cmake --build --preset fuzz -j "$(nproc 2>/dev/null || echo 2)" --target qlm_fuzz_all

bin=build/fuzz/bin
seeds=build/fuzz/seeds
rm -rf "$seeds"
"$bin/fuzz_seeds" "$seeds"
models=$QLM_SHARED_DIR/models

# seed_corpus KIND DIR: fills DIR with the run-time seeds of a kind named in tests/fuzz/CMakeLists.txt.
seed_corpus() {
  local kind=$1 dir=$2
  mkdir -p "$dir"
  case "$kind" in
    gguf)
      cp "$seeds"/gguf/* "$dir"/
      # Small real files: a legacy v2 Q8_0 model with flat blocks, a mixed Q8_0/F16 one.
      for f in stories260K-Q8_0.gguf stories260K-Q8_0-ffnF16.gguf; do
        [ -f "$models/$f" ] && cp "$models/$f" "$dir/real-$f"
      done ;;
    text)
      cp "$seeds"/text/* "$dir"/
      # The tokenizer conformance inputs, one line each, for vocabulary 0..11.
      local k=0
      for inp in "$models"/vocab/*.inp; do
        [ -f "$inp" ] || continue
        while IFS= read -r line; do
          [ "$line" = "__ggml_vocab_test__" ] && continue
          printf '%b%b%s' "\\x$(printf %02x $((k % 12)))" "\\x$(printf %02x $((k % 16)))" "$line" > "$dir/inp-$k"
          k=$((k + 1))
        done < "$inp"
      done ;;
    templates)
      cp "$seeds"/templates/* "$dir"/ ;;
    none) ;;
    *) echo "fuzz: unknown seed kind '$kind' (see seed_corpus in scripts/fuzz.sh)" >&2; exit 2 ;;
  esac
}

targets=${QLM_FUZZ_TARGETS:-$(cut -d' ' -f1 build/fuzz/fuzz_targets.txt | tr '\n' ' ')}
failed=()
for t in $targets; do
  kind=$(awk -v t="$t" '$1 == t {print $2}' build/fuzz/fuzz_targets.txt)
  [ -n "$kind" ] || { echo "fuzz: unknown target '$t' (see build/fuzz/fuzz_targets.txt)" >&2; exit 2; }
  corpus=build/fuzz/corpus/$t
  seed_dir=build/fuzz/seed-corpus/$t
  findings=build/fuzz/findings/$t
  rm -rf "$seed_dir" "$findings"  # findings of earlier runs were reported then
  mkdir -p "$corpus" "$findings" "$seed_dir"
  seed_corpus "$kind" "$seed_dir"
  [ -d "tests/fuzz/seeds/$t" ] && cp "tests/fuzz/seeds/$t"/* "$seed_dir"/
  log=build/fuzz/$t.log
  echo "== $t: ${seconds}s (log $log)"
  set +e
  # With -jobs, libFuzzer writes each job's output to fuzz-N.log in the current folder: build/fuzz.
  (cd build/fuzz && rm -f fuzz-*.log &&
   ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
   UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
     "bin/$t" "corpus/$t" "seed-corpus/$t" -max_total_time="$seconds" -jobs="${QLM_FUZZ_JOBS:-1}" \
       -workers="${QLM_FUZZ_JOBS:-1}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="findings/$t/" > "$t.log" 2>&1)
  rc=$?
  set -e
  for j in build/fuzz/fuzz-*.log; do [ -f "$j" ] && { cat "$j" >> "$log"; rm -f "$j"; }; done
  grep -E "^(stat::|#[0-9]+ +DONE)" "$log" | tail -8 || true
  grep -E "^#[0-9]+" "$log" | tail -1 || true
  if [ "$rc" != 0 ] || ls "$findings"/* >/dev/null 2>&1; then
    echo "fuzz: $t FAILED (exit $rc); reproducers in $findings/, log $log:" >&2
    grep -E "ERROR:|runtime error|==[0-9]+==|SUMMARY" "$log" | head -20 >&2 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings in $targets(${seconds}s each)"
