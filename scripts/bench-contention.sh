#!/usr/bin/env bash
# Decode speed when another process holds a core (docs/performance.md, "Under contention"): in one
# run, `qlm run` on kjv-8M generates N tokens with
#   (a) the default thread count, quiet     (b) -t 1, quiet
#   (c) the default thread count while a busy loop spins on one core (taskset -c BUSY_CPU)
#   (d) -t 1 under the same busy loop
# REPS times each, the cases interleaved so that drifting background load hits all of them alike;
# the table gives the median decode t/s (qlm's "generation: ... tokens/s") and min–max. The
# goal: (c) >= (d), and (a) no lower than before. With a second binary (BASE=path, e.g. a build
# of an older commit) both binaries run in the same interleaved loop.
#
# usage: scripts/bench-contention.sh [QLM]
# env:   MODEL (default $QLM_MODEL_MIRROR/kjv-8M-F32.gguf, else ../shared/models/kjv-8M-F32.gguf),
#        BASE (a second qlm binary), REPS (default 7), N (tokens, default 40), BUSY_CPU (default 1),
#        PROMPT (default "In the beginning")
# Run it on a quiet machine: other processes are contention too, so on a shared machine the quiet
# columns are not quiet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${QLM_SHARED_DIR:-$root/../shared}
qlm=${1:-$root/build/release/bin/qlm}
base=${BASE:-}
model=${MODEL:-${QLM_MODEL_MIRROR:-$shared/models}/kjv-8M-F32.gguf}
reps=${REPS:-7} n=${N:-40} busy_cpu=${BUSY_CPU:-1} prompt=${PROMPT:-In the beginning}
case ${1:-} in -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac
for b in "$qlm" $base; do [ -x "$b" ] || { echo "bench-contention.sh: $b is not an executable" >&2; exit 1; }; done
[ -r "$model" ] || { echo "bench-contention.sh: no model at $model (set MODEL)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench-contention.sh: needs taskset (util-linux)" >&2; exit 1; }
# Library defaults: no OpenMP settings from the environment (an older, OpenMP-threaded binary
# would otherwise not run with its defaults).
unset OMP_WAIT_POLICY OMP_NUM_THREADS GOMP_SPINCOUNT

busy_pid=
start_busy() { taskset -c "$busy_cpu" sh -c 'while :; do :; done' & busy_pid=$!; sleep 0.2; }
stop_busy() { if [ -n "$busy_pid" ]; then kill "$busy_pid" 2>/dev/null; wait "$busy_pid" 2>/dev/null || true; busy_pid=; fi; }
trap stop_busy EXIT

# decode_tps BINARY THREADS -> tokens/s of the generation phase
decode_tps() {
  "$1" run -m "$model" -p "$prompt" -n "$n" --temp 0 --ignore-eos -t "$2" 2>&1 >/dev/null |
    sed -n 's/.*generation: .*(\([0-9.]*\) tokens\/s).*/\1/p'
}

bins=("$qlm"); [ -n "$base" ] && bins+=("$base")
declare -A samples
for ((r = 0; r < reps; ++r)); do
  for load in quiet busy; do
    [ $load = busy ] && start_busy
    for b in "${!bins[@]}"; do
      for t in 0 1; do
        v=$(decode_tps "${bins[$b]}" "$t")
        samples[$b,$load,$t]+="${v:-0} "
      done
    done
    [ $load = busy ] && stop_busy
  done
done

# median and min-max of a list of numbers
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f (%.1f–%.1f)", m, v[1], v[NR] }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# qlm decode under contention ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "model $(basename "$model"), \`qlm run -p \"$prompt\" -n $n --temp 0 --ignore-eos -t T\`, median (min–max) of $reps runs;"
echo "busy: \`taskset -c $busy_cpu sh -c 'while :; do :; done'\` while the run lasts. Default threads: 0 (one per physical core, less the CPUs busy when qlm starts)."
echo
echo "| binary | quiet, default threads | quiet, -t 1 | busy core, default threads | busy core, -t 1 | busy: default ÷ -t 1 |"
echo "|---|---:|---:|---:|---:|---:|"
for b in "${!bins[@]}"; do
  name=${bins[$b]}
  [ "$name" = "$qlm" ] && label="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo this) ($name)" || label="base ($name)"
  bd=$(echo "${samples[$b,busy,0]}" | median) b1=$(echo "${samples[$b,busy,1]}" | median)
  ratio=$(awk -v a="$bd" -v b="$b1" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  echo "| $label | $(echo "${samples[$b,quiet,0]}" | stats) | $(echo "${samples[$b,quiet,1]}" | stats) | $(echo "${samples[$b,busy,0]}" | stats) | $(echo "${samples[$b,busy,1]}" | stats) | $ratio |"
done
