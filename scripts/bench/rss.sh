#!/usr/bin/env bash
# Peak resident set of `qlm run` and the reference's llama-completion on the same files, context,
# prompt, generated tokens, threads, batch and attention, both measured by GNU time
# (`/usr/bin/time -v`, "Maximum resident set size"). Both map the weights from the file, so the
# figure counts the pages of the model they touch plus their own buffers and code.
#
# usage: scripts/bench/rss.sh [--ref DIR] LABEL=FILE...
# env: QLM (default build/release/bin/qlm), THREADS (2), CTX (512), GEN (32), FA (on|off, on),
#      NBATCH (512)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref=${QLM_SHARED_DIR:-$root/../shared}/ref/llama.cpp/bin
[ "${1:-}" = --ref ] && { ref=$2; shift 2; }
qlm=${QLM:-$root/build/release/bin/qlm}
t=${THREADS:-2} ctx=${CTX:-512} gen=${GEN:-32} fa=${FA:-on} nbatch=${NBATCH:-512}
prompt="The quick brown fox jumps over the lazy dog. Once upon a time there was a little town by the sea."

echo "## Peak RSS: qlm run vs llama-completion (/usr/bin/time -v)"
echo
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "rss.sh: installing Debian's time package for /usr/bin/time" >&2
    apt-get install -y time >&2 || { apt-get update >&2 && apt-get install -y time >&2; }
  fi
  [ -x /usr/bin/time ] || { echo "skipped: /usr/bin/time (GNU time) is missing; install it with \`apt-get install time\` as root"; exit 0; }
fi
have_ref=0
[ -x "$ref/llama-completion" ] && have_ref=1

# peak_kib LABEL CMD... -> the "Maximum resident set size" of CMD in KiB, or "failed"
peak_kib() {
  local label=$1 log
  shift
  log=$(mktemp)
  if /usr/bin/time -v "$@" </dev/null >/dev/null 2>"$log"; then
    sed -n 's/.*Maximum resident set size (kbytes): *//p' "$log"
  else
    echo "rss.sh: failed: $(basename "$1") on $label: $(sed '/Command being timed/,$d; /^Command exited/d' "$log" | tail -1)" >&2
    echo failed
  fi
  rm -f "$log"
}
mib() { if [ "$1" = failed ]; then echo failed; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi; }

fa_qlm=(); [ "$fa" = on ] && fa_qlm=(--flash-attn)
echo "\`qlm run -m FILE -p PROMPT -n $gen -c $ctx -t $t -b $nbatch --temp 0 -s 1 --ignore-eos${fa_qlm:+ --flash-attn}\`"
[ $have_ref = 1 ] && echo "vs \`llama-completion -m FILE -p PROMPT -n $gen -c $ctx -t $t -b $nbatch -ub $nbatch --temp 0 -s 1 --ignore-eos -fa $fa -no-cnv --no-warmup\`"
[ $have_ref = 1 ] || echo "(llama-completion not found at $ref: qlm only)"
echo
echo "| file | qlm MiB | llama.cpp MiB | qlm ÷ llama.cpp |"
echo "|---|---:|---:|---:|"
for pair in "$@"; do
  label=${pair%%=*} file=${pair#*=}
  q=$(peak_kib "$label" "$qlm" run -m "$file" -p "$prompt" -n "$gen" -c "$ctx" -t "$t" -b "$nbatch" --temp 0 -s 1 --ignore-eos "${fa_qlm[@]}")
  l=failed
  [ $have_ref = 1 ] && l=$(peak_kib "$label" "$ref/llama-completion" -m "$file" -p "$prompt" -n "$gen" -c "$ctx" -t "$t" -b "$nbatch" \
    -ub "$nbatch" --temp 0 -s 1 --ignore-eos -fa "$fa" -no-cnv --no-warmup)
  ratio=–
  [ "$q" != failed ] && [ "$l" != failed ] && ratio=$(awk -v a="$q" -v b="$l" 'BEGIN { printf "%.2f", a / b }')
  echo "| $label | $(mib "$q") | $([ $have_ref = 1 ] && mib "$l" || echo –) | $ratio |"
done
