#!/bin/sh
# gp-cost: 20  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# preempt --online-pid's doorbell uprobes (bpf/doorbell.bpf.c) load and
# attach on this kernel: `kfd-client online-target` maps the stand-in
# libhsa-runtime64 (/opt/rocm/lib) and rings an AQL doorbell through its
# hsa_signal_store_screlease every 5 ms; `doctor --online-pid` attaches to it
# and counts the stores. Where a debug session works (6.12; 7.x with the
# test-only kfd_open_shim), the automatic mode end to end on a real KFD
# process: one doorbell suspends (decided by the uprobe, timed from the
# store), idle resumes, the summary counts it.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

kfd-client online-target --ring-every-ms 5 </dev/null >"$GP_TMP/online.jsonl" 2>&1 &
opid=$!
bg_track $opid
wait_line "$GP_TMP/online.jsonl" 20 '"op":"ready"' || fail "online-target did not start: $(last_line "$GP_TMP/online.jsonl")"
gpreempt-bpf doctor --online-pid "$opid" --online-seconds 2 --json >"$GP_TMP/doctor.json" 2>"$GP_TMP/doctor.err"
jq .online "$GP_TMP/doctor.json" || { cat "$GP_TMP/doctor.err"; fail "doctor --online-pid printed no JSON"; }
jtest "$GP_TMP/doctor.json" '.online.attached == true' ||
  fail "the doorbell uprobes did not attach: $(jq -r .online.error "$GP_TMP/doctor.json")"
jtest "$GP_TMP/doctor.json" '.online.library == "/opt/rocm/lib/libhsa-runtime64.so.1"' ||
  fail "attached to the wrong library: $(jq -r .online.library "$GP_TMP/doctor.json")"
# One uprobe_multi link where the kernel makes usable ones (6.10 on), perf-event
# uprobes before (attach/uprobe_multi.h).
links=uprobe_multi
[ "$GP_KVER" = 6.1 ] && links=perf_event
jtest "$GP_TMP/doctor.json" '.online.links == $l' --arg l "$links" ||
  fail "doorbell uprobe links $(jq -r .online.links "$GP_TMP/doctor.json") on $GP_KVER, expected $links"
jtest "$GP_TMP/doctor.json" '.online.doorbells > 0 and .online.other_stores == 0' ||
  fail "no doorbell counted in 2 s of one every 5 ms: $(jq -c .online "$GP_TMP/doctor.json")"
kill -TERM "$opid"
wait "$opid"
echo "doorbell uprobes: loaded, attached, $(jq .online.doorbells "$GP_TMP/doctor.json") doorbells counted"

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here: the automatic mode end to end runs on 6.12 and 7.x+shim"
  exit 0
fi

kfd-client runtime-target >"$GP_TMP/target.jsonl" &
tpid=$!
bg_track $tpid
wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not start"

# online-target rings once per line written to the FIFO (held open here, so
# it never sees EOF until this script ends).
mkfifo "$GP_TMP/ring"
exec 3<>"$GP_TMP/ring"
kfd-client online-target <&3 >"$GP_TMP/online2.jsonl" 2>&1 &
o2pid=$!
bg_track $o2pid
wait_line "$GP_TMP/online2.jsonl" 20 '"op":"ready"' || fail "the second online-target did not start"

out=$GP_TMP/auto.out
gpreempt-bpf preempt --offline-pid "$tpid" --online-pid "$o2pid" --idle-ms 200 --min-hold-ms 100 >"$out" 2>&1 &
ppid=$!
bg_track $ppid
wait_line "$out" 90 "online pid $o2pid: doorbell uprobes on /opt/rocm/lib/libhsa-runtime64.so.1" ||
  { cat "$out"; fail "preempt --online-pid did not attach its doorbell uprobes: $(last_line "$out")"; }
sleep 1
grep -q 'suspend (' "$out" && { cat "$out"; fail "suspended before any doorbell"; }
echo ring >&3
wait_line "$out" 30 'suspend \(pid [0-9]+ .*doorbell rung, [0-9]+ us after the store\)' ||
  { cat "$out"; fail "a doorbell did not suspend the offline job"; }
wait_line "$out" 30 'resume \(idle for' || { cat "$out"; fail "no resume after the idle time"; }
kill -INT "$ppid"
wait "$ppid"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt --online-pid exited $rc"
grep -qE '^doorbells: 1 rung \(0 other signal stores ignored\), 1 wake-up\(s\), 1 suspension\(s\) decided by one; detection latency \(exact' "$out" ||
  fail "the summary does not count the one doorbell"
grep -q "pid $tpid: queues resumed, debugging disabled, detached" "$out" || fail "the offline target was not released"
# Out while suspended, as one uprobe_multi link (every kernel this part runs on is 6.10+).
grep -q "online pid $o2pid: doorbell uprobes on .*; one uprobe_multi link)" "$out" || fail "not one uprobe_multi link"
grep -qE '^doorbell uprobes out while suspended: .* taken out [1-9][0-9]* time\(s\) \(uprobe_multi links closed within' "$out" ||
  fail "the doorbell uprobes were not taken out while suspended"
echo "automatic mode: a doorbell on the real driver suspended and idle resumed"
