#!/usr/bin/env bash
# Fuzz the parsers and the filters with cargo fuzz (libFuzzer; nightly Rust). Targets are in
# fuzz/fuzz_targets/; corpora grow in fuzz/corpus/<target> (not kept), crashes land in
# fuzz/artifacts/<target>. One fuzzing process at a time.
#
#   bash scripts/fuzz.sh                     every target, 240 s each
#   bash scripts/fuzz.sh wire 600            one target for 600 s
#   bash scripts/fuzz.sh all 60              every target, 60 s each
#   bash scripts/fuzz.sh --plateau QUIET MAX [target]
#                                            run each target (or one) until its coverage
#                                            (`cov:`) has not grown for QUIET seconds, or
#                                            MAX seconds have passed
#   bash scripts/fuzz.sh --smoke [seconds]   every target briefly (default 15 s): CI's check
#   bash scripts/fuzz.sh --list              the targets
#
# Each run ends with a summary line: seconds, executions, `cov:` (edges reached), `ft:`
# (libFuzzer's finer features), corpus size, and when `cov:` last grew; libFuzzer's whole
# output is kept in fuzz/logs/<target>.log. A crash stops the run with its input in
# fuzz/artifacts/<target>/ (reproduce:
# `cargo +nightly fuzz run --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(session_cookie assertion jwks identity_header kv_record settings wire identity_groups path)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi

smoke=false
quiet=0
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true
  target=all
  seconds=${2:-15}
elif [[ "${1:-}" == "--plateau" ]]; then
  quiet=${2:-}
  seconds=${3:-}
  target=${4:-all}
  [[ "$quiet" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --plateau QUIET must be a whole number of seconds, not '$quiet'" >&2; exit 2; }
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
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
mkdir -p fuzz/logs

for t in "${selected[@]}"; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  dirs=("$corpus")
  [[ -d fuzz/seeds/$t ]] && dirs+=("fuzz/seeds/$t")
  flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="fuzz/artifacts/$t/")
  [[ -f fuzz/dicts/$t.dict ]] && flags+=(-dict="fuzz/dicts/$t.dict")
  # A smoke run starts from the kept seeds only (the same inputs on every machine).
  if $smoke; then
    corpus=$(mktemp -d)
    dirs=("$corpus")
    [[ -d fuzz/seeds/$t ]] && dirs+=("fuzz/seeds/$t")
  fi
  printf '\n=== fuzz %s (%s s%s)\n' "$t" "$seconds" "$( ((quiet)) && echo ", or $quiet s without new coverage")"
  log=fuzz/logs/$t.log
  # The built binary is run directly so that the plateau watch below can stop it (SIGINT:
  # libFuzzer then prints its final figures and exits 72).
  "fuzz/target/$host/release/$t" "${flags[@]}" "${dirs[@]}" > "$log" 2>&1 &
  pid=$!
  start=$(date +%s)
  last_cov=0 last_grew=0 execs=0 cov=0 ft=0 corp=0 stopped=false
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    now=$(( $(date +%s) - start ))
    # libFuzzer's status lines: "#123 NEW cov: 456 ft: 789 corp: 10/1Kb ... exec/s: ..."
    line=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -n 1 || true)
    if [[ -n "$line" ]]; then
      execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$line")
      cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$line")
      ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$line")
      corp=$(sed -E 's/.*corp: ([0-9]+).*/\1/' <<<"$line")
      if (( cov > last_cov )); then last_cov=$cov; last_grew=$now; fi
    fi
    if (( quiet )) && (( now - last_grew >= quiet )) && ! $stopped; then
      kill -INT "$pid" 2>/dev/null || true
      stopped=true
    fi
  done
  status=0
  wait "$pid" || status=$?
  # libFuzzer exits 72 when interrupted: here, the plateau watch stopping it.
  if $stopped && (( status == 72 )); then status=0; fi
  took=$(( $(date +%s) - start ))
  tail -n 12 "$log"
  # The final figures, once libFuzzer has printed them.
  final=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  [[ -n "$final" ]] && execs=$final
  echo "fuzz $t: $took s, $execs executions, cov $cov, ft $ft, corpus $corp inputs; cov last grew at $last_grew s$($stopped && echo " (stopped: $quiet s without new coverage)")"
  if $smoke; then rm -rf "$corpus"; fi
  if (( status != 0 )); then
    echo "fuzz $t: libFuzzer exited with $status; see $log and fuzz/artifacts/$t/" >&2
    exit "$status"
  fi
done
