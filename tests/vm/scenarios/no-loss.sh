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

counts=$(jq -cs --argjson pid "$pid" '[.[] | select(.type == "event" and .pid == $pid) | .kind] | group_by(.) | map({(.[0]): length}) | add // {}' "$WATCH_OUT")
echo "events for pid $pid: $counts"
for pair in ioctl_create_queue:$c ioctl_destroy_queue:$d ioctl_update_queue:$u ioctl_destroy_begin:$d; do
  k=${pair%%:*}
  want=${pair#*:}
  got=$(echo "$counts" | jq --arg k "$k" '.[$k] // 0')
  [ "$got" = "$want" ] || fail "$k: $got events for $want ioctls"
done
[ "$(summary_field .lost)" = 0 ] || fail "watch reports $(summary_field .lost) lost events"
[ "$(summary_field .decode_errors // 0)" = 0 ] || fail "watch reports $(summary_field .decode_errors) decode errors"
echo "$N ioctls ($c create, $d destroy, $u update) in $(op_field "$client" burst .usec) us: every one seen, 0 lost"
