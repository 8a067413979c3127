#!/bin/sh
# Hardware validation kit: runs every gpreempt-bpf command against a real GPU
# workload on this host and bundles the results into one archive to send back.
#
# Usage: sudo scripts/hw-validate.sh [options]
#   --workload 'CMD'  the GPU workload to run during the checks (a shell command
#                     line that keeps one GPU busy for a few minutes). Default: a
#                     PyTorch-for-ROCm training loop (scripts/colocate/offline_train.py)
#                     when torch with ROCm is importable, else a HIP loop built
#                     with hipcc (scripts/hw-validate/busy.hip)
#   --out DIR         where the results go (default ./hw-validate-HOST-YYYYmmdd-HHMMSS);
#                     the archive is DIR.tar.gz
#   --bin PATH        the gpreempt-bpf binary (default: $GPREEMPT_BPF, then the
#                     build directory next to this script, then PATH)
#   --seconds S       length of the watch and record steps (default 5)
#   --cycles N        preempt cycles (default 20)
#   --settle S        how long to wait for the workload's first GPU queue (default 90)
# Steps: doctor; watch while the workload runs; the doorbell uprobes of
# preempt --online-pid on the workload's ROCm runtime (doctor --online-pid: do
# they hear its submissions?); queues --verify (sysfs) and queues
# --snapshot-check (KFD's GET_QUEUE_SNAPSHOT in a short debug session);
# latency while preempt --cycles N runs on the workload; record and report.
# DIR/summary.txt says what passed and the commands to reproduce each step.
# Exit status: 0 every step passed; 1 a step failed (summary.txt says which);
# 2 no AMD GPU here (amdgpu not loaded, or KFD lists no GPU): doctor's output
# is bundled, nothing else can be checked; 3 not root; 4 no GPU workload found
# (pass --workload); 64 usage error. The archive is written in every case.
# Runs under bash or busybox sh (POSIX sh only).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORKLOAD=""
OUT=""
BIN=${GPREEMPT_BPF:-}
SECONDS_STEP=5
CYCLES=20
SETTLE=90
# The tool's own test root (controller/base/host_paths.h): sysfs reads go through it too.
ROOT=${GPREEMPT_BPF_ROOT:-}
KFD_PROC=$ROOT/sys/class/kfd/kfd/proc

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}
die() {
  echo "hw-validate: $1" >&2
  exit "${2:-1}"
}
is_number() {
  case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

while [ $# -gt 0 ]; do
  case $1 in
    --workload) WORKLOAD=${2:-}; [ -n "$WORKLOAD" ] || die "--workload needs a command line" 64; shift ;;
    --out) OUT=${2:-}; shift ;;
    --bin) BIN=${2:-}; shift ;;
    --seconds) SECONDS_STEP=${2:-}; shift ;;
    --cycles) CYCLES=${2:-}; shift ;;
    --settle) SETTLE=${2:-}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "hw-validate: unknown argument: $1" >&2; usage 64 ;;
  esac
  shift
done
for n in "$SECONDS_STEP" "$CYCLES" "$SETTLE"; do
  is_number "$n" && [ "$n" -gt 0 ] || die "--seconds, --cycles and --settle take positive integers, got '$n'" 64
done

if [ -n "$BIN" ]; then
  [ -x "$BIN" ] || die "--bin $BIN is not an executable" 64
elif [ -x "$REPO/build/gpreempt-bpf" ]; then
  BIN=$REPO/build/gpreempt-bpf
elif command -v gpreempt-bpf >/dev/null 2>&1; then
  BIN=$(command -v gpreempt-bpf)
else
  die "gpreempt-bpf not found: build it (cmake --build build), install the package, or pass --bin PATH" 64
fi

[ -n "$OUT" ] || OUT=./hw-validate-$(hostname 2>/dev/null || echo host)-$(date +%Y%m%d-%H%M%S)
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
  die "$OUT exists and is not empty: choose another --out (results are never mixed)" 64
fi
mkdir -p "$OUT" || die "cannot create $OUT" 64
OUT=$(cd "$OUT" && pwd)
ARCHIVE=$OUT.tar.gz
SUMMARY=$OUT/summary.txt
RESULTS=$OUT/.results
: >"$RESULTS"
FAILED=0
WPID=""
KPID=""
LAT_PID=""

say() { echo "hw-validate: $*"; }

# result STATUS STEP DETAIL: one line of the summary (PASS, FAIL or SKIP).
result() {
  printf '%-4s %-15s %s\n' "$1" "$2" "$3" >>"$RESULTS"
  printf '%-4s %-15s %s\n' "$1" "$2" "$3"
  [ "$1" != FAIL ] || FAILED=1
}

# run NAME OUTFILE CMD...: one step's command, its stdout in OUTFILE, stderr in
# OUTFILE.err, the command line in commands.txt; sets RC.
run() {
  _name=$1 _file=$2
  shift 2
  echo "$*" >>"$OUT/commands.txt"
  say "$_name: $*"
  "$@" >"$OUT/$_file" 2>"$OUT/$_file.err"
  RC=$?
  echo "$RC" >"$OUT/$_file.rc"
}

# The last non-empty line of a file, for a FAIL's detail.
last_err() {
  grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n1 | cut -c1-200
}

# Is any process of group $1 still running (zombies do not count: a dead
# leader stays one until we wait for it)?
group_alive() {
  # cat, not awk FILES: a process that exits between the glob and the read
  # must not end the scan (mawk stops at the first file it cannot open).
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk -v g="$1" '{ sub(/.*\) /, ""); if ($3 == g && $1 != "Z") found = 1 } END { exit !found }'
}

stop_workload() {
  [ -n "$LAT_PID" ] && kill -INT "$LAT_PID" 2>/dev/null
  if [ -n "$WPID" ]; then
    # setsid made the workload a process group of its own: TERM all of it,
    # give it 10 s to exit cleanly (a GPU job frees its queues), then KILL.
    kill -TERM "-$WPID" 2>/dev/null || kill -TERM "$WPID" 2>/dev/null
    _i=0
    while group_alive "$WPID" && [ "$_i" -lt 100 ]; do
      sleep 0.1
      _i=$((_i + 1))
    done
    kill -KILL "-$WPID" 2>/dev/null
    wait "$WPID" 2>/dev/null
    WPID=""
  fi
}

# Writes summary.txt, bundles DIR into DIR.tar.gz, exits with $1.
finish() {
  _rc=$1 _why=$2
  stop_workload
  {
    echo "gpreempt-bpf hardware validation on $(uname -n), kernel $(uname -r), $(date)"
    echo "binary: $BIN ($("$BIN" --version 2>/dev/null | head -n1))"
    [ -n "$WORKLOAD" ] && echo "workload: $WORKLOAD${KPID:+ (KFD process $KPID)}"
    echo
    cat "$RESULTS"
    echo
    echo "result: $_why (exit status $_rc)"
    echo
    echo "To reproduce (as root; PID is the workload's KFD process):"
    if [ -s "$OUT/commands.txt" ]; then
      sed "s/^/  /" "$OUT/commands.txt"
    fi
    echo "  or all of it: sudo $0${WORKLOAD:+ --workload '$WORKLOAD'}"
  } >"$SUMMARY"
  rm -f "$RESULTS"
  if tar -czf "$ARCHIVE" -C "$(dirname "$OUT")" "$(basename "$OUT")"; then
    say "results in $OUT, archive $ARCHIVE"
  else
    say "could not write $ARCHIVE; results are in $OUT"
    [ "$_rc" -ne 0 ] || _rc=1
  fi
  echo
  cat "$SUMMARY"
  exit "$_rc"
}
trap 'finish 130 "interrupted"' INT
trap 'finish 143 "terminated"' TERM

# The field NAME of a JSON object (numbers, booleans, strings, flat arrays):
# enough for doctor and summary lines without needing jq on the host.
json_field() {
  # Joined into one line first: doctor --json is pretty-printed, so a
  # non-empty array spans lines. First occurrence; a string without its quotes.
  tr '\n' ' ' <"$2" | grep -oE "\"$1\": *(\[[^]]*\]|\"[^\"]*\"|[^,}]*)" | head -n1 |
    sed -e "s/^\"$1\": *//" -e 's/ *$//' -e 's/^"\(.*\)"$/\1/'
}

# The workload's process or a descendant of it that has a KFD process
# (/sys/class/kfd/kfd/proc/PID) with at least one queue.
ppid_of() {
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2
}
descends_from() {
  _p=$1
  while [ -n "$_p" ] && [ "$_p" -gt 1 ]; do
    [ "$_p" = "$2" ] && return 0
    _p=$(ppid_of "$_p")
  done
  return 1
}
find_kfd_pid() {
  for _d in "$KFD_PROC"/*; do
    [ -d "$_d/queues" ] || continue
    _k=$(basename "$_d")
    is_number "$_k" || continue
    ls "$_d/queues" 2>/dev/null | grep -q . || continue
    descends_from "$_k" "$WPID" && { echo "$_k"; return 0; }
  done
  return 1
}

default_workload() {
  if command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import torch, sys; sys.exit(0 if torch.version.hip and torch.cuda.is_available() else 1)' \
      >/dev/null 2>&1; then
    echo "python3 $HERE/colocate/offline_train.py --seconds 600"
    return 0
  fi
  if command -v hipcc >/dev/null 2>&1; then
    if hipcc -O2 -o "$OUT/busy" "$HERE/hw-validate/busy.hip" >"$OUT/busy-build.log" 2>&1; then
      echo "$OUT/busy 600"
      return 0
    fi
    say "hipcc could not build scripts/hw-validate/busy.hip (see busy-build.log)"
  fi
  return 1
}

# 1. doctor ---------------------------------------------------------------
{
  uname -a
  cat /etc/os-release 2>/dev/null
  echo
  grep -H . "$ROOT"/sys/module/amdgpu/version "$ROOT"/sys/module/amdgpu/parameters/sched_policy \
    "$ROOT"/sys/module/amdgpu/parameters/cwsr_enable 2>/dev/null
  grep -H . "$ROOT"/sys/class/kfd/kfd/topology/nodes/*/name 2>/dev/null
} >"$OUT/host.txt" 2>&1
run doctor doctor.txt "$BIN" doctor
run doctor doctor.json "$BIN" doctor --json
if ! grep -q '"kernel"' "$OUT/doctor.json"; then
  result FAIL doctor "doctor --json printed no report: $(last_err "$OUT/doctor.json.err")"
  finish 1 "doctor failed"
fi
loaded=$(json_field amdgpu_loaded "$OUT/doctor.json")
gpus=$(json_field gpu_ids "$OUT/doctor.json" | tr -d '[] ')
root=$(json_field root "$OUT/doctor.json")
can_watch=$(json_field can_watch "$OUT/doctor.json")
if [ "$loaded" != true ] || [ -z "$gpus" ]; then
  if [ "$loaded" != true ]; then
    why="the amdgpu driver is not loaded"
  else
    why="amdgpu is loaded but KFD lists no GPU (no gpu_id in /sys/class/kfd/kfd/topology)"
  fi
  result PASS doctor "ran; $why"
  for s in workload watch doorbell queues-verify snapshot-check latency preempt record report; do
    result SKIP "$s" "needs an AMD GPU"
  done
  say "NO GPU: $why. This kit validates gpreempt-bpf on a host with an AMD GPU;"
  say "here only doctor ran (its output is in the archive). Nothing was validated on hardware."
  finish 2 "no AMD GPU on this host: $why; only doctor ran"
fi
if [ "$root" != true ]; then
  result FAIL doctor "not root: run the kit with sudo"
  finish 3 "not root"
fi
if [ "$can_watch" = true ]; then
  result PASS doctor "amdgpu loaded, GPUs $gpus, watch can run"
else
  result FAIL doctor "doctor says watch cannot run: see doctor.txt"
  finish 1 "doctor: watch cannot run on this host"
fi

# 2. the workload ---------------------------------------------------------
if [ -z "$WORKLOAD" ]; then
  if ! WORKLOAD=$(default_workload); then
    WORKLOAD=""
    result SKIP workload "no GPU workload found (no PyTorch for ROCm, no hipcc)"
    say "Pass a command that keeps the GPU busy for a few minutes, e.g."
    say "  sudo scripts/hw-validate.sh --workload 'python3 my_training.py'"
    say "  sudo scripts/hw-validate.sh --workload '/opt/rocm/bin/rocm-bandwidth-test'"
    finish 4 "no GPU workload: pass --workload 'CMD'"
  fi
fi
say "workload: $WORKLOAD"
echo "# workload (leave it running): $WORKLOAD" >>"$OUT/commands.txt"
# Its own process group (setsid), so stopping it stops its children too.
if command -v setsid >/dev/null 2>&1; then
  setsid sh -c "$WORKLOAD" >"$OUT/workload.log" 2>&1 &
else
  sh -c "$WORKLOAD" >"$OUT/workload.log" 2>&1 &
fi
WPID=$!
i=0
while [ "$i" -lt $((SETTLE * 10)) ]; do
  KPID=$(find_kfd_pid) && break
  KPID=""
  kill -0 "$WPID" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$KPID" ]; then
  if kill -0 "$WPID" 2>/dev/null; then
    detail="no GPU queue of the workload in $KFD_PROC after $SETTLE s"
  else
    wait "$WPID"
    detail="the workload exited with status $? before creating a GPU queue: $(last_err "$OUT/workload.log")"
    WPID=""
  fi
  result FAIL workload "$detail"
  finish 1 "the workload never used the GPU"
fi
result PASS workload "KFD process $KPID, queues $(ls "$KFD_PROC/$KPID/queues" | tr '\n' ' ')"

# 3. watch ----------------------------------------------------------------
run watch watch.jsonl "$BIN" watch --json -p "$KPID" --interval 1 --duration "$SECONDS_STEP"
tail -n1 "$OUT/watch.jsonl" >"$OUT/.last"
if [ "$RC" -ne 0 ]; then
  result FAIL watch "exit status $RC: $(last_err "$OUT/watch.jsonl.err")"
elif ! grep -q '"type": *"summary"' "$OUT/.last"; then
  result FAIL watch "no summary line at the end of watch.jsonl"
else
  q=$(json_field queues "$OUT/.last")
  if [ "${q:-0}" -gt 0 ]; then
    result PASS watch "$(json_field events "$OUT/.last") events, $q queues in the map, $(json_field lost "$OUT/.last") lost"
  else
    result FAIL watch "the map listed no queue although the workload has some"
  fi
fi
rm -f "$OUT/.last"

# 3b. doorbell uprobes: preempt --online-pid's detector on a real ROCm runtime
run doorbell doorbell.json "$BIN" doctor --json --online-pid "$KPID" --online-seconds "$SECONDS_STEP"
rung=$(json_field doorbells "$OUT/doorbell.json")
lib=$(json_field library "$OUT/doorbell.json")
if [ "$RC" -eq 0 ] && is_number "${rung:-x}" && [ "$rung" -gt 0 ]; then
  result PASS doorbell "$rung doorbells, $(json_field other_stores "$OUT/doorbell.json") other signal stores in $SECONDS_STEP s on $lib"
elif grep -q '"attached": *true' "$OUT/doorbell.json" 2>/dev/null; then
  result FAIL doorbell "the uprobes attached to $lib but heard no doorbell in $SECONDS_STEP s of GPU work: preempt --online-pid would detect by polling only (the archive shows what the runtime stored)"
else
  result FAIL doorbell "exit status $RC: $(json_field error "$OUT/doorbell.json")$(last_err "$OUT/doorbell.json.err")"
fi

# 4. queues: sysfs and KFD's own snapshot ---------------------------------
run queues-verify queues-verify.txt "$BIN" queues -p "$KPID" --verify
if [ "$RC" -eq 0 ] && grep -q 'verify: the map agrees with sysfs' "$OUT/queues-verify.txt"; then
  result PASS queues-verify "$(grep 'verify:' "$OUT/queues-verify.txt" | head -n1)"
else
  result FAIL queues-verify "exit status $RC: $(grep MISMATCH "$OUT/queues-verify.txt" | head -n1)$(last_err "$OUT/queues-verify.txt.err")"
fi
run snapshot-check snapshot-check.txt "$BIN" queues -p "$KPID" --snapshot-check
if [ "$RC" -eq 0 ] && grep -q 'agrees with KFD' "$OUT/snapshot-check.txt"; then
  result PASS snapshot-check "$(grep 'snapshot:' "$OUT/snapshot-check.txt" | head -n1)"
else
  result FAIL snapshot-check "exit status $RC: $(grep MISMATCH "$OUT/snapshot-check.txt" | head -n1)$(last_err "$OUT/snapshot-check.txt.err")"
fi

# 5. latency while preempt cycles -----------------------------------------
echo "$BIN latency -p $KPID --json   # in the background during preempt, then Ctrl-C" >>"$OUT/commands.txt"
say "latency: $BIN latency -p $KPID --json (background)"
"$BIN" latency -p "$KPID" --json >"$OUT/latency.jsonl" 2>"$OUT/latency.jsonl.err" &
LAT_PID=$!
i=0
while [ "$i" -lt 600 ] && ! grep -q '"type": *"attach"' "$OUT/latency.jsonl" 2>/dev/null; do
  kill -0 "$LAT_PID" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
run preempt preempt.txt "$BIN" preempt --offline-pid "$KPID" --cycles "$CYCLES" --hold-ms 50 --gap-ms 100 --wait-runtime 30
if [ "$RC" -eq 0 ] && grep -q 'success rate 100.0%' "$OUT/preempt.txt"; then
  result PASS preempt "$(grep 'success rate' "$OUT/preempt.txt"); $(grep '^suspend ioctl' "$OUT/preempt.txt")"
else
  result FAIL preempt "exit status $RC: $(grep 'success rate' "$OUT/preempt.txt")$(last_err "$OUT/preempt.txt.err")"
fi
kill -INT "$LAT_PID" 2>/dev/null
wait "$LAT_PID"
RC=$?
LAT_PID=""
echo "$RC" >"$OUT/latency.jsonl.rc"
tail -n1 "$OUT/latency.jsonl" >"$OUT/.last"
if [ "$RC" -ne 0 ] || ! grep -q '"type": *"summary"' "$OUT/.last"; then
  result FAIL latency "exit status $RC, no summary: $(last_err "$OUT/latency.jsonl.err")"
else
  spans=$(json_field spans_kept "$OUT/.last")
  if [ "${spans:-0}" -gt 0 ]; then
    result PASS latency "$spans preemption spans of the workload timed, $(json_field lost "$OUT/.last") events lost"
  else
    result FAIL latency "no preemption span of the workload seen while preempt ran"
  fi
fi
rm -f "$OUT/.last"

# 6. record and report ----------------------------------------------------
run record record.log "$BIN" record -o "$OUT/record.jsonl" --perfetto "$OUT/record.perfetto.json" \
  -p "$KPID" --duration "$SECONDS_STEP"
if [ "$RC" -eq 0 ] && tail -n1 "$OUT/record.jsonl" 2>/dev/null | grep -q '"type": *"trailer"'; then
  tail -n1 "$OUT/record.jsonl" >"$OUT/.last"
  result PASS record "$(json_field events "$OUT/.last") events, $(json_field lost "$OUT/.last") lost, trailer present"
  rm -f "$OUT/.last"
  run report report.txt "$BIN" report "$OUT/record.jsonl"
  rc_text=$RC
  run report report.json "$BIN" report --json "$OUT/record.jsonl"
  if [ "$rc_text" -eq 0 ] && [ "$RC" -eq 0 ] && [ -s "$OUT/report.txt" ]; then
    result PASS report "report.txt and report.json written"
  else
    result FAIL report "exit status $rc_text/$RC: $(last_err "$OUT/report.txt.err")"
  fi
else
  result FAIL record "exit status $RC or no trailer: $(last_err "$OUT/record.log.err")"
  result SKIP report "no complete trace to report on"
fi

if [ "$FAILED" -eq 0 ]; then
  finish 0 "every step passed"
fi
finish 1 "some steps failed: see the FAIL lines and their files"
