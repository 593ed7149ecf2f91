#!/usr/bin/env bash
# qlm's speed next to llama.cpp's, measured in one run on one machine (docs/performance.md).
#
# Makes the synthetic smol and tinyllama F16 models (scripts/synth-models.sh), quantizes each to
# Q8_0, Q4_0 and Q4_K_M twice -- with `qlm quantize` (FILE/qlm) and with the reference's
# llama-quantize (FILE/llama), kept in the bench cache between runs -- then, for every file and
# thread count, runs llama-bench and `qlm bench` with the same settings, alternating, ROUNDS times
# (the order flips every round), and prints: the CPU model, its ISA flags, both engines' kernel
# choice, membw's read bandwidth measured at the start and the end of the run, and the ratio table
# (medians of all samples of both engines, read from their JSON by scripts/bench/report.py).
# Without the reference llama.cpp it says so and prints qlm's numbers alone.
#
# usage: scripts/bench.sh [--quick] [--no-tinyllama] [--quantizer qlm|llama|both] [--ref DIR]
#                         [--rss] [--quantize] [--no-kernels]
#   --quick       smol only, pp64/tg16, 2 rounds of 2 repetitions, no kernel table (shows it works)
#   --quantizer   whose quantized files to measure (default both; qlm only without the reference)
#   --ref DIR     the reference llama.cpp's bin/ folder (default ../shared/ref/llama.cpp/bin)
#   --rss         peak RSS of `qlm run` and llama-completion on every file (scripts/bench/rss.sh)
#   --quantize    `qlm quantize` and llama-quantize wall time per preset on smol-f16
#                 (scripts/bench/quantize-time.sh)
#   --no-kernels  leave out `qlm bench --kernels` (qlm's dot kernels alone)
# env: TYPES (f16,Q8_0,Q4_0,Q4_K_M: the files to measure), ROUNDS (3), REPS (3 per call), PP (128), TG (64), THREADS (1,2), FA (on|off: flash attention
#      for both engines, default on), NBATCH (512), MEMBW_MIB (1024), QLM_CACHE_DIR (build/cache:
#      models/ and bench/ under it), BENCH_DIR (the quantized files), FRESH=1 (quantize again),
#      QLM (a qlm binary; else the release preset is built), QLM_ISA (forces qlm's kernel set:
#      QLM_ISA=avx2 scripts/bench.sh), BENCH_OMP_WAIT_POLICY (active|passive; default unset),
#      REF_CPU_VARIANT (x64|haswell|skylakex|icelake|zen4...: the reference's CPU backend variant,
#      else the best the CPU has; run from a temporary copy of its bin/ folder holding only that
#      libggml-cpu-VARIANT.so, since llama.cpp picks among the libraries next to its executable:
#      QLM_ISA=avx2 REF_CPU_VARIANT=haswell scripts/bench.sh compares the two AVX2 paths)
# Fairness: both engines get the same files, -p/-n/-t/-r, flash attention setting, batch of NBATCH
# (llama-bench -b/-ub, qlm -b), f16 KV cache, random token ids, mmap'd weights and one warm-up
# pass per test; llama.cpp's threads are a libgomp team in the reference build (its --poll is for
# ggml's own pool and does not apply), left at libgomp's default wait policy; qlm's own pool spins
# 20 µs, then sleeps. docs/performance.md explains.
# A full run (8 model files, 14 with both quantizers, 1 and 2 threads, 3 rounds) takes ~30-40
# minutes on a quiet 2-core machine, plus ~10 the first time for the files. Run it on a quiet
# machine: other processes on the cores depress and scatter every number.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${QLM_SHARED_DIR:-$root/../shared}
cache=${QLM_CACHE_DIR:-$root/build/cache}
models=$cache/models
dir=${BENCH_DIR:-$cache/bench}
ref=$shared/ref/llama.cpp/bin
rounds=${ROUNDS:-3} reps=${REPS:-3} pp=${PP:-128} tg=${TG:-64} threads=${THREADS:-1,2}
types=${TYPES:-f16,Q8_0,Q4_0,Q4_K_M} fa=${FA:-on} nbatch=${NBATCH:-512} membw_mib=${MEMBW_MIB:-1024}
tiny=1 kernels=1 rss=0 qtime=0 quantizer=both
invocation="scripts/bench.sh${*:+ $*}"
for v in MEMBW_MIB NBATCH FA THREADS TG PP REPS ROUNDS TYPES QLM_ISA REF_CPU_VARIANT; do [ -n "${!v:-}" ] && invocation="$v=${!v} $invocation"; done
while [ $# -gt 0 ]; do
  case $1 in
    --quick) rounds=2 reps=2 pp=64 tg=16 tiny=0 kernels=0 membw_mib=512 ;;
    --no-tinyllama) tiny=0 ;;
    --no-kernels) kernels=0 ;;
    --rss) rss=1 ;;
    --quantize) qtime=1 ;;
    --quantizer) quantizer=${2:?--quantizer needs qlm, llama or both}; shift ;;
    --ref) ref=${2:?--ref needs the llama.cpp bin/ folder}; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $quantizer in qlm|llama|both) ;; *) echo "bench.sh: --quantizer $quantizer: use qlm, llama or both" >&2; exit 2 ;; esac
case $fa in on|off) ;; *) echo "bench.sh: FA=$fa: use on or off" >&2; exit 2 ;; esac
for type in ${types//,/ }; do
  case $type in f16|Q8_0|Q4_0|Q4_K_M) ;; *) echo "bench.sh: TYPES: $type: use f16, Q8_0, Q4_0 or Q4_K_M" >&2; exit 2 ;; esac
done

qlm=${QLM:-$root/build/release/bin/qlm}
if [ -z "${QLM:-}" ]; then
  (cd "$root" && cmake --preset release -G Ninja >/dev/null && cmake --build --preset release -j"$(nproc)" --target qlm >/dev/null)
fi
[ -x "$qlm" ] || { echo "bench.sh: $qlm not found (build with cmake --preset release)" >&2; exit 1; }

# llama.cpp's libgomp threads: their default wait (spin a while, then sleep) between parallel
# regions, not the passive policy a test environment may export, which adds a wake-up to every
# matmul. membw takes its thread count from OMP_NUM_THREADS, set per call below.
if [ -n "${BENCH_OMP_WAIT_POLICY:-}" ]; then export OMP_WAIT_POLICY=$BENCH_OMP_WAIT_POLICY; else unset OMP_WAIT_POLICY; fi
unset OMP_NUM_THREADS

have_ref=0
if [ -x "$ref/llama-bench" ] && [ -x "$ref/llama-quantize" ]; then
  have_ref=1
else
  echo "bench.sh: the reference llama.cpp is not at $ref (llama-bench, llama-quantize): the comparison with llama.cpp is skipped, qlm's numbers only" >&2
  [ "$quantizer" = llama ] && { echo "bench.sh: --quantizer llama needs the reference" >&2; exit 1; }
  quantizer=qlm
fi

# REF_CPU_VARIANT: llama.cpp loads the best of the libggml-cpu-*.so next to its (resolved)
# executable, so the reference runs from a copy of bin/ without the other variants.
ref_variant=${REF_CPU_VARIANT:-} ref_shown=$ref
if [ -n "$ref_variant" ]; then
  [ $have_ref = 1 ] || { echo "bench.sh: REF_CPU_VARIANT=$ref_variant needs the reference llama.cpp" >&2; exit 1; }
  if [ ! -f "$ref/libggml-cpu-$ref_variant.so" ]; then
    avail=$(cd "$ref" && ls libggml-cpu-*.so 2>/dev/null | sed 's/^libggml-cpu-//; s/\.so$//' | paste -sd' ' -)
    echo "bench.sh: REF_CPU_VARIANT=$ref_variant: no libggml-cpu-$ref_variant.so in $ref (available: ${avail:-none})" >&2
    exit 2
  fi
  mkdir -p "$cache"
  ref_copy=$(mktemp -d "$cache/ref-$ref_variant.XXXXXX")
  trap 'rm -rf "$ref_copy"' EXIT
  for f in "$ref"/*; do
    case ${f##*/} in libggml-cpu-*.so) [ "${f##*/}" = "libggml-cpu-$ref_variant.so" ] || continue ;; esac
    cp -pL "$f" "$ref_copy/"
  done
  ref_shown="$ref (a copy of it holding libggml-cpu-$ref_variant.so alone)"
  ref=$ref_copy
fi

# ---- the files -------------------------------------------------------------------------------
synth_names=(smol-f16)
[ $tiny = 1 ] && synth_names+=(tinyllama-f16)
"$root/scripts/synth-models.sh" "$models" "${synth_names[@]}" >&2
mkdir -p "$dir"

# quantize ENGINE NAME TYPE -> prints $dir/NAME-TYPE.ENGINE.gguf (made unless there, or FRESH=1)
quantize() {
  local engine=$1 src=$models/$2-f16.gguf out=$dir/$2-$3.$1.gguf
  if [ "${FRESH:-0}" = 1 ] || [ ! -s "$out" ]; then
    echo "bench.sh: quantizing $2 to $3 with $engine" >&2
    if [ "$engine" = qlm ]; then
      "$qlm" quantize "$src" "$out.tmp" "$3" >/dev/null
    else
      "$ref/llama-quantize" "$src" "$out.tmp" "$3" "$(nproc)" >"$out.log" 2>&1 || { cat "$out.log" >&2; return 1; }
    fi
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

labels=() paths=()
for name in "${synth_names[@]%-f16}"; do
  [[ ,$types, == *,f16,* ]] && labels+=("$name f16") paths+=("$models/$name-f16.gguf")
  for type in Q8_0 Q4_0 Q4_K_M; do
    [[ ,$types, == *,$type,* ]] || continue
    for engine in qlm llama; do
      [ "$quantizer" = both ] || [ "$quantizer" = $engine ] || continue
      labels+=("$name $type/$engine") paths+=("$(quantize $engine "$name" "$type")")
    done
  done
done

run=$dir/runs/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$run"
: >"$run/runs.tsv"
: >"$run/membw.tsv"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- membw's read bandwidth, at the start and at the end --------------------------------------
membw() {
  local phase=$1 n gbs
  for n in ${threads//,/ }; do
    gbs=$(OMP_NUM_THREADS=$n "$shared/tools/membw" "$membw_mib" 3 2>/dev/null |
          awk '/^[Rr]ead/ { for (i = 2; i <= NF; ++i) if ($i ~ /^[0-9.]+$/) { print $i; exit } }') || gbs=
    printf '%s\t%s\t%s\n' "$phase" "$n" "$gbs" >>"$run/membw.tsv"
    echo "bench.sh: membw ($phase) $n thread(s): read ${gbs:-?} GB/s" >&2
  done
}
[ -x "$shared/tools/membw" ] && membw start

# ---- llama.cpp's kernel choice per file: the CPU backend library and the repacked layouts -------
declare -A layout
backend=
if [ $have_ref = 1 ]; then
  for i in "${!paths[@]}"; do
    log=$("$ref/llama-bench" -m "${paths[$i]}" -p 0 -n 1 -r 1 -t 1 --no-warmup -v -o json 2>&1 >/dev/null || true)
    [ -n "$backend" ] || backend=$(echo "$log" | sed -n 's/.*loaded CPU backend from .*\/\(libggml-cpu-[^/ ]*\.so\).*/\1/p' | head -1)
    layout[$i]=$(echo "$log" | sed -n 's/.*repack tensor .* with \([^ ]*\).*/\1/p' | sort | uniq -c |
                 awk '{ printf "%s%s × %s", (NR > 1 ? ", " : ""), $2, $1 }')
  done
  if [ -n "$ref_variant" ] && [ "$backend" != "libggml-cpu-$ref_variant.so" ]; then
    echo "bench.sh: REF_CPU_VARIANT=$ref_variant but llama.cpp loaded ${backend:-no CPU backend library} (does this CPU lack its ISA?)" >&2
    exit 1
  fi
fi

# ---- the interleaved runs ---------------------------------------------------------------------
fa_qlm=(); [ "$fa" = on ] && fa_qlm=(--flash-attn)
run_engine() {  # ENGINE FILE THREADS OUT_BASE
  if [ "$1" = qlm ]; then
    "$qlm" bench -m "$2" -p "$pp" -n "$tg" -t "$3" -r "$reps" -b "$nbatch" "${fa_qlm[@]}" -o json >"$4.json" 2>"$4.err" || true
  else
    "$ref/llama-bench" -m "$2" -p "$pp" -n "$tg" -t "$3" -r "$reps" -b "$nbatch" -ub "$nbatch" -fa "$fa" -o json \
      >"$4.json" 2>"$4.err" || true
  fi
}
engines=(qlm); [ $have_ref = 1 ] && engines=(llama qlm)
total=$(( ${#paths[@]} * $(echo "${threads//,/ }" | wc -w) * rounds )) k=0
for i in "${!paths[@]}"; do
  for t in ${threads//,/ }; do
    for r in $(seq 1 "$rounds"); do
      k=$((k + 1))
      order=("${engines[@]}")
      [ $((r % 2)) = 0 ] && [ ${#engines[@]} = 2 ] && order=(qlm llama)
      for e in "${order[@]}"; do
        echo "bench.sh: [$k/$total] ${labels[$i]} t=$t round $r: $e" >&2
        base=$run/$i.t$t.r$r.$e
        run_engine "$e" "${paths[$i]}" "$t" "$base"
        printf '%s\t%s\t%s\t%s\n' "${labels[$i]}" "$t" "$e" "$base.json" >>"$run/runs.tsv"
      done
    done
  done
done
[ -x "$shared/tools/membw" ] && membw end

# ---- the report -------------------------------------------------------------------------------
qlm_isa=$(sed -n 's/.*"kernel_set": "\([^"]*\)".*/\1/p' "$run"/*.qlm.json 2>/dev/null | sort -u | paste -sd/ -)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
isa_have=() isa_lack=()
for f in sse4_2 avx fma f16c avx2 avx_vnni avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_int8 amx_bf16; do
  if [[ $flags == *" $f "* ]]; then isa_have+=("$f"); else isa_lack+=("$f"); fi
done
ref_build=
[ $have_ref = 1 ] && ref_build=$(sed -n 's/.*"build_commit": "\([^"]*\)".*/\1/p' "$run"/*.llama.json 2>/dev/null | head -1)

echo "# qlm and llama.cpp, same run ($(date -u '+%Y-%m-%d %H:%M UTC'), qlm commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "- CPU: ${cpu:-unknown}, $(nproc) logical CPUs; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "- ISA (/proc/cpuinfo): ${isa_have[*]:-none of the x86 SIMD flags}${isa_lack:+ — not: ${isa_lack[*]}}"
echo "- qlm: kernel set ${qlm_isa:-?}$([ -n "${QLM_ISA:-}" ] && echo " (forced by QLM_ISA=$QLM_ISA)" || echo " (the best the CPU has; QLM_ISA unset)"), its own thread pool"
if [ $have_ref = 1 ]; then
  echo "- llama.cpp: $ref_shown, build ${ref_build:-?}, CPU backend ${backend:-?} $([ -n "$ref_variant" ] && echo "(forced by REF_CPU_VARIANT=$ref_variant: the only variant in a copy of bin/)" || echo "(chosen at run time)"), libgomp threads"
else
  echo "- llama.cpp: not found at $ref — **the comparison with llama.cpp is skipped**; qlm's numbers only"
fi
echo "- tests: pp$pp and tg$tg, $rounds rounds × $reps repetitions per engine (median of all $((rounds * reps)) samples), threads $threads,"
both=; [ $have_ref = 1 ] && both=" for both"
echo "  flash attention $fa$both, batch $nbatch (qlm -b; llama-bench -b/-ub), KV cache f16, OMP_WAIT_POLICY ${OMP_WAIT_POLICY:-unset (libgomp default)}"
printf -- "- membw read (OMP_NUM_THREADS=N membw %s 3, best of 3), start / end:" "$membw_mib"
if [ -s "$run/membw.tsv" ]; then
  for t in ${threads//,/ }; do
    printf ' %s thread(s) %s / %s GB/s;' "$t" "$(awk -F'\t' -v t="$t" '$1 == "start" && $2 == t { print $3 }' "$run/membw.tsv")" \
      "$(awk -F'\t' -v t="$t" '$1 == "end" && $2 == t { print $3 }' "$run/membw.tsv")"
  done
  echo " the higher one is the roofline"
else
  echo " membw not found in $shared/tools"
fi
made_qlm="FILE/qlm made by \`qlm quantize\`" made_llama="FILE/llama by llama-quantize (the reference's own choices)"
case $quantizer in
  both) echo "- files: $made_qlm, $made_llama, from the same F16" ;;
  qlm) echo "- files: $made_qlm from the F16" ;;
  llama) echo "- files: $made_llama from the F16" ;;
esac
echo "- outputs of every call: $run"
echo
echo '```'
echo "\$ $invocation"
echo "# each call: qlm bench -m FILE -p $pp -n $tg -t T -r $reps -b $nbatch${fa_qlm:+ --flash-attn} -o json"
[ $have_ref = 1 ] && echo "#            llama-bench -m FILE -p $pp -n $tg -t T -r $reps -b $nbatch -ub $nbatch -fa $fa -o json"
echo '```'
echo
python3 "$root/scripts/bench/report.py" "$run"

if [ $have_ref = 1 ]; then
  echo
  echo "llama.cpp's weight layouts (repacked at load into interleaved rows for its GEMM kernels; the rest run from the file's blocks):"
  echo
  echo "| file | repacked tensors |"
  echo "|---|---|"
  for i in "${!paths[@]}"; do echo "| ${labels[$i]} | ${layout[$i]:-none} |"; done
fi

if [ $kernels = 1 ]; then
  echo
  "$qlm" bench --kernels -r "$reps"
fi

if [ $rss = 1 ]; then
  echo
  pairs=(); for i in "${!paths[@]}"; do pairs+=("${labels[$i]}=${paths[$i]}"); done
  QLM=$qlm THREADS=${threads##*,} FA=$fa NBATCH=$nbatch "$root/scripts/bench/rss.sh" --ref "$ref" "${pairs[@]}"
fi

if [ $qtime = 1 ]; then
  echo
  QLM=$qlm "$root/scripts/bench/quantize-time.sh" --ref "$ref" "$models/smol-f16.gguf"
fi
