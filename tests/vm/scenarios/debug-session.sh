#!/bin/sh
# gp-cost: 19  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# (e) The KFD debug-session flow: a client ptrace-seizes a second one (which
# did RUNTIME_ENABLE like a ROCm process) and issues ENABLE, SUSPEND, RESUME
# and DISABLE; each shows up as an event with the right target pid and count.
# 6.1 has no debug API (ENOTTY); 7.x cannot open /dev/kfd without a GPU
# (EINVAL), unless the test-only kfd_open_shim is loaded (the 7.x+shim VM).
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

target=$GP_TMP/target.jsonl
dbg=$GP_TMP/debugger.jsonl

if ! kfd_open_works; then
  kfd-client runtime-target >"$target"
  cat "$target"
  [ "$(client_errname "$target" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$target" open), expected EINVAL"
  echo "$GP_KVER: no debug session without a GPU: open(/dev/kfd) = EINVAL"
  exit 0
fi

watch_start
kfd-client runtime-target >"$target" &
tpid=$!
bg_track $tpid
wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$target")"
kfd-client debug-session --target "$tpid" --qids 1,2,3 >"$dbg"
cat "$target" "$dbg"
dpid=$(op_field "$dbg" dbg_enable .pid)
[ -n "$dpid" ] || fail "debug-session printed no ENABLE result"

if ! has_debug_api; then
  [ "$(client_errname "$target" runtime_enable)" = ENOTTY ] || fail "RUNTIME_ENABLE on $GP_KVER: $(client_errname "$target" runtime_enable), expected ENOTTY"
  [ "$(client_errname "$dbg" dbg_enable)" = ENOTTY ] || fail "DBG_TRAP ENABLE on $GP_KVER: $(client_errname "$dbg" dbg_enable), expected ENOTTY"
  sleep 1
  watch_stop
  n=$(jq -c 'select(.type == "event" and .kind == "ioctl_dbg_trap")' "$WATCH_OUT" | wc -l)
  [ "$n" -eq 0 ] || fail "$n ioctl_dbg_trap events on a kernel without the debug API"
  echo "$GP_KVER: no debug API (RUNTIME_ENABLE and DBG_TRAP = ENOTTY), no debug events"
  exit 0
fi

for op in runtime_enable; do
  [ "$(client_errname "$target" $op)" = OK ] || fail "target $op: $(client_errname "$target" $op)"
done
for op in ptrace_seize dbg_enable dbg_suspend dbg_resume dbg_disable; do
  [ "$(client_errname "$dbg" $op)" = OK ] || fail "debugger $op: $(client_errname "$dbg" $op)"
done

# The DBG_TRAP events are in the ring buffer before each ioctl returns, and
# watch drains it when it stops.
watch_stop
grep -E '"kind": ?"ioctl_dbg_trap"' "$WATCH_OUT" |
  jq -c --argjson d "$dpid" 'select(.type == "event" and .kind == "ioctl_dbg_trap" and .acting_pid == $d)' >"$GP_TMP/dbg-events.jsonl"
cat "$GP_TMP/dbg-events.jsonl"
ops=$(jq -r '.ioctl.dbg_op | tostring' "$GP_TMP/dbg-events.jsonl" | xargs | tr ' ' ,)
case $ops in
  enable,suspend_queues,resume_queues,disable | 0,6,7,1) ;;
  *) fail "debugger's DBG_TRAP events were [$ops], expected enable,suspend_queues,resume_queues,disable" ;;
esac
# The ioctl runs on the debugger's own /dev/kfd: the owner is the debugger.
jall "$GP_TMP/dbg-events.jsonl" '.pid == $d and .tid == $d' --argjson d "$dpid" ||
  fail "DBG_TRAP events name owner/tid $(jq -c '[.pid, .tid]' "$GP_TMP/dbg-events.jsonl" | xargs), expected the debugger $dpid"
jall "$GP_TMP/dbg-events.jsonl" '.ioctl.dbg_target_pid == $t' --argjson t "$tpid" ||
  fail "an event names target pid $(jq -c '.ioctl.dbg_target_pid' "$GP_TMP/dbg-events.jsonl" | xargs), expected $tpid"
# Each op's return code as the debugger saw it.
for pair in 1:dbg_enable 2:dbg_suspend 3:dbg_resume 4:dbg_disable; do
  line=${pair%%:*}
  op=${pair#*:}
  want=$(op_field "$dbg" "$op" .rc)
  got=$(sed -n "${line}p" "$GP_TMP/dbg-events.jsonl" | jq .ret)
  [ "$got" = "$want" ] || fail "$op: event ret $got, the ioctl returned $want"
done
for line in 2 3; do
  n=$(sed -n "${line}p" "$GP_TMP/dbg-events.jsonl" | jq .ioctl.dbg_num_queues)
  [ "$n" = 3 ] || fail "SUSPEND/RESUME event carries dbg_num_queues $n, expected 3"
done
# Each op's event carries the fields of that op and no other (trace/README.md, "ioctl").
keys=$(jq -r '.ioctl | keys | join(",")' "$GP_TMP/dbg-events.jsonl" | xargs)
[ "$keys" = "dbg_exception_mask,dbg_op,dbg_target_pid dbg_exception_mask,dbg_grace,dbg_num_queues,dbg_op,dbg_target_pid dbg_num_queues,dbg_op,dbg_target_pid dbg_op,dbg_target_pid" ] ||
  fail "the ENABLE/SUSPEND/RESUME/DISABLE events carry the ioctl keys [$keys]"
# DBG_TRAP ENABLE looks the target up through kfd_create_process(), which
# returns the existing process: that is not a second creation.
n=$(count_events process_create "$tpid")
[ "$n" -eq 1 ] || fail "$n process_create events for the target $tpid, which opened /dev/kfd once"
[ "$(summary_field .lost)" = 0 ] || fail "$(summary_field .lost) events lost"
kill -TERM "$tpid"
wait "$tpid"
echo "debug session on pid $tpid: enable, suspend(3), resume(3), disable reported with target and return codes"
