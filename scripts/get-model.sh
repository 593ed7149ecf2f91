#!/usr/bin/env bash
# Fetch a model listed in models/catalog.tsv into models/, verified by sha256.
# usage: scripts/get-model.sh [--no-verify] NAME...
#        scripts/get-model.sh --list
#   QLM_MODEL_MIRROR=DIR   copy from this folder when it has the file (tests and CI: ../shared/models)
#   QLM_MODELS_DIR=DIR     put models here instead of models/
#   --no-verify            allow catalog entries that have no sha256 (downloaded unverified)
# Sources, in order: the copy shipped in the repository's models/ (stories260K), the mirror, the
# catalog's URL. Models with no URL are mirror-only: without a mirror that holds them, get-model
# says so and fails. Idempotent: a file already in place with the right sha256 is kept. A download
# whose sha256 does not match is deleted. Downloads resume (curl -C -) and fail on HTTP errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
catalog="$root/models/catalog.tsv"
dest_dir="${QLM_MODELS_DIR:-$root/models}"  # where models go (tests use a temporary folder)

die() { echo "get-model: error: $*" >&2; exit 1; }
say() { echo "get-model: $*" >&2; }
# Where a model comes from without a mirror: shipped (in the repository), download, mirror-only.
source_kind() {
  if [ -f "$root/models/$1" ] && git -C "$root" ls-files --error-unmatch "models/$1" >/dev/null 2>&1; then echo shipped
  elif [ "$2" = "-" ]; then echo mirror-only
  else echo download; fi
}

[ -f "$catalog" ] || die "catalog not found: $catalog"

verify=1
names=()
for arg in "$@"; do
  case "$arg" in
    --no-verify) verify=0 ;;
    --list)
      printf '%-30s %-38s %12s  %-11s %s\n' NAME FILE BYTES SOURCE SHA256
      grep -v '^#' "$catalog" | while IFS=$'\t' read -r name file _mirror sha size _lic url; do
        [ -n "$name" ] && printf '%-30s %-38s %12s  %-11s %s\n' "$name" "$file" "$size" "$(source_kind "$file" "$url")" "$sha"
      done
      exit 0 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg' (see scripts/get-model.sh --help)" ;;
    *) names+=("$arg") ;;
  esac
done
[ ${#names[@]} -gt 0 ] || die "no model name given; try: scripts/get-model.sh stories260K (scripts/get-model.sh --list shows all)"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

fetch_one() {
  local want="$1" line name file mirror sha size license url
  line=$(grep -v '^#' "$catalog" | awk -F'\t' -v n="$want" 'tolower($1) == tolower(n) { print; exit }')
  [ -n "$line" ] || die "'$want' is not in the catalog (scripts/get-model.sh --list shows the names)"
  IFS=$'\t' read -r name file mirror sha size license url <<< "$line"
  local dest="$dest_dir/$file"
  mkdir -p "$dest_dir"

  if [ "$sha" = "-" ] && [ "$verify" = 1 ]; then
    die "$name has no sha256 in the catalog, so it can't be verified; re-run with --no-verify to fetch it unverified"
  fi

  if [ -f "$dest" ]; then
    if [ "$sha" = "-" ]; then
      say "$name: $dest already present (not verified: no sha256 in the catalog)"
      echo "$dest"; return 0
    fi
    if [ "$(sha256_of "$dest")" = "$sha" ]; then
      say "$name: $dest already present, sha256 ok"
      echo "$dest"; return 0
    fi
    say "$name: $dest has the wrong sha256; fetching it again"
    rm -f "$dest"
  fi

  local part="$dest.part"
  local source=""
  local shipped="$root/models/$file"
  if [ "$shipped" -ef "$dest" ]; then shipped=""; fi
  if [ -n "$shipped" ] && [ -f "$shipped" ] && { [ "$sha" = "-" ] || [ "$(sha256_of "$shipped")" = "$sha" ]; }; then
    source="$shipped"
  elif [ -n "${QLM_MODEL_MIRROR:-}" ]; then
    local m
    for m in "$mirror" "$file"; do
      if [ "$m" != "-" ] && [ -f "$QLM_MODEL_MIRROR/$m" ]; then
        source="$QLM_MODEL_MIRROR/$m"
        break
      fi
    done
  fi
  if [ -n "$source" ]; then
    if [ "$url" = "-" ]; then say "$name: copying $source (mirror-only: there is no public download)"
    else say "$name: copying $source"; fi
    rm -f "$part"
    cp "$source" "$part"
    chmod u+w "$part"
  else
    if [ "$url" = "-" ]; then
      local want_file="$file"
      [ "$mirror" != "-" ] && want_file="$mirror"
      if [ -n "${QLM_MODEL_MIRROR:-}" ]; then
        die "$name is mirror-only (no public download), and QLM_MODEL_MIRROR=$QLM_MODEL_MIRROR has no $want_file: point QLM_MODEL_MIRROR at a folder that holds it"
      fi
      die "$name is mirror-only (no public download): set QLM_MODEL_MIRROR to a folder that holds $want_file"
    fi
    command -v curl >/dev/null || die "curl is not installed (apt-get install curl), or set QLM_MODEL_MIRROR"
    say "$name: downloading $url${size:+ ($size bytes)}"
    # -C - resumes a partial .part file left by an interrupted run.
    if ! curl -fL --retry 3 --retry-delay 2 --connect-timeout 20 -C - -o "$part" "$url"; then
      die "$name: download failed from $url (partial file kept at $part; re-run to resume)"
    fi
  fi

  if [ "$sha" != "-" ]; then
    local got
    got=$(sha256_of "$part")
    if [ "$got" != "$sha" ]; then
      rm -f "$part"
      die "$name: sha256 mismatch (got $got, expected $sha); the bad file was deleted"
    fi
  else
    say "$name: not verified (--no-verify; the catalog has no sha256)"
  fi
  mv -f "$part" "$dest"
  say "$name: ok -> $dest"
  echo "$dest"
}

for n in "${names[@]}"; do fetch_one "$n"; done
