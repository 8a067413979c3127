#!/bin/sh
# gp-cost: 23  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
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

# Count with grep: jq needs tens of seconds for 16,000 lines under TCG.
# Then check with jq, on a sample, that what grep counted is what it seems.
grep -E "[{,]\"pid\": ?$pid[,}]" "$WATCH_OUT" >"$GP_TMP/pid.jsonl"
counts=$(grep -oE '"kind": ?"[a-z_]+"' "$GP_TMP/pid.jsonl" | sed 's/"kind": *//; s/"//g' | sort | uniq -c)
echo "events for pid $pid:" $counts
for pair in ioctl_create_queue:$c ioctl_destroy_queue:$d ioctl_update_queue:$u ioctl_destroy_begin:$d; do
  k=${pair%%:*}
  want=${pair#*:}
  got=$(echo "$counts" | awk -v k="$k" '$2 == k { print $1 }')
  [ "${got:-0}" = "$want" ] || fail "$k: ${got:-0} events for $want ioctls"
done
{ head -n 20 "$GP_TMP/pid.jsonl"; tail -n 20 "$GP_TMP/pid.jsonl"; } >"$GP_TMP/sample.jsonl"
jall "$GP_TMP/sample.jsonl" '.type == "event" and .pid == $pid' --argjson pid "$pid" ||
  fail "the lines counted for pid $pid are not all its events: $(head -c 300 "$GP_TMP/sample.jsonl")"
# The create events carry the burst's arguments and the kernel's answer.
grep -E '"kind": ?"ioctl_create_queue"' "$GP_TMP/sample.jsonl" >"$GP_TMP/creates.jsonl"
jall "$GP_TMP/creates.jsonl" '.ret == -22 and .ioctl.gpu_id == $g and .ioctl.priority == 5 and .ioctl.percent == 50' \
  --argjson g "$(op_field "$client" burst .gpu_id)" ||
  fail "burst create events with other values than the client used: $(head -n1 "$GP_TMP/creates.jsonl" | head -c 300)"
[ "$(summary_field .lost)" = 0 ] || fail "watch reports $(summary_field .lost) lost events"
[ "$(summary_field '.decode_errors // 0')" = 0 ] || fail "watch reports $(summary_field .decode_errors) decode errors"
echo "$N ioctls ($c create, $d destroy, $u update) in $(op_field "$client" burst .usec) us: every one seen, 0 lost"
