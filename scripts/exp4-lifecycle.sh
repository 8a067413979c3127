#!/usr/bin/env bash
# Experiment 4: the queue lifecycle of a workload, over several runs.
# Records the workload N times with `gpreempt-bpf record` (one trace and one
# Perfetto timeline per run), then reports across all runs: queue ids and
# whether they repeat, queue counts, attributes, lifetimes, the order of
# creates and destroys, evictions and preemptions.
#
# Usage: sudo scripts/exp4-lifecycle.sh --runs N --out DIR [options] -- CMD [ARGS...]
#   --runs N      how many times to run and record the workload (>= 1)
#   --out DIR     where the results go (created; must hold no earlier run-*.jsonl)
#   --pause S     seconds between runs, so the driver has freed the last run's
#                 queues (default 2)
#   --bin PATH    the gpreempt-bpf binary (default: $GPREEMPT_BPF, then the
#                 build directory next to this script, then PATH)
#   --dry-run     print the commands, run nothing (no root or GPU needed)
# Writes DIR/run-K.jsonl, DIR/run-K.perfetto.json, DIR/run-K.log (record's
# stderr), DIR/runs.tsv (run, workload exit status, events, lost),
# DIR/report.txt and DIR/report.json.
# Exit status: 0 when every run was recorded (a workload that exits non-zero
# is noted in runs.tsv, not fatal); 1 when a recording or the report failed;
# 2 when this host cannot record (no amdgpu, not root); 64 on usage errors.
set -euo pipefail

RUNS=""
OUT=""
PAUSE=2
BIN=${GPREEMPT_BPF:-}
DRY=0
CMD=()

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}
die() {
  echo "exp4-lifecycle: $1" >&2
  exit "${2:-1}"
}

parse_args() {
  while (($#)); do
    case $1 in
      --runs) RUNS=${2:-}; shift ;;
      --runs=*) RUNS=${1#*=} ;;
      --out) OUT=${2:-}; shift ;;
      --out=*) OUT=${1#*=} ;;
      --pause) PAUSE=${2:-}; shift ;;
      --pause=*) PAUSE=${1#*=} ;;
      --bin) BIN=${2:-}; shift ;;
      --bin=*) BIN=${1#*=} ;;
      --dry-run) DRY=1 ;;
      -h | --help) usage 0 ;;
      --) shift; CMD=("$@"); break ;;
      *) echo "exp4-lifecycle: unknown argument: $1 (the workload goes after --)" >&2; usage 64 ;;
    esac
    shift
  done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer, got '${RUNS}'" 64
  [[ -n $OUT ]] || die "--out DIR is required" 64
  [[ $PAUSE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--pause needs a number of seconds, got '$PAUSE'" 64
  ((${#CMD[@]})) || die "no workload: give it after --, e.g. -- python3 model.py" 64
}

find_bin() {
  if [[ -n $BIN ]]; then
    [[ -x $BIN ]] || die "--bin $BIN is not an executable" 64
    return
  fi
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ -x $here/build/gpreempt-bpf ]]; then
    BIN=$here/build/gpreempt-bpf
  elif command -v gpreempt-bpf >/dev/null 2>&1; then
    BIN=$(command -v gpreempt-bpf)
  elif ((DRY)); then
    BIN=gpreempt-bpf
  else
    die "gpreempt-bpf not found: build it (cmake --build build) or pass --bin PATH" 64
  fi
}

# The same refusals record would give, before any directory is created.
require_host() {
  [[ -d /sys/module/amdgpu ]] ||
    die "the amdgpu driver is not loaded (no /sys/module/amdgpu): experiment 4 needs a host with an AMD GPU (modprobe amdgpu). Nothing was recorded." 2
  ((EUID == 0)) || die "recording attaches BPF probes: run as root (sudo $0 ...)" 2
}

show() {
  printf '%q ' "$@" | sed 's/ $//'
  echo
}

traces() {
  local k
  for ((k = 1; k <= RUNS; k++)); do printf '%s\n' "$OUT/run-$k.jsonl"; done
}

main() {
  parse_args "$@"
  find_bin
  local k files=()
  mapfile -t files < <(traces)

  if ((DRY)); then
    echo "# dry run: $RUNS run(s) into $OUT; amdgpu $([[ -d /sys/module/amdgpu ]] && echo loaded || echo 'NOT loaded: a real run would refuse')"
    for ((k = 1; k <= RUNS; k++)); do
      show "$BIN" record -o "$OUT/run-$k.jsonl" --perfetto "$OUT/run-$k.perfetto.json" -- "${CMD[@]}"
      if ((k < RUNS)); then show sleep "$PAUSE"; fi
    done
    echo "$(show "$BIN" report "${files[@]}") > $(printf '%q' "$OUT/report.txt")"
    echo "$(show "$BIN" report --json "${files[@]}") > $(printf '%q' "$OUT/report.json")"
    return 0
  fi

  require_host
  mkdir -p "$OUT"
  if compgen -G "$OUT/run-*.jsonl" >/dev/null; then
    die "$OUT already holds run-*.jsonl from an earlier experiment: choose another --out (runs are never mixed)" 64
  fi
  printf 'run\tworkload_status\tevents\tlost\n' >"$OUT/runs.tsv"

  for ((k = 1; k <= RUNS; k++)); do
    local trace=$OUT/run-$k.jsonl status=0
    echo "== run $k/$RUNS: $(show "${CMD[@]}")" >&2
    "$BIN" record -o "$trace" --perfetto "$OUT/run-$k.perfetto.json" -- "${CMD[@]}" 2> >(tee "$OUT/run-$k.log" >&2) ||
      status=$?
    # record's status is the workload's; whether the recording itself worked
    # is in the file: a complete trace ends with its trailer.
    if [[ ! -s $trace ]] || ! tail -n1 "$trace" | grep -q '"type":"trailer"'; then
      die "run $k was not recorded (record exited with $status; see $OUT/run-$k.log)" 1
    fi
    local trailer
    trailer=$(tail -n1 "$trace")
    printf '%s\t%s\t%s\t%s\n' "$k" "$status" \
      "$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' <<<"$trailer")" \
      "$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' <<<"$trailer")" >>"$OUT/runs.tsv"
    ((status == 0)) || echo "exp4-lifecycle: note: the workload of run $k exited with status $status (kept)" >&2
    if ((k < RUNS)); then sleep "$PAUSE"; fi
  done

  "$BIN" report "${files[@]}" >"$OUT/report.txt" || die "report failed on $OUT/run-*.jsonl" 1
  "$BIN" report --json "${files[@]}" >"$OUT/report.json" || die "report --json failed on $OUT/run-*.jsonl" 1
  cat "$OUT/report.txt"
  echo "exp4-lifecycle: $RUNS run(s) in $OUT: report.txt, report.json, runs.tsv, run-K.jsonl and run-K.perfetto.json (open in ui.perfetto.dev)" >&2
}

main "$@"
