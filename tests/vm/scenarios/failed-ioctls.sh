#!/bin/sh
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

# check_event KIND CLIENT_OP JQ_EXPR: exactly one KIND event for the
# client's pid, its ret is -errno of what the client saw, and JQ_EXPR holds.
check_event() {
  _kind=$1 _op=$2 _expr=$3
  _pid=$(op_field "$client" "$_op" .pid)
  _errno=$(op_field "$client" "$_op" .errno)
  [ "$_errno" -gt 0 ] || fail "$_op unexpectedly succeeded: $(grep "\"$_op\"" "$client")"
  wait_event "$_kind" "$_pid" 10 || { watch_stop; fail "no $_kind event for pid $_pid"; }
  _n=$(count_events "$_kind" "$_pid")
  [ "$_n" -eq 1 ] || fail "$_n $_kind events for pid $_pid, expected 1"
  _ev=$(events_of "$_kind" "$_pid")
  echo "$_ev"
  echo "$_ev" | jtest - '.ret == -$e' --argjson e "$_errno" ||
    fail "$_kind ret $(echo "$_ev" | jq .ret), but the client got errno $_errno"
  echo "$_ev" | jtest - "$_expr" || fail "$_kind: expected $_expr, got ioctl $(echo "$_ev" | jq -c .ioctl)"
}

kfd-client create-queue --gpu-id 0x1234 --type compute_aql --priority 7 --percent 55 --ring-size 8192 >"$client"
kfd-client destroy-queue --qid 77 >>"$client"
kfd-client update-queue --qid 78 --priority 3 --percent 40 --ring-size 2048 >>"$client"
cat "$client"
[ "$(client_errname "$client" create_queue)" = EINVAL ] || fail "CREATE_QUEUE: $(client_errname "$client" create_queue), expected EINVAL (unknown gpu_id)"
ring=$(op_field "$client" create_queue .ring_addr)

check_event ioctl_create_queue create_queue \
  '.ioctl.gpu_id == 4660 and (.ioctl.queue_type == "compute_aql" or .ioctl.queue_type == 2) and .ioctl.priority == 7 and .ioctl.percent == 55 and .ioctl.ring_size == 8192 and .ioctl.ring_addr == "'"$ring"'"'
check_event ioctl_destroy_queue destroy_queue '.ioctl.qid == 77'
check_event ioctl_update_queue update_queue '.ioctl.qid == 78 and .ioctl.priority == 3 and .ioctl.percent == 40 and .ioctl.ring_size == 2048'
watch_stop

adds=$(jq -c 'select(.type == "event" and .kind == "queue_add")' "$WATCH_OUT" | wc -l)
[ "$adds" -eq 0 ] || fail "$adds queue_add events although every create failed"
[ "$(summary_field .queues)" = 0 ] || fail "the queue map holds $(summary_field .queues) queues, expected 0"
[ "$(summary_field .lost)" = 0 ] || fail "$(summary_field .lost) events lost"
echo "create/destroy/update failures reported with the requested values and -errno; queue map empty"
