#!/usr/bin/env bash
# Wall time of `qlm quantize` and the reference's llama-quantize on the same F16 file, per preset,
# both with the same thread count, alternating (the order flips every repetition), median of
# QREPS. qlm quantize runs as users run it (its error-minimizing search; QLM_QUANT_FLAGS=
# --reference-rounding times llama.cpp's rounding rules instead).
#
# usage: scripts/bench/quantize-time.sh [--ref DIR] SRC.gguf
# env: QLM (default build/release/bin/qlm), TYPES ("Q8_0 Q4_0 Q4_K_M Q6_K Q5_K_M Q3_K_M Q2_K"),
#      QTHREADS (nproc), QREPS (3), QLM_QUANT_FLAGS
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref=${QLM_SHARED_DIR:-$root/../shared}/ref/llama.cpp/bin
[ "${1:-}" = --ref ] && { ref=$2; shift 2; }
src=${1:?usage: quantize-time.sh [--ref DIR] SRC.gguf}
qlm=${QLM:-$root/build/release/bin/qlm}
types=${TYPES:-Q8_0 Q4_0 Q4_K_M Q6_K Q5_K_M Q3_K_M Q2_K} n=${QTHREADS:-$(nproc)} reps=${QREPS:-3}
read -r -a qflags <<<"${QLM_QUANT_FLAGS:-}"
have_ref=0
[ -x "$ref/llama-quantize" ] && have_ref=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# seconds CMD... -> wall seconds, or "failed"
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$tmp/log" 2>&1 || { echo "quantize-time.sh: failed: $* ($(tail -1 "$tmp/log"))" >&2; echo failed; return; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
size() { if [ -f "$1" ]; then du -m "$1" | cut -f1; else echo –; fi; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "failed"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "## Quantization time: qlm quantize vs llama-quantize ($(basename "$src"), $(du -m "$src" | cut -f1) MiB; threads: $n for each; median of $reps)"
echo
echo "\`qlm quantize -t $n${qflags[*]:+ ${qflags[*]}} SRC OUT TYPE\`$([ $have_ref = 1 ] && echo " vs \`llama-quantize SRC OUT TYPE $n\`")"
[ $have_ref = 1 ] || echo "(llama-quantize not found at $ref: qlm only)"
echo
echo "| preset | qlm s | llama-quantize s | qlm throughput ÷ llama-quantize's | qlm MiB | llama-quantize MiB |"
echo "|---|---:|---:|---:|---:|---:|"
for type in $types; do
  qs='' ls=''
  for r in $(seq 1 "$reps"); do
    order=(qlm llama); [ $((r % 2)) = 0 ] && order=(llama qlm)
    for e in "${order[@]}"; do
      if [ "$e" = qlm ]; then
        s=$(seconds "$qlm" quantize -t "$n" "${qflags[@]}" "$src" "$tmp/q.gguf" "$type"); [ "$s" = failed ] || qs+=" $s"
      elif [ $have_ref = 1 ]; then
        s=$(seconds "$ref/llama-quantize" "$src" "$tmp/l.gguf" "$type" "$n"); [ "$s" = failed ] || ls+=" $s"
      fi
    done
  done
  q=$(echo "$qs" | median) l=–
  [ $have_ref = 1 ] && l=$(echo "$ls" | median)
  ratio=–
  [ "$q" != failed ] && [ "$l" != failed ] && [ "$l" != – ] && ratio=$(awk -v a="$q" -v b="$l" 'BEGIN { printf "%.2f×", b / a }')
  echo "| $type | $q | $l | $ratio | $(size "$tmp/q.gguf") | $(size "$tmp/l.gguf") |"
  rm -f "$tmp/q.gguf" "$tmp/l.gguf"
done
