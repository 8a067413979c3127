#!/bin/sh
# gp-cost: 10  (seconds on 6.12 under TCG, for balancing shards)
# (c) A client opens /dev/kfd and exits: KFD process create and exit events
# arrive with the client's tgid. On the way, doctor lists the running watch
# with its lost-event count. 7.x refuses open() without a GPU: then no
# successful process event may appear for it.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

watch_start
# doctor runs no session; it reads the loss counters of the running ones.
gpreempt-bpf doctor --json >"$GP_TMP/doctor.json" 2>"$GP_TMP/doctor.err"
jtest "$GP_TMP/doctor.json" '[.sessions[] | select(.pid == $w and .lost == 0 and (.command | endswith("watch")) and (.map_ids | length) >= 1)] | length == 1' --argjson w "$WATCH_PID" ||
  fail "doctor does not list the running watch (pid $WATCH_PID) with 0 lost: $(jq -c '{sessions, sessions_error}' "$GP_TMP/doctor.json")"
client=$GP_TMP/client.jsonl
kfd-client open-exit >"$client"
cat "$client"
pid=$(op_field "$client" open .pid)
[ -n "$pid" ] || fail "kfd-client printed no open result"

if ! kfd_open_works; then
  [ "$(client_errname "$client" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$client" open), expected EINVAL"
  sleep 2
  watch_stop
  bad=$(jq -c --argjson pid "$pid" 'select(.type == "event" and .pid == $pid and ((.kind == "process_create" and .ret == 0) or .kind == "process_release" or .kind == "process_free"))' "$WATCH_OUT")
  [ -z "$bad" ] || fail "open() failed, yet process events claim a KFD process for $pid: $bad"
  echo "open(/dev/kfd) = EINVAL on $GP_KVER, and no KFD process event for pid $pid"
  exit 0
fi

[ "$(client_errname "$client" open)" = OK ] || fail "open(/dev/kfd) failed: $(client_errname "$client" open)"
for k in process_create process_release process_free; do
  # process_free comes from a kworker after the last reference drops.
  wait_event "$k" "$pid" 15 || { watch_stop; fail "no $k event with pid $pid within 15 s"; }
done
watch_stop
for k in process_create process_release process_free; do
  n=$(count_events "$k" "$pid")
  [ "$n" -eq 1 ] || fail "$n $k events for pid $pid, expected exactly 1"
done
events_of process_create "$pid" | jtest - '.comm == "kfd-client"' ||
  fail "process_create comm is $(events_of process_create "$pid" | jq -c .comm), expected kfd-client"
order=$(jq -rs --argjson pid "$pid" '[.[] | select(.type == "event" and .pid == $pid and (.kind == "process_create" or .kind == "process_release" or .kind == "process_free")) | .kind] | join(",")' "$WATCH_OUT")
[ "$order" = process_create,process_release,process_free ] || fail "process events for $pid came as $order"
[ "$(summary_field .lost)" = 0 ] || fail "$(summary_field .lost) events lost"
echo "pid $pid: process_create, process_release, process_free each seen once"
