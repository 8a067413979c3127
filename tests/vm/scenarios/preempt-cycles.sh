#!/bin/sh
# gp-cost: 34  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# preempt --cycles on a real KFD process that did RUNTIME_ENABLE (6.12): the
# whole protocol through the real ioctls (ENABLE, GET_QUEUE_SNAPSHOT,
# SUSPEND, RESUME, DISABLE), seen by a concurrent watch. Without a GPU no queue
# exists, so the map is empty: plain cycles have nothing to suspend, and
# --extra-qid makes SUSPEND/RESUME reach the kernel, which answers INVALID for
# the made-up qids, and preempt must report exactly that. Also prints the
# SUSPEND/RESUME ioctl round trip under TCG (not a hardware number).
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here; preempt-refusals covers this kernel"
  exit 0
fi

out=$GP_TMP/preempt.out
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }

kfd-client runtime-target >"$GP_TMP/target.jsonl" &
tpid=$!
bg_track $tpid
wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not start: $(cat "$GP_TMP/target.jsonl")"
[ "$(client_errname "$GP_TMP/target.jsonl" runtime_enable)" = OK ] || fail "RUNTIME_ENABLE: $(client_errname "$GP_TMP/target.jsonl" runtime_enable)"

# 1. No queues in the map: nothing to suspend, and that is not a failure.
gpreempt-bpf preempt --offline-pid "$tpid" --cycles 2 --hold-ms 20 --gap-ms 10 >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt without queues exited $rc: $(last_line "$out")"
[ "$(grep -c 'no queues to suspend' "$out")" -eq 2 ] || fail "expected 2 'no queues to suspend' lines"
grep -q "queues resumed, debugging disabled, detached" "$out" || fail "no clean detach line"
[ "$(tracer_of "$tpid")" = 0 ] || fail "target still traced after preempt exited"

# 2. Made-up qids through the real SUSPEND/RESUME, watched.
watch_start -p "$tpid"
gpreempt-bpf preempt --offline-pid "$tpid" --cycles 4 --hold-ms 30 --gap-ms 10 --extra-qid 1 --extra-qid 2 >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 1 ] || fail "preempt with made-up qids exited $rc, expected 1 (every iteration fails: INVALID)"
[ "$(grep -cE '^\[ *[0-9]+\] Suspend: ' "$out")" -eq 4 ] || fail "expected 4 iteration lines"
[ "$(grep -c 'queues 0/2 suspended, 0/2 resumed  FAILED' "$out")" -eq 4 ] || fail "iterations do not report 0/2 queues"
grep -q 'pid [0-9]* suspend: qid 1 invalid (no such queue, still new, or being destroyed), qid 2 invalid' "$out" ||
  fail "the per-entry INVALID bits are not reported"
grep -q 'success rate 0.0%' "$out" || fail "no success rate line"
grep -q '^suspend ioctl: min' "$out" || fail "no suspend latency summary"
[ "$(tracer_of "$tpid")" = 0 ] || fail "target still traced after preempt exited"
kill -0 "$tpid" || fail "the target died"
sleep 1
watch_stop

ops=$(jq -r --argjson t "$tpid" 'select(.type == "event" and .kind == "ioctl_dbg_trap" and .ioctl.dbg_target_pid == $t) | .ioctl.dbg_op | tostring' "$WATCH_OUT" | xargs | tr ' ' ,)
echo "DBG_TRAP ops on the target: $ops"
for op in enable get_queue_snapshot suspend_queues resume_queues disable; do
  case ",$ops," in
    *,$op,*) ;;
    *) fail "no $op ioctl on the target in watch's events ($ops)" ;;
  esac
done
n=$(jq -c --argjson t "$tpid" 'select(.type == "event" and .kind == "ioctl_dbg_trap" and .ioctl.dbg_target_pid == $t and .ioctl.dbg_op == "suspend_queues" and .ret == 0 and .ioctl.dbg_num_queues == 2)' "$WATCH_OUT" | wc -l)
[ "$n" -eq 4 ] || fail "expected 4 SUSPEND events with 2 qids returning 0, saw $n"

kill -TERM "$tpid"
wait "$tpid"
[ "$(client_errname "$GP_TMP/target.jsonl" runtime_disable)" = OK ] || fail "the target's RUNTIME_DISABLE: $(client_errname "$GP_TMP/target.jsonl" runtime_disable)"
echo "TCG ioctl round trip (no GPU; not a hardware number): $(grep '^suspend ioctl' "$out"); $(grep '^resume ioctl' "$out")"
echo "cycles through the real ioctls: INVALID reported per qid, target untraced and running, clean RUNTIME_DISABLE"
