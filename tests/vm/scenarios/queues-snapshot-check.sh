#!/bin/sh
# gp-cost: 8  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# queues --snapshot-check against the real KFD debug API: a read-only debug
# session (ptrace, ENABLE, GET_QUEUE_SNAPSHOT, DISABLE, detach) on a stand-in
# ROCm process. Without a GPU the kernel lists no queue, so the comparison is
# of two empty lists; what this proves is the session itself: it works, it
# leaves the target untraced and undebugged (a second check works, the
# target's RUNTIME_DISABLE does not block), and 6.1 / 7.2 refuse it clearly.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! kfd_open_works || ! has_debug_api; then
  # 6.1: KFD 1.11 has no debug API; 7.x: /dev/kfd cannot be opened without
  # a GPU (the 7.x+shim VM opens it and takes the path below).
  gpreempt-bpf queues -p $$ --snapshot-check >"$GP_TMP/out" 2>&1
  rc=$?
  cat "$GP_TMP/out"
  [ "$rc" -ne 0 ] || fail "queues --snapshot-check succeeded on $GP_KVER"
  grep -q 'snapshot-check needs the KFD debug API' "$GP_TMP/out" ||
    fail "no clear refusal on $GP_KVER: $(last_line "$GP_TMP/out")"
  grep -q 'TracerPid:[[:space:]]*0$' /proc/$$/status || fail "the refusal left this shell traced"
  echo "queues --snapshot-check refused on $GP_KVER: $(last_line "$GP_TMP/out")"
  exit 0
fi

kfd-client runtime-target >"$GP_TMP/target.jsonl" &
tpid=$!
bg_track $tpid
wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$GP_TMP/target.jsonl")"

for round in 1 2; do
  out=$GP_TMP/check-$round.json
  gpreempt-bpf queues -p "$tpid" --snapshot-check --json >"$out" 2>"$out.err"
  rc=$?
  cat "$out"
  jtest "$out" 'type == "object"' || fail "round $round: no JSON object (exit $rc): $(last_line "$out.err")"
  jtest "$out" '.snapshot_check | length == 1 and .[0].pid == $p and .[0].ok == true and .[0].kernel_ret == 0 and .[0].kernel_queues == 0' --argjson p "$tpid" ||
    fail "round $round: unexpected snapshot_check $(jq -c .snapshot_check "$out")"
  [ "$rc" -eq 0 ] || fail "round $round: exit $rc although the check is ok"
  grep -q 'TracerPid:[[:space:]]*0$' "/proc/$tpid/status" || fail "round $round left pid $tpid traced: $(grep TracerPid "/proc/$tpid/status")"
done

# DISABLE really happened: the target's RUNTIME_DISABLE returns at once
# (under a debugger it would wait for the debugger's answer).
kill -TERM "$tpid"
i=0
while kill -0 "$tpid" 2>/dev/null && [ "$i" -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
kill -0 "$tpid" 2>/dev/null && fail "the target did not exit within 10 s of SIGTERM: $(tail -n2 "$GP_TMP/target.jsonl")"
wait "$tpid"
trc=$?
[ "$trc" -eq 0 ] || fail "the target exited $trc: $(tail -n2 "$GP_TMP/target.jsonl")"
echo "queues --snapshot-check: KFD listed 0 queues for pid $tpid, the map 0, twice; target untraced and exited cleanly"
