#!/usr/bin/env bash
# Fuzz the parsers and the filters with cargo fuzz (libFuzzer; nightly Rust). Targets are in
# fuzz/fuzz_targets/; corpora grow in fuzz/corpus/<target> (not kept), crashes land in
# fuzz/artifacts/<target>. One fuzzing process at a time.
#
#   bash scripts/fuzz.sh                     every target, 240 s each
#   bash scripts/fuzz.sh wire 600            one target for 600 s
#   bash scripts/fuzz.sh all 60              every target, 60 s each
#   bash scripts/fuzz.sh --smoke [seconds]   every target briefly (default 15 s): CI's check
#   bash scripts/fuzz.sh --list              the targets
#
# Each run ends with libFuzzer's figures (executions, `cov:`/`ft:`, corpus size); a crash
# stops the run with its input in fuzz/artifacts/<target>/ (reproduce:
# `cargo +nightly fuzz run --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(session_cookie assertion jwks identity_header kv_record settings wire identity_groups)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi

smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true
  target=all
  seconds=${2:-15}
else
  target=${1:-all}
  seconds=${2:-240}
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a whole number, not '$seconds'" >&2; exit 2; }

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [[ "$target" == all ]]; then
  selected=("${TARGETS[@]}")
else
  [[ " ${TARGETS[*]} " == *" $target "* ]] || {
    echo "fuzz.sh: no target '$target' (one of: ${TARGETS[*]})" >&2
    exit 2
  }
  selected=("$target")
fi

if [[ "$target" == all ]]; then
  cargo +nightly fuzz build --fuzz-dir fuzz
else
  cargo +nightly fuzz build --fuzz-dir fuzz "$target"
fi

for t in "${selected[@]}"; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  dirs=("$corpus")
  [[ -d fuzz/seeds/$t ]] && dirs+=("fuzz/seeds/$t")
  flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [[ -f fuzz/dicts/$t.dict ]] && flags+=(-dict="fuzz/dicts/$t.dict")
  # A smoke run starts from the kept seeds only (the same inputs on every machine).
  if $smoke; then
    corpus=$(mktemp -d)
    dirs=("$corpus")
    [[ -d fuzz/seeds/$t ]] && dirs+=("fuzz/seeds/$t")
  fi
  printf '\n=== fuzz %s (%s s)\n' "$t" "$seconds"
  start=$(date +%s)
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "${dirs[@]}" -- "${flags[@]}"
  echo "fuzz $t: $(( $(date +%s) - start )) s, corpus $(find "${dirs[0]}" -type f | wc -l) inputs"
  if $smoke; then rm -rf "$corpus"; fi
done
