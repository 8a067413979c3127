#!/bin/sh
# gp-cost: 19  (seconds on 6.12 under TCG, for balancing shards)
# Stopping `record` from outside: SIGINT sent with kill(1) reaches only the
# recorder, which forwards it to the workload, waits for its exit, and ends
# the file cleanly (trailer written, `report` reads it without
# --allow-truncated); record's exit status is the workload's (130 = killed
# by SIGINT). Then `record --duration` without a workload: it records every
# process (no filter), stops by itself with status 0, and a kfd-client run
# meanwhile is in the trace (6.1/6.12) or shows a refused open (7.2).
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

t=$GP_TMP/stop.jsonl
rm -f "$t"
gpreempt-bpf record -o "$t" -- sleep 600 2>"$GP_TMP/stop.err" &
rec=$!
bg_track "$rec"
wait_line "$GP_TMP/stop.err" 90 '^Started ' || { cat "$GP_TMP/stop.err"; fail "record did not start its workload: $(last_line "$GP_TMP/stop.err")"; }
child=$(sed -n 's/^Started .* as pid \([0-9]*\)$/\1/p' "$GP_TMP/stop.err")
[ -n "$child" ] || fail "no workload pid in: $(grep '^Started' "$GP_TMP/stop.err")"
kill -INT "$rec"
i=0
while kill -0 "$rec" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$rec" 2>/dev/null && fail "record still running 30 s after SIGINT"
wait "$rec"
rc=$?
cat "$GP_TMP/stop.err"
kill -0 "$child" 2>/dev/null && fail "the workload (pid $child) survived: the SIGINT was not forwarded"
[ "$rc" -eq 130 ] || fail "record exited with $rc after SIGINT, expected 130 (the workload's status)"
tail -n1 "$t" | jtest - '.type == "trailer"' || fail "no trailer after SIGINT: $(tail -n1 "$t")"
head -n1 "$t" | jtest - '.type == "header" and .pids == [$c]' --argjson c "$child" ||
  fail "header pids $(head -n1 "$t" | jq -c .pids), expected [$child]"
gpreempt-bpf report "$t" >"$GP_TMP/stop.report" 2>&1 || fail "report refused the trace: $(last_line "$GP_TMP/stop.report")"
echo "SIGINT: forwarded to pid $child, record exit 130, trailer written, report reads it"

# --duration, no workload, no filter.
d=$GP_TMP/duration.jsonl
rm -f "$d"
gpreempt-bpf record -o "$d" --duration 4 2>"$GP_TMP/duration.err" &
rec=$!
bg_track "$rec"
wait_line "$GP_TMP/duration.err" 90 '^Recording to ' || { cat "$GP_TMP/duration.err"; fail "record did not attach: $(last_line "$GP_TMP/duration.err")"; }
kfd-client open-exit >"$GP_TMP/client.jsonl"
cpid=$(op_field "$GP_TMP/client.jsonl" open .pid)
wait "$rec"
rc=$?
cat "$GP_TMP/duration.err"
[ "$rc" -eq 0 ] || fail "record --duration exited with $rc"
grep -q 'Stopped (--duration 4)' "$GP_TMP/duration.err" || fail "record did not stop by --duration: $(last_line "$GP_TMP/duration.err")"
head -n1 "$d" | jtest - '.pids == [] and .command == null' || fail "header of an unfiltered recording: $(head -n1 "$d" | jq -c '{pids, command}')"
tail -n1 "$d" | jtest - '.type == "trailer" and .lost == 0' || fail "bad trailer: $(tail -n1 "$d")"
if kfd_open_works; then
  jany "$d" '.type == "event" and .kind == "process_create" and .pid == $p and .ret == 0' --argjson p "$cpid" ||
    fail "no process_create for kfd-client $cpid in the unfiltered trace"
  echo "--duration 4: exit 0, kfd-client $cpid's KFD process in the unfiltered trace"
else
  [ "$(client_errname "$GP_TMP/client.jsonl" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$GP_TMP/client.jsonl" open), expected EINVAL"
  jany "$d" '.type == "event" and .kind == "process_create" and .pid == $p and .ret == 0' --argjson p "$cpid" &&
    fail "a successful process_create for $cpid, whose open() failed"
  echo "--duration 4: exit 0; open(/dev/kfd) = EINVAL on $GP_KVER and no KFD process for $cpid"
fi
