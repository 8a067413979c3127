#!/bin/sh
# gp-cost: 17  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# preempt refuses what it cannot do safely, says what to do, and leaves the
# target as it was (alive, untraced, not debug-enabled):
#   all  --grace outside 1..255 (the 8-bit SCH_WAVE field: 256 would program 0,
#        the firmware's infinite grace), refused before anything is attached;
#   6.1  no debug API (KFD 1.11), whatever the target;
#   7.x  /dev/kfd cannot be opened without a GPU node;
#   6.12 (and 7.x with the test-only kfd_open_shim) a process that is not a
#        KFD process; a KFD process whose runtime was never enabled (at once,
#        and after --wait-runtime).
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

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
  cat "$out"
  grep -qE "$_re" "$out" || fail "preempt $*: the refusal does not say '$_re': $(last_line "$out")"
}

# Where /dev/kfd opens (6.12; 7.x with the test shim): a process that is not
# a KFD process, and a KFD process whose runtime was never enabled.
kfd_process_refusals() {
  refuses "is not a KFD process" --offline-pid "$plain" --cycles 1
  untouched "$plain"

  # A KFD process that never enabled its runtime: a shell holding /dev/kfd.
  sh -c 'exec 3<>/dev/kfd; while :; do sleep 1; done' &
  kpid=$!
  bg_track $kpid
  i=0
  while [ ! -d "/sys/class/kfd/kfd/proc/$kpid" ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  [ -d "/sys/class/kfd/kfd/proc/$kpid" ] || fail "the shell holding /dev/kfd is not a KFD process"
  refuses "runtime_state disabled.*--wait-runtime" --offline-pid "$kpid" --cycles 1
  untouched "$kpid"
  refuses "waited 1 s" --offline-pid "$kpid" --cycles 1 --wait-runtime 1
  untouched "$kpid"
  # The refused session was really closed: another debugger can ENABLE it.
  kfd-client debug-session --target "$kpid" --qids 1 >"$GP_TMP/dbg.jsonl"
  cat "$GP_TMP/dbg.jsonl"
  [ "$(client_errname "$GP_TMP/dbg.jsonl" dbg_enable)" = OK ] ||
    fail "ENABLE after the refusal: $(client_errname "$GP_TMP/dbg.jsonl" dbg_enable) (a debug session was left behind)"
  untouched "$kpid"
  echo "$GP_KVER: refused a non-KFD process and a never-enabled runtime; targets untouched and not debug-enabled"
}

sleep 600 &
plain=$!
bg_track $plain

# --grace is checked before anything else on every kernel: a usage error
# (exit 2), nothing attached.
for g in 256 512 300 0; do
  gpreempt-bpf preempt --offline-pid "$plain" --cycles 1 --grace "$g" >"$out" 2>&1
  rc=$?
  cat "$out"
  [ $rc -eq 2 ] || fail "--grace $g: exit $rc, expected 2 (a usage error, refused before anything)"
  grep -q -- "--grace $g: must be 1\.\.255" "$out" || fail "--grace $g: the refusal does not give the range: $(last_line "$out")"
  grep -q "about 1K GPU clocks" "$out" || fail "--grace $g: the refusal does not give the unit"
  grep -q "^Attached" "$out" && fail "--grace $g: probes were attached before the refusal"
  untouched "$plain"
done
gpreempt-bpf preempt --offline-pid "$plain" --cycles 1 --grace 256 2>&1 | grep -q "would program 0, an infinite grace" ||
  fail "--grace 256 does not say it would program an infinite grace"
gpreempt-bpf preempt --help | grep -q "1\.\.255 counts of about 1K GPU clocks" || fail "preempt --help does not document --grace's range and unit"
echo "$GP_KVER: --grace outside 1..255 refused (exit 2) before anything was attached"

case $GP_KVER in
  6.1)
    kfd-client runtime-target >"$GP_TMP/target.jsonl" &
    tpid=$!
    bg_track $tpid
    wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not start: $(cat "$GP_TMP/target.jsonl")"
    refuses "KFD 1\.11 has no debug API \(needs >= 1\.13" --offline-pid "$tpid" --cycles 1
    grep -q "watch still works" "$out" || fail "the 6.1 refusal does not say that watch still works"
    untouched "$tpid"
    echo "6.1: preempt refused (no debug API), target untouched"
    ;;
  7.2 | 7.3)
    if kfd_open_works; then
      # The test-only kfd_open_shim is loaded: /dev/kfd opens, so 7.x
      # refuses what 6.12 refuses.
      kfd_process_refusals
    else
      refuses "cannot open /dev/kfd: .*EINVAL" --offline-pid "$plain" --cycles 1
      untouched "$plain"
      echo "$GP_KVER: preempt refused (/dev/kfd cannot be opened without a GPU), target untouched"
    fi
    ;;
  6.12) kfd_process_refusals ;;
  *) fail "no refusal expectations for kernel $GP_KVER" ;;
esac
