#!/bin/sh
# gp-cost: 20  (seconds on 6.12 under TCG, for balancing shards)
# gp-needs: rocr
# preempt --offline-pid on processes running Debian's REAL ROCm runtimes:
#  6.12 (KFD 1.17, debug API): ROCr 6.1.2, 6.4.3 and 7.2.4 call RUNTIME_ENABLE
#       in hsa_init. One `preempt --serve --wait-runtime` attaches to the three
#       processes before their hsa_init (each opened /dev/kfd first, then
#       waits): each runtime's RUNTIME_ENABLE blocks until preempt answers the
#       handshake, and hsa_init completes; at hsa_shut_down their
#       RUNTIME_ENABLE(mode 0) is answered too, and preempt ends when they exit.
#       ROCr 5.2.3 never calls RUNTIME_ENABLE on an upstream kernel: preempt
#       refuses it with its message for a runtime that was never enabled.
#  6.1  (KFD 1.11): preempt refuses every one: no debug API.
#  7.2  /dev/kfd does not open without a GPU node: preempt refuses every one.
# Every refused process is left as it was: alive and untraced.
. /gp/lib.sh
need gpreempt-bpf hsa-probe jq

labels=$(rocr_labels)
out=$GP_TMP/preempt.out
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }
untouched() {
  kill -0 "$1" 2>/dev/null || fail "the target $1 died"
  [ "$(tracer_of "$1")" = 0 ] || fail "the target $1 is still traced by $(tracer_of "$1")"
}
# refuses ERE preempt-args...: non-zero exit and a message matching ERE.
refuses() {
  _re=$1
  shift
  if gpreempt-bpf preempt "$@" >"$out" 2>&1; then
    cat "$out"
    fail "preempt $* succeeded; expected a refusal matching '$_re'"
  fi
  grep -qE "$_re" "$out" || { cat "$out"; fail "preempt $*: the refusal does not say '$_re': $(last_line "$out")"; }
  echo "  refused: $(last_line "$out" | head -c 200)"
}
# The probe's step $2 returned HSA_STATUS_SUCCESS (grep: a jq start costs ~0.5 s under TCG).
status_ok() { probe_step "$1" "$2" | grep -q '"status":0,'; }
# A runtime that is already past hsa_init, held: started on fd $2.
start_held() {
  rocr_start "$2" "$1" "$GP_TMP/$1.jsonl" --hold stdin
  wait_line "$GP_TMP/$1.jsonl" 60 '"step":"hold"' ||
    fail "ROCr $(rocr_version "$1"): hsa-probe did not reach its hold: $(last_line "$GP_TMP/$1.jsonl") $(cat "$GP_TMP/$1.jsonl.err")"
}

if ! has_debug_api || ! kfd_open_works; then
  case $GP_KVER in
    6.1) why="KFD 1\.11 has no debug API \(needs >= 1\.13" ;;
    *) why="cannot open /dev/kfd: .*EINVAL" ;;
  esac
  fd=3
  for L in $labels; do
    start_held "$L" $fd
    pid=$ROCR_PID
    refuses "$why" --offline-pid "$pid" --cycles 1
    untouched "$pid"
    rocr_end $fd
    wait_gone "$pid" 30 || fail "ROCr $(rocr_version "$L"): hsa-probe did not end after the refusal"
    echo "ROCr $(rocr_version "$L"): $(probe_step "$GP_TMP/$L.jsonl" hsa_init | sed 's/.*"status_name":"\([A-Z_]*\)".*/\1/'); preempt refused, process untouched"
    fd=$((fd + 1))
  done
  exit 0
fi

# 6.12. ROCr 5.2.3: no RUNTIME_ENABLE, so KFD never enables its runtime.
start_held bookworm 3
old=$ROCR_PID
status_ok "$GP_TMP/bookworm.jsonl" hsa_init ||
  fail "ROCr 5.2.3: hsa_init failed: $(probe_step "$GP_TMP/bookworm.jsonl" hsa_init)"
refuses "runtime_state disabled.*--wait-runtime" --offline-pid "$old" --cycles 1
untouched "$old"
rocr_end 3
echo "ROCr $(rocr_version bookworm): preempt refused (its runtime is never enabled), process untouched"

# The others: KFD processes first (--open-kfd), hsa_init when told (--gate).
fd=4
pids=""
for L in trixie sid experimental; do
  rocr_start $fd "$L" "$GP_TMP/$L.jsonl" --open-kfd --gate --hold stdin
  eval "pid_$L=$ROCR_PID fd_$L=$fd"
  pids="$pids --offline-pid $ROCR_PID"
  fd=$((fd + 1))
done
for L in trixie sid experimental; do
  wait_line "$GP_TMP/$L.jsonl" 60 '"step":"gate"' || fail "ROCr $(rocr_version "$L"): hsa-probe did not reach its gate: $(last_line "$GP_TMP/$L.jsonl")"
  probe_step "$GP_TMP/$L.jsonl" open_kfd | grep -q '"fd":[0-9]' || fail "ROCr $(rocr_version "$L"): $(probe_step "$GP_TMP/$L.jsonl" open_kfd)"
done
# shellcheck disable=SC2086 # one word per argument
gpreempt-bpf preempt $pids --serve --socket "$GP_TMP/p.sock" --wait-runtime 60 >"$out" 2>&1 &
spid=$!
bg_track $spid
# preempt attaches in order and waits for each runtime before the next: let
# each hsa_init go once preempt traces that process (its debug ENABLE follows
# the seize at once).
for L in trixie sid experimental; do
  eval "pid=\$pid_$L fd=\$fd_$L"
  i=0
  while [ "$(tracer_of "$pid")" = 0 ] && [ $i -lt 900 ] && kill -0 "$spid" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  # The tracer is one of preempt's threads (one per target).
  t=$(tracer_of "$pid")
  [ "$t" != 0 ] && [ -d "/proc/$spid/task/$t" ] ||
    { cat "$out"; fail "preempt did not attach to ROCr $(rocr_version "$L") (pid $pid; TracerPid $t)"; }
  sleep 0.5
  echo go >&"$fd"
  wait_line "$GP_TMP/$L.jsonl" 60 '"step":"hsa_init"' ||
    { cat "$out"; fail "ROCr $(rocr_version "$L"): hsa_init did not return with preempt attached (blocked in RUNTIME_ENABLE?)"; }
  status_ok "$GP_TMP/$L.jsonl" hsa_init ||
    { cat "$out"; fail "ROCr $(rocr_version "$L"): hsa_init under preempt: $(probe_step "$GP_TMP/$L.jsonl" hsa_init)"; }
  echo "[$(since)s] ROCr $(rocr_version "$L") (pid $pid): hsa_init returned SUCCESS under preempt"
done
wait_line "$out" 60 '^Serving on' || { cat "$out"; fail "preempt --serve did not start: $(last_line "$out")"; }
for L in trixie sid experimental; do
  eval "pid=\$pid_$L"
  grep -q "pid $pid: answered the runtime handshake (hsa_init)" "$out" ||
    { cat "$out"; fail "ROCr $(rocr_version "$L"): preempt did not answer the runtime handshake at hsa_init"; }
done
# hsa_shut_down while preempt is attached: RUNTIME_ENABLE(mode 0) waits for it too.
for L in trixie sid experimental; do
  eval "pid=\$pid_$L fd=\$fd_$L"
  rocr_end "$fd"
  wait_gone "$pid" 60 || { cat "$out"; fail "ROCr $(rocr_version "$L"): hsa-probe did not finish hsa_shut_down with preempt attached"; }
  status_ok "$GP_TMP/$L.jsonl" hsa_shut_down ||
    fail "ROCr $(rocr_version "$L"): hsa_shut_down: $(probe_step "$GP_TMP/$L.jsonl" hsa_shut_down)"
done
wait_gone "$spid" 30 || { cat "$out"; fail "preempt did not end when its targets exited"; }
wait "$spid"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt exited $rc after its targets exited"
for L in trixie sid experimental; do
  eval "pid=\$pid_$L"
  grep -q "pid $pid: answered the runtime handshake (hsa_shut_down)" "$out" ||
    fail "ROCr $(rocr_version "$L"): the handshake at hsa_shut_down is not reported"
done
echo "6.12: the RUNTIME_ENABLE handshake of ROCr 6.1.2, 6.4.3 and 7.2.4 answered at hsa_init and hsa_shut_down; 5.2.3 refused"
