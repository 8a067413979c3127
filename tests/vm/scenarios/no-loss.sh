#!/bin/sh
# (f) No loss: over a burst of >= 10,000 ioctls the event counts equal the
# operations the client did, and watch reports 0 lost.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

N=12000
client=$GP_TMP/burst.json

if ! kfd_open_works; then
  kfd-client burst "$N" >"$client"
  cat "$client"
  [ "$(client_errname "$client" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$client" open), expected EINVAL"
  echo "$GP_KVER: no ioctl burst possible without a GPU (open = EINVAL)"
  exit 0
fi

watch_start
kfd-client burst "$N" --op mixed >"$client" || fail "kfd-client burst failed: $(cat "$client")"
cat "$client"
pid=$(op_field "$client" burst .pid)
c=$(op_field "$client" burst .create)
d=$(op_field "$client" burst .destroy)
u=$(op_field "$client" burst .update)
[ $((c + d + u)) -eq "$N" ] || fail "client did $c+$d+$u ioctls, not $N"
watch_stop
tail -n1 "$WATCH_OUT" >"$GP_TMP/summary.json"

# Count with grep (jq needs tens of seconds for 16,000 lines under TCG),
# then check with jq that what grep counted really is what it looks like.
echo "events for pid $pid: $(jq -c .by_kind "$GP_TMP/summary.json" 2>/dev/null)"
for pair in ioctl_create_queue:$c ioctl_destroy_queue:$d ioctl_update_queue:$u ioctl_destroy_begin:$d; do
  k=${pair%%:*}
  want=${pair#*:}
  _event_lines "$k" "$pid" >"$GP_TMP/$k.jsonl"
  got=$(wc -l <"$GP_TMP/$k.jsonl")
  [ "$got" = "$want" ] || fail "$k: $got events for $want ioctls"
  for n in 1 "$want"; do
    sed -n "${n}p" "$GP_TMP/$k.jsonl" | jtest - '.type == "event" and .kind == $k and .pid == $pid' --arg k "$k" --argjson pid "$pid" ||
      fail "$k line $n is not an event of pid $pid: $(sed -n "${n}p" "$GP_TMP/$k.jsonl" | head -c 300)"
  done
done
# Every create event carries the burst's arguments and the kernel's answer.
tail -n 1 "$GP_TMP/ioctl_create_queue.jsonl" | jtest - '.ret == -22 and .ioctl.gpu_id == $g' --argjson g "$(op_field "$client" burst .gpu_id)" ||
  fail "a burst create event has other values than the client used: $(tail -n1 "$GP_TMP/ioctl_create_queue.jsonl" | head -c 300)"
[ "$(summary_field .lost)" = 0 ] || fail "watch reports $(summary_field .lost) lost events"
[ "$(summary_field .decode_errors // 0)" = 0 ] || fail "watch reports $(summary_field .decode_errors) decode errors"
echo "$N ioctls ($c create, $d destroy, $u update) in $(op_field "$client" burst .usec) us: every one seen, 0 lost"
