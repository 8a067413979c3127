#!/usr/bin/env bash
# The colocation experiment (docs/hardware.md): an online inference loop and
# an offline training loop on one GPU. Measures the online request latency
# (p50/p99) and the offline throughput in each mode, and reports against the
# targets: online p99 < 50 ms (ideal < 10 ms), offline throughput loss < 20 %.
#
# Usage: sudo scripts/colocate.sh [options]
#   --online 'CMD'   the online service (default: python3 scripts/colocate/online_infer.py,
#                    a batch-32 MLP request every 10 ms; needs PyTorch for ROCm)
#   --offline 'CMD'  the offline job (default: python3 scripts/colocate/offline_train.py,
#                    a batch-64 MLP trained with SGD)
#   --seconds S      length of each run (default 30)
#   --warmup S       seconds at the start of each run left out of the numbers (default 5)
#   --modes LIST     comma-separated, in this order by default:
#                    online-alone, offline-alone  each workload alone (the baselines)
#                    shared   both, no controller
#                    serve    both, `preempt --offline-pid OFF --serve`: the online
#                             loop claims the GPU around each request on the socket
#                    auto     both, `preempt --offline-pid OFF --online-pid ON`
#                             (reported unavailable if this binary lacks --online-pid)
#   --out DIR        results (default ./colocate-YYYYmmdd-HHMMSS; must be new or empty)
#   --bin PATH       the gpreempt-bpf binary (default: $GPREEMPT_BPF, then the
#                    build directory next to this script, then PATH)
# Your own commands must print, on stdout, one line per online request
#   GP-ONLINE t=<CLOCK_MONOTONIC seconds> latency_ms=<ms>
# and, at least every second, the offline job's cumulative progress
#   GP-OFFLINE t=<CLOCK_MONOTONIC seconds> steps=<n>
# (Python: time.monotonic()). In serve mode the online command finds the
# control socket in $GP_PREEMPT_SOCKET and must claim the GPU itself (protocol:
# docs/preempt.md, `preempt and ctl`; PreemptClient in scripts/colocate/online_infer.py).
# Writes DIR/MODE/{online,offline,preempt}.log, DIR/report.txt, DIR/report.json.
# Exit status: 0 the experiment ran and the report is written (whether the
# targets were met is in the report); 1 a run failed or no report; 2 no AMD
# GPU on this host; 3 not root; 4 no workloads (no PyTorch for ROCm: pass
# --online and --offline); 64 usage error.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ONLINE=""
OFFLINE=""
RUN_S=30
WARMUP=5
MODES_ARG="online-alone,offline-alone,shared,serve,auto"
OUT=""
BIN=${GPREEMPT_BPF:-}
KFD_PROC=${GPREEMPT_BPF_ROOT:-}/sys/class/kfd/kfd/proc  # the tool's test root, as everywhere
SETTLE=90

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}
die() {
  echo "colocate: $1" >&2
  exit "${2:-1}"
}
say() { echo "colocate: $*"; }

while (($#)); do
  case $1 in
    --online) ONLINE=${2:-}; shift ;;
    --offline) OFFLINE=${2:-}; shift ;;
    --seconds) RUN_S=${2:-}; shift ;;
    --warmup) WARMUP=${2:-}; shift ;;
    --modes) MODES_ARG=${2:-}; shift ;;
    --out) OUT=${2:-}; shift ;;
    --bin) BIN=${2:-}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "colocate: unknown argument: $1" >&2; usage 64 ;;
  esac
  shift
done
[[ $RUN_S =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ $RUN_S != 0 ]] || die "--seconds needs a positive number, got '$RUN_S'" 64
[[ $WARMUP =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--warmup needs a number of seconds, got '$WARMUP'" 64
IFS=, read -r -a MODES <<<"$MODES_ARG"
((${#MODES[@]})) || die "--modes is empty" 64
for m in "${MODES[@]}"; do
  case $m in online-alone | offline-alone | shared | serve | auto) ;; *) die "unknown mode '$m' in --modes" 64 ;; esac
done
if [[ -n $ONLINE && -z $OFFLINE ]] || [[ -z $ONLINE && -n $OFFLINE ]]; then
  die "--online and --offline go together (or neither, for the PyTorch defaults)" 64
fi
if [[ -n $BIN ]]; then
  [[ -x $BIN ]] || die "--bin $BIN is not an executable" 64
elif [[ -x $REPO/build/gpreempt-bpf ]]; then
  BIN=$REPO/build/gpreempt-bpf
elif command -v gpreempt-bpf >/dev/null 2>&1; then
  BIN=$(command -v gpreempt-bpf)
else
  die "gpreempt-bpf not found: build it (cmake --build build), install the package, or pass --bin PATH" 64
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the report (apt-get install python3)" 64

# No GPU, no experiment: say so before creating anything.
doctor=$("$BIN" doctor --json 2>/dev/null)
if ! grep -q '"amdgpu_loaded": *true' <<<"$doctor"; then
  die "no AMD GPU here: the amdgpu driver is not loaded. The colocation experiment needs a GPU; nothing was run." 2
fi
if grep -q '"gpu_ids": *\[\]' <<<"$doctor" || ! grep -q '"gpu_ids"' <<<"$doctor"; then
  die "no AMD GPU here: amdgpu is loaded but KFD lists no GPU. The colocation experiment needs one; nothing was run." 2
fi
grep -q '"root": *true' <<<"$doctor" || die "run as root (sudo): preempt needs BPF and ptrace" 3

if [[ -z $ONLINE ]]; then
  if ! python3 -c 'import torch, sys; sys.exit(0 if torch.version.hip and torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    die "PyTorch for ROCm is not importable here (or sees no GPU): install it, or pass your own --online 'CMD' --offline 'CMD' (see --help for the lines they must print)" 4
  fi
  ONLINE="python3 $HERE/colocate/online_infer.py"
  OFFLINE="python3 $HERE/colocate/offline_train.py"
fi

[[ -n $OUT ]] || OUT=./colocate-$(date +%Y%m%d-%H%M%S)
if [[ -e $OUT && -n $(ls -A "$OUT" 2>/dev/null) ]]; then
  die "$OUT exists and is not empty: choose another --out (results are never mixed)" 64
fi
mkdir -p "$OUT" || die "cannot create $OUT" 64
OUT=$(cd "$OUT" && pwd)

PIDS=()  # process groups we started (workloads, preempt)
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -INT -- "-$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

monotonic() { python3 -c 'import time; print(f"{time.monotonic():.6f}")'; }

# start LOG CMD... : runs CMD in its own process group; its pid in LAST.
start() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  LAST=$!
  PIDS+=("$LAST")
}

# Is any process of group $1 still running (zombies do not count)?
group_alive() {
  # cat, not awk FILES: a process that exits between the glob and the read
  # must not end the scan (mawk stops at the first file it cannot open).
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk -v g="$1" '{ sub(/.*\) /, ""); if ($3 == g && $1 != "Z") found = 1 } END { exit !found }'
}

# stop PID SIG: signal the group, wait up to 10 s for all of it (a GPU job
# frees its queues on the way out), then SIGKILL. Returns the leader's status.
stop() {
  local p=$1 sig=${2:-TERM} i=0 rc
  kill "-$sig" -- "-$p" 2>/dev/null || kill "-$sig" "$p" 2>/dev/null
  while group_alive "$p" && ((i < 100)); do
    sleep 0.1
    i=$((i + 1))
  done
  kill -KILL -- "-$p" 2>/dev/null
  wait "$p" 2>/dev/null
  rc=$?
  local keep=()
  for i in "${PIDS[@]}"; do [[ $i == "$p" ]] || keep+=("$i"); done
  PIDS=("${keep[@]}")
  return "$rc"
}

ppid_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2; }
descends_from() {
  local p=$1
  while [[ -n $p && $p -gt 1 ]]; do
    [[ $p == "$2" ]] && return 0
    p=$(ppid_of "$p")
  done
  return 1
}
# The KFD process (with a queue) of the workload started as $1; waits up to SETTLE s.
kfd_pid_of() {
  local root=$1 i=0 d k
  while ((i < SETTLE * 10)); do
    for d in "$KFD_PROC"/*; do
      k=${d##*/}
      [[ $k =~ ^[0-9]+$ ]] || continue
      [[ -n $(ls -A "$d/queues" 2>/dev/null) ]] || continue
      descends_from "$k" "$root" && { echo "$k"; return 0; }
    done
    kill -0 "$root" 2>/dev/null || return 1
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# wait_line FILE ERE PID: until FILE has a line matching ERE (30 s), or PID exits.
wait_line() {
  local i=0
  while ((i < 600)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

failed() {
  echo "$2" >"$1/failed"
  say "FAILED: $2"
  ANY_FAILED=1
}

run_mode() {
  local mode=$1 dir=$OUT/$1 on="" off="" ctl="" offk="" onk=""
  mkdir -p "$dir"
  say "== $mode (${RUN_S} s)"
  if [[ $mode == auto ]] && ! "$BIN" preempt --help 2>&1 | grep -q -- '--online-pid'; then
    echo "this gpreempt-bpf has no preempt --online-pid (the automatic mode is not in this build)" >"$dir/unavailable"
    say "unavailable: $(cat "$dir/unavailable")"
    return
  fi
  if [[ $mode != online-alone ]]; then
    start "$dir/offline.log" sh -c "$OFFLINE"
    off=$LAST
    if [[ $mode != offline-alone ]]; then
      if ! offk=$(kfd_pid_of "$off"); then
        failed "$dir" "the offline job never created a GPU queue (see $mode/offline.log)"
        stop "$off"
        return
      fi
    fi
  fi
  if [[ $mode == serve ]]; then
    local sock=$dir/preempt.sock
    echo "$BIN preempt --offline-pid $offk --serve --socket $sock --max-hold-ms 1000 --wait-runtime 60" >"$dir/command"
    start "$dir/preempt.log" "$BIN" preempt --offline-pid "$offk" --serve --socket "$sock" \
      --max-hold-ms 1000 --wait-runtime 60
    ctl=$LAST
    if ! wait_line "$dir/preempt.log" '^Serving on' "$ctl"; then
      failed "$dir" "preempt --serve did not start: $(tail -n1 "$dir/preempt.log")"
      stop "$ctl" INT
      stop "$off"
      return
    fi
  fi
  if [[ $mode != offline-alone ]]; then
    if [[ $mode == serve ]]; then
      start "$dir/online.log" env GP_PREEMPT_SOCKET="$dir/preempt.sock" sh -c "$ONLINE"
    else
      start "$dir/online.log" sh -c "$ONLINE"
    fi
    on=$LAST
  fi
  if [[ $mode == auto ]]; then
    if ! onk=$(kfd_pid_of "$on"); then
      failed "$dir" "the online service never created a GPU queue (see auto/online.log)"
      stop "$on"
      stop "$off"
      return
    fi
    echo "$BIN preempt --offline-pid $offk --online-pid $onk --wait-runtime 60" >"$dir/command"
    start "$dir/preempt.log" "$BIN" preempt --offline-pid "$offk" --online-pid "$onk" --wait-runtime 60
    ctl=$LAST
    if ! wait_line "$dir/preempt.log" 'debug session enabled' "$ctl"; then
      failed "$dir" "preempt --online-pid did not start: $(tail -n1 "$dir/preempt.log")"
      stop "$ctl" INT
      stop "$on"
      stop "$off"
      return
    fi
  fi
  monotonic >"$dir/start"  # every part is running: the measured window begins
  sleep "$RUN_S"
  [[ -n $on ]] && stop "$on"
  if [[ -n $ctl ]]; then
    stop "$ctl" INT
    local rc=$?
    echo "$rc" >"$dir/preempt.rc"
    if ((rc != 0)); then
      failed "$dir" "preempt exited with status $rc: $(tail -n1 "$dir/preempt.log")"
    fi
  fi
  [[ -n $off ]] && stop "$off"
  return 0
}

ANY_FAILED=0
for m in "${MODES[@]}"; do run_mode "$m"; done
trap - EXIT
cleanup

if ! python3 "$HERE/colocate/colocate_report.py" "$OUT" --warmup "$WARMUP"; then
  die "the report could not be made from $OUT" 1
fi
say "results in $OUT (report.txt, report.json)"
exit "$ANY_FAILED"
