#!/bin/sh
# gp-cost: 11  (seconds on 6.12 under TCG, for balancing shards)
# (d) CREATE_QUEUE with known values fails at the gpu_id lookup (no GPU):
# the event carries exactly those values and the error code, and the queue
# map stays empty. Same for DESTROY_QUEUE and UPDATE_QUEUE of a made-up qid.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

watch_start
client=$GP_TMP/client.jsonl

if ! kfd_open_works; then
  kfd-client create-queue --gpu-id 0x1234 >"$client"
  cat "$client"
  pid=$(op_field "$client" open .pid)
  [ "$(client_errname "$client" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$client" open), expected EINVAL"
  sleep 1
  watch_stop
  n=$(jq -c --argjson pid "$pid" 'select(.type == "event" and (.pid == $pid or .acting_pid == $pid))' "$WATCH_OUT" | grep -c ioctl_)
  [ "$n" -eq 0 ] || fail "$n ioctl events for pid $pid, whose open() failed"
  echo "$GP_KVER: open(/dev/kfd) = EINVAL without a GPU, so no queue ioctl can be issued; none was reported"
  exit 0
fi

kfd-client create-queue --gpu-id 0x1234 --type compute_aql --priority 7 --percent 55 --ring-size 8192 >"$client"
kfd-client destroy-queue --qid 77 >>"$client"
kfd-client update-queue --qid 78 --priority 3 --percent 40 --ring-size 2048 >>"$client"
cat "$client"
[ "$(client_errname "$client" create_queue)" = EINVAL ] || fail "CREATE_QUEUE: $(client_errname "$client" create_queue), expected EINVAL (unknown gpu_id)"
ring=$(op_field "$client" create_queue .ring_addr)

# The ioctl events are in the ring buffer before each ioctl returns, and
# watch drains it when it stops.
watch_stop
grep -E '"kind": ?"ioctl_' "$WATCH_OUT"

# All checks in one jq run (a jq start costs ~0.5 s under TCG); one line
# per problem, then CHECKED. check(op; kind; want): exactly one event of that
# kind for the pid of the client's op, ret == -errno the client saw, and the
# ioctl fields as requested.
problems=$(jq -rn --slurpfile c "$client" --slurpfile w "$WATCH_OUT" --arg ring "$ring" '
  def norm: if . == "compute_aql" then 2 else . end;
  def check($op; $kind; $want):
    ($c[] | select(.op == $op)) as $r
    | [$w[] | select(.type == "event" and .kind == $kind and .pid == $r.pid)] as $ev
    | if $r.errno == 0 then "\($op) unexpectedly succeeded"
      elif ($ev | length) != 1 then "\($ev | length) \($kind) events for pid \($r.pid), expected 1"
      elif $ev[0].ret != -$r.errno then "\($kind) ret \($ev[0].ret), but the client got errno \($r.errno)"
      else ($want | to_entries[] | select(($ev[0].ioctl[.key] | norm) != (.value | norm))
        | "\($kind): ioctl.\(.key) is \($ev[0].ioctl[.key] | tojson), expected \(.value | tojson)")
      end;
  check("create_queue"; "ioctl_create_queue";
        {gpu_id: 4660, queue_type: 2, priority: 7, percent: 55, ring_size: 8192, ring_addr: $ring}),
  check("destroy_queue"; "ioctl_destroy_queue"; {qid: 77}),
  check("update_queue"; "ioctl_update_queue"; {qid: 78, priority: 3, percent: 40, ring_size: 2048}),
  ([$w[] | select(.type == "event" and .kind == "queue_add")] | length | select(. > 0)
    | "\(.) queue_add events although every create failed"),
  ($w[-1] | select(.queues != 0) | "the queue map holds \(.queues) queues, expected 0"),
  ($w[-1] | select(.lost != 0) | "\(.lost) events lost"),
  "CHECKED"') || fail "jq could not check the events"
echo "$problems" | grep -v '^CHECKED$'
[ "$(echo "$problems" | tail -n1)" = CHECKED ] || fail "the event checks did not run to the end"
[ "$(echo "$problems" | wc -l)" -eq 1 ] || fail "$(echo "$problems" | head -n1)"
echo "create/destroy/update failures reported with the requested values and -errno; queue map empty"
