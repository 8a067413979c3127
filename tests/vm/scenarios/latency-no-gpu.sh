#!/bin/sh
# gp-cost: 18  (seconds on 6.12 under TCG, for balancing shards)
# Issue 5, what really fires without a GPU. A CPU-only KFD topology has no
# device queue manager and a KFD process has no per-device data (no pdd), so
# no path reaches unmap_queues_cpsch or the MES functions: zero preemption
# spans, on every kernel. On 6.12 a real debugger SUSPEND/RESUME does enter
# suspend_queues/resume_queues: their cause probes run (counted with
# --prog-runs, which reads the kernel's own run counts) and return without a
# preemption. Asserted as such, not faked: the span numbers need hardware.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

out=$GP_TMP/latency.jsonl
gpreempt-bpf latency --json --prog-runs >"$out" 2>"$out.err" &
lpid=$!
bg_track $lpid
wait_line "$out" 60 '"type":"attach"' || { cat "$out.err"; fail "latency did not attach within 60 s"; }

drove="nothing"
if kfd_open_works && has_debug_api; then
  target=$GP_TMP/target.jsonl
  kfd-client runtime-target >"$target" &
  tpid=$!
  bg_track $tpid
  wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$target")"
  kfd-client debug-session --target "$tpid" --qids 1,2,3 >"$GP_TMP/dbg.jsonl"
  cat "$GP_TMP/dbg.jsonl"
  for op in dbg_enable dbg_suspend dbg_resume dbg_disable; do
    [ "$(client_errname "$GP_TMP/dbg.jsonl" $op)" = OK ] || fail "debugger $op: $(client_errname "$GP_TMP/dbg.jsonl" $op)"
  done
  kill -TERM "$tpid"
  wait "$tpid"
  drove="a debug session (ENABLE, SUSPEND 3 qids, RESUME, DISABLE) and the target's exit"
elif kfd_open_works; then
  kfd-client version >"$GP_TMP/version.jsonl"
  [ "$(client_errname "$GP_TMP/version.jsonl" open)" = OK ] || fail "open(/dev/kfd): $(client_errname "$GP_TMP/version.jsonl" open)"
  drove="a KFD process open and exit (no debug API on $GP_KVER)"
else
  kfd-client version >"$GP_TMP/version.jsonl"
  [ "$(client_errname "$GP_TMP/version.jsonl" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$GP_TMP/version.jsonl" open), expected EINVAL"
  drove="an open(/dev/kfd) that $GP_KVER refuses without a GPU node"
fi
sleep 1
kill -INT $lpid
i=0
while kill -0 $lpid 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $lpid 2>/dev/null && fail "latency did not exit within 20 s of SIGINT"
wait $lpid
rc=$?
[ $rc -eq 0 ] || { cat "$out.err"; fail "latency exited $rc after SIGINT"; }
cat "$out"
sum=$GP_TMP/summary.json
tail -n1 "$out" >"$sum"
jtest "$sum" '.type == "summary" and (.program_runs | type) == "object"' || fail "no summary with program_runs: $(cat "$sum")"
runs() { jq -r --arg p "$1" '.program_runs[$p] // "absent"' "$sum"; }

# Nothing reached a preemption, on any kernel.
jtest "$sum" '.spans_seen == 0 and .lost == 0' || fail "spans without a GPU: $(cat "$sum")"
for p in unmap_queues_entry unmap_queues_return send_unmap_entry fence_wait_return map_queues_entry mes_remove_entry mes_add_entry; do
  n=$(runs $p)
  case $n in 0 | absent) ;; *) fail "$p ran $n times without a GPU" ;; esac
done

# Where the debug API runs, the cause stack saw the debugger's calls.
if kfd_open_works && has_debug_api; then
  for p in cause_dbg_suspend cause_dbg_suspend_ret cause_dbg_resume cause_dbg_resume_ret; do
    n=$(runs $p)
    [ "$n" != absent ] && [ "$n" -ge 1 ] || fail "$p ran '$n' times: the SUSPEND/RESUME ioctls should reach it"
  done
  # Push and pop stay paired.
  [ "$(runs cause_dbg_suspend)" = "$(runs cause_dbg_suspend_ret)" ] || fail "cause_dbg_suspend entry/return counts differ"
fi
echo "$GP_KVER: drove $drove; 0 preemption spans (no dqm without a GPU: unmap_queues_cpsch never runs); program runs: $(jq -c '.program_runs | with_entries(select(.value > 0))' "$sum")"
