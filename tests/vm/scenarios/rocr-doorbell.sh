#!/bin/sh
# gp-cost: 25  (seconds on 6.12 under TCG, for balancing shards)
# gp-needs: rocr
# The doorbell uprobes of preempt --online-pid on Debian's REAL ROCm runtimes,
# each in an hsa-probe process under its suite's own loader and libc; where
# hsa_init succeeded (6.1, 6.12) each process stores to a user signal every
# 20 ms.
#  - `doctor --online-pid` attaches to one real libhsa-runtime64 per kernel
#    (the file the process mapped) and counts those stores as other stores,
#    not doorbells: ROCr 5.2.3 on 6.1 (its exported stores start with a
#    RIP-relative load), 6.4.3 on 6.12, 7.2.4 on 7.2 (they start with
#    endbr64; 7.2: no KFD, so no signal and no store). One doctor each: a
#    doctor run costs seconds under TCG, and the native tier attaches to all
#    four versions (tests/native/rocr_attach_test.cpp).
#  - 6.12: the automatic mode with all four runtimes online and another ROCr
#    6.4.3 process offline (it maps the same library, and never traps): each
#    online runtime gets its uprobes, their user-signal stores are ignored,
#    then one store through the real hsa_signal_store_screlease of ROCr
#    6.1.2 to a doorbell-kind signal suspends the offline process (ROCr
#    rejects that hand-made signal and aborts the storing process) and the
#    mode resumes it.
. /gp/lib.sh
need gpreempt-bpf hsa-probe jq

case $GP_KVER in
  6.1) doc=bookworm ;;
  6.12) doc=sid ;;
  *) doc=experimental ;;
esac
auto=0
if has_debug_api && kfd_open_works; then
  auto=1
  labels=$(rocr_labels)
else
  rocr_labels >/dev/null
  labels=$doc
fi
init_ok() { grep -F '"step":"hsa_init"' "$1" | grep -q '"status":0,'; }

fd=3
for L in $labels; do
  rocr_start $fd "$L" "$GP_TMP/$L.jsonl" --hold stdin --store-every-ms 20
  eval "pid_$L=$ROCR_PID fd_$L=$fd"
  fd=$((fd + 1))
done
for L in $labels; do
  wait_line "$GP_TMP/$L.jsonl" 60 '"step":"hold"' ||
    fail "ROCr $(rocr_version "$L"): hsa-probe did not reach its hold: $(last_line "$GP_TMP/$L.jsonl") $(cat "$GP_TMP/$L.jsonl.err")"
  if kfd_open_works && ! init_ok "$GP_TMP/$L.jsonl"; then
    fail "ROCr $(rocr_version "$L"): hsa_init failed on $GP_KVER: $(probe_step "$GP_TMP/$L.jsonl" hsa_init)"
  fi
done

# doctor on one of them.
v=$(rocr_version "$doc")
lib=$(rocr_libhsa "$doc")
eval "pid=\$pid_$doc"
gpreempt-bpf doctor --online-pid "$pid" --online-seconds 2 --json >"$GP_TMP/doctor.json" 2>"$GP_TMP/doctor.err"
# One jq run: "attached library doorbells other_stores error".
set -- $(jq -r '.online | "\(.attached) \(.library) \(.doorbells) \(.other_stores) \(.error)"' "$GP_TMP/doctor.json" 2>/dev/null)
[ $# -ge 4 ] || { cat "$GP_TMP/doctor.err"; fail "ROCr $v: doctor --online-pid printed no JSON"; }
[ "$1" = true ] || fail "ROCr $v: the doorbell uprobes did not attach to the real runtime: $*"
[ "$2" = "$lib" ] || fail "ROCr $v: doctor attached to $2, expected $lib"
[ "$3" = 0 ] || fail "ROCr $v: $3 doorbells counted, but no queue exists"
if kfd_open_works; then
  [ "$4" -gt 0 ] || fail "ROCr $v: its user-signal stores (every 20 ms) were not counted: $*"
else
  [ "$4" = 0 ] || fail "ROCr $v: $4 stores counted without a runtime (no KFD here)"
fi
echo "ROCr $v: doctor --online-pid attached to $lib; $3 doorbells, $4 other stores in 2 s"

if [ $auto = 0 ]; then
  for L in $labels; do eval "rocr_end \$fd_$L"; done
  echo "$GP_KVER: no debug session possible here: the automatic mode on the real runtimes runs on 6.12"
  exit 0
fi

# The automatic mode: every runtime online, another ROCr 6.4.3 process offline.
rocr_start 9 sid "$GP_TMP/offline.jsonl" --hold stdin --store-every-ms 20
off=$ROCR_PID
wait_line "$GP_TMP/offline.jsonl" 60 '"step":"hold"' || fail "the offline hsa-probe did not reach its hold"
online=""
for L in $labels; do eval "online=\"\$online --online-pid \$pid_$L\""; done
out=$GP_TMP/auto.out
# shellcheck disable=SC2086 # one word per argument
gpreempt-bpf preempt --offline-pid "$off" $online --idle-ms 200 --min-hold-ms 100 >"$out" 2>&1 &
ppid=$!
bg_track $ppid
for L in $labels; do
  eval "pid=\$pid_$L"
  wait_line "$out" 60 "online pid $pid: (doorbell uprobes on|no doorbell uprobe)" ||
    { cat "$out"; fail "preempt --online-pid said nothing about the doorbell uprobes of ROCr $(rocr_version "$L"): $(last_line "$out")"; }
  grep -q "online pid $pid: doorbell uprobes on $(rocr_libhsa "$L")" "$out" ||
    { cat "$out"; fail "preempt --online-pid did not attach to ROCr $(rocr_version "$L")'s real library"; }
done
sleep 1
grep -q 'suspend (' "$out" && { cat "$out"; fail "suspended before any doorbell (user-signal stores are not doorbells)"; }
echo "fake-doorbell screlease 7" >&"$fd_trixie"
# The line names the online process whose doorbell rang.
wait_line "$out" 30 "suspend \(pid $pid_trixie .*doorbell rung, [0-9]+ us after the store\)" ||
  { cat "$out"; fail "a store to a doorbell signal through the real runtime did not suspend the offline process"; }
wait_line "$out" 30 'resume \(' || { cat "$out"; fail "the offline process was not resumed"; }
wait_gone "$pid_trixie" 10 || fail "ROCr rejected the hand-made signal, yet its process lives on"
kill -INT "$ppid"
wait "$ppid"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt --online-pid exited $rc"
grep -qE '^doorbells: 1 rung \([1-9][0-9]* other signal stores ignored\)' "$out" ||
  fail "the summary does not count one doorbell and the ignored user-signal stores"
grep -q "pid $off: queues resumed, debugging disabled, detached" "$out" || fail "the offline process was not released"
kill -0 "$off" || fail "the offline process died"
for L in $labels; do [ "$L" = trixie ] || eval "rocr_end \$fd_$L"; done
rocr_end 9
echo "automatic mode on the real runtimes: uprobes on all four, user-signal stores ignored, a doorbell store suspended, the mode resumed"
