#!/usr/bin/env bash
# The standard speed table (docs/performance.md): builds the release binary, makes the synthetic
# models (smol, tinyllama) with ../shared/tools/synth-gguf, quantizes them with `qlm quantize`
# into build/cache/bench (kept between runs), runs `qlm bench` over
#   smol F16 / Q8_0 / Q4_0 / Q4_K_M and tinyllama F16 / Q4_0 / Q4_K_M / Q8_0 on 1 and 2 threads
# (pp128 and tg64 as in PERFORMANCE-ANCHORS.md), the kernel microbenchmark, and membw's read
# bandwidth with each generation row's share of that roofline.
#
# usage: scripts/bench.sh [--quick] [--no-tinyllama] [--no-kernels] [--no-membw]
# env:   REPS (default 5), PP (128), TG (64), THREADS (1,2), DEPTH (0), BENCH_DIR (build/cache/bench),
#        MEMBW_MIB (membw array size, default 1024), FRESH=1 (re-quantize), QLM (the qlm binary)
# Takes ~5-7 minutes on an idle 2-core machine (first run: ~3 more minutes to make the files,
# most of it the tinyllama Q4_K_M search); --quick about one minute.
# Run it on a quiet machine: other processes on the cores depress and scatter every number.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${QLM_SHARED_DIR:-$root/../shared}
reps=${REPS:-5} pp=${PP:-128} tg=${TG:-64} threads=${THREADS:-1,2} depth=${DEPTH:-0}
dir=${BENCH_DIR:-$root/build/cache/bench}
tiny=1 kernels=1 membw=1
for a in "$@"; do
  case $a in
    --quick) reps=2 pp=64 tg=16 tiny=0 ;;
    --no-tinyllama) tiny=0 ;;
    --no-kernels) kernels=0 ;;
    --no-membw) membw=0 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

qlm=${QLM:-$root/build/release/bin/qlm}
if [ -z "${QLM:-}" ]; then
  (cd "$root" && cmake --preset release -G Ninja >/dev/null && cmake --build --preset release -j"$(nproc)" --target qlm >/dev/null)
fi
[ -x "$qlm" ] || { echo "bench.sh: $qlm not found (build with cmake --preset release)" >&2; exit 1; }

models=$root/build/cache/models
synth_names=(smol-f16)
[ $tiny = 1 ] && synth_names+=(tinyllama-f16)
"$root/scripts/synth-models.sh" "$models" "${synth_names[@]}" >&2
mkdir -p "$dir"

# quantize NAME TYPE -> $dir/NAME-TYPE.gguf (kept unless FRESH=1)
quantize() {
  local src=$models/$1-f16.gguf out=$dir/$1-$2.gguf
  if [ "${FRESH:-0}" = 1 ] || [ ! -s "$out" ]; then
    echo "bench.sh: quantizing $1 to $2" >&2
    "$qlm" quantize "$src" "$out" "$2" >/dev/null
  fi
  echo "$out"
}

list=("$models/smol-f16.gguf")
for t in Q8_0 Q4_0 Q4_K_M; do list+=("$(quantize smol "$t")"); done
if [ $tiny = 1 ]; then
  list+=("$models/tinyllama-f16.gguf")
  for t in Q4_0 Q4_K_M Q8_0; do list+=("$(quantize tinyllama "$t")"); done
fi
joined=$(IFS=,; echo "${list[*]}")

echo "# qlm bench ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "\$ qlm bench -m <${#list[@]} files> -p $pp -n $tg -t $threads -d $depth -r $reps"
echo
table=$("$qlm" bench -m "$joined" -p "$pp" -n "$tg" -t "$threads" -d "$depth" -r "$reps")
echo "$table"

if [ $kernels = 1 ]; then
  echo
  "$qlm" bench --kernels -r "$reps"
fi

if [ $membw = 1 ]; then
  echo
  echo "## Decode roofline (membw read bandwidth, ${MEMBW_MIB:-1024} MiB arrays)"
  echo
  declare -A read_bw
  for n in ${threads//,/ }; do
    out=$(OMP_NUM_THREADS=$n "$shared/tools/membw" "${MEMBW_MIB:-1024}" 3 | grep -v '^sink')
    read_bw[$n]=$(echo "$out" | awk '/^[Rr]ead/ { for (i = 2; i <= NF; ++i) if ($i ~ /^[0-9.]+$/) { print $i; exit } }')
    echo "OMP_NUM_THREADS=$n membw: read ${read_bw[$n]:-?} GB/s"
  done
  echo
  echo "| model | threads | test | t/s | eff. GB/s | roofline t/s | % of read bandwidth |"
  echo "|---|---:|---|---:|---:|---:|---:|"
  echo "$table" | awk -F'|' -v bws="$(for n in "${!read_bw[@]}"; do printf '%s=%s ' "$n" "${read_bw[$n]}"; done)" '
    BEGIN { n = split(bws, kv, " "); for (i = 1; i <= n; ++i) { split(kv[i], p, "="); bw[p[1]] = p[2] } }
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    trim($7) ~ /^tg/ {
      t = trim($6); ts = trim($8); gbs = trim($11); b = bw[t]
      if (b == "" || gbs == "-" || ts <= 0) next
      printf "| %s | %s | %s | %s | %s | %.1f | %.0f %% |\n", trim($2), t, trim($7), ts, gbs, b / (gbs / ts), 100 * gbs / b
    }'
fi
