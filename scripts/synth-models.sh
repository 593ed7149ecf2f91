#!/usr/bin/env bash
# Generate the synthetic models the golden tests need, with ../shared/tools/synth-gguf, into DIR
# (default build/cache/models). Idempotent: a file already there with the right sha256 is kept.
# usage: scripts/synth-models.sh [DIR] [NAME ...]   NAME like mini-f32 (default: all below)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${QLM_SHARED_DIR:-$root/../shared}
dir=${1:-$root/build/cache/models}
shift || true
synth=$shared/tools/synth-gguf
[ -x "$synth" ] || { echo "synth-models: $synth not found (set QLM_SHARED_DIR to the shared/ folder)" >&2; exit 1; }
mkdir -p "$dir"

# name -> sha256 of the file synth-gguf writes with seed 1 (../shared/tools/README.md)
declare -A sha=(
  [mini-f32]=eb4db9e60d7647a1539cfcf804ce8f5b17b051bb7fcf0887ef2cf16475c30119
  [smol-f16]=03641dfc9801f340555fac4a07bf013e6394e898db408db41c33505c1e9e4419
  [qwen-mini-f32]=b293fe00175f7b3e6eff82eda948cb0dc2d5ae523dc050fe7d33c7401ee17ee2
  [tinyllama-f16]=05f703507001942583a7b26dc27341173746313648ae75774b5e892bed33354b
  [llama3-mini-f32]=75737cb9fddfd0d2a1ff57aefed7179a8896c6c05a222fdcd6ebab772edfa7d6
  [qwen3-mini-f32]=2d1d7f8ed6f7a89cb2a78b81a6e7e789764538bfbb504ad85281c714a81e004f
  [phi3-mini-f32]=f3b4c20a873c432fd90fdbf5008159ec802e7fbc799fe827477729fdb45ace58
  [gemma3-mini-f32]=a01aef5edfff154a4440edfe49d7f78489ec3422b187a16651cce7d9e62d9e5e
  [moe-mini-f32]=efe4400c3e360b672ad25cbf7545b50f36817a75b1232d62548697e69a13c19c
  [mixtral-mini-f32]=67247995b244ab06ad6c71e52a9bc9dd7612db1ad5a64a71195013481363bddd
)
# name -> size in MiB of the file it writes, to refuse early when the disk cannot hold it
declare -A mib=(
  [mini-f32]=26 [smol-f16]=260 [qwen-mini-f32]=402 [tinyllama-f16]=2100 [llama3-mini-f32]=222
  [qwen3-mini-f32]=143 [phi3-mini-f32]=152 [gemma3-mini-f32]=133 [moe-mini-f32]=32 [mixtral-mini-f32]=32
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(mini-f32 smol-f16 qwen-mini-f32 tinyllama-f16 llama3-mini-f32 qwen3-mini-f32 phi3-mini-f32
                              gemma3-mini-f32 moe-mini-f32 mixtral-mini-f32)

exec 9>"$dir/.lock"
flock 9
for name in "${names[@]}"; do
  want=${sha[$name]:-}
  [ -n "$want" ] || { echo "synth-models: unknown model $name" >&2; exit 2; }
  out=$dir/$name.gguf
  stamp=$out.sha256
  if [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "synth-models: $name.gguf is up to date"
    continue
  fi
  preset=${name%-*}
  dtype=${name##*-}
  need=$(( ${mib[$name]} + 64 ))
  free=$(df -Pm "$dir" | awk 'NR==2 {print $4}')
  if [ -n "$free" ] && [ "$free" -lt "$need" ]; then
    echo "synth-models: $name.gguf needs ${need} MiB but $dir has ${free} MiB free; free some space or set QLM_CACHE_DIR to a larger disk" >&2
    exit 1
  fi
  echo "synth-models: generating $out"
  trap 'rm -f "$out.tmp"' EXIT
  "$synth" "$preset" "$dtype" "$out.tmp" >/dev/null
  got=$(sha256sum "$out.tmp" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    rm -f "$out.tmp"
    echo "synth-models: $name.gguf has sha256 $got, expected $want" >&2
    exit 1
  fi
  mv "$out.tmp" "$out"
  trap - EXIT
  echo "$want" > "$stamp"
done
