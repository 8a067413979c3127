#!/bin/sh
# gp-cost: 4  (seconds on 6.12 under TCG, for balancing shards)
# (g) queues --verify agrees with sysfs, while a KFD process (with no queues:
# there is no GPU to create one on) is alive.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

sysfs=/sys/class/kfd/kfd/proc
if kfd_open_works; then
  kfd-client runtime-target >"$GP_TMP/target.jsonl" &
  tpid=$!
  bg_track $tpid
  wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$GP_TMP/target.jsonl")"
  [ -d "$sysfs/$tpid" ] || fail "$sysfs/$tpid does not exist although pid $tpid has /dev/kfd open"
  [ -z "$(ls "$sysfs/$tpid/queues" 2>/dev/null)" ] || fail "sysfs lists queues for $tpid: $(ls "$sysfs/$tpid/queues")"
fi

out=$GP_TMP/verify.json
gpreempt-bpf queues --verify --json >"$out" 2>"$GP_TMP/verify.err"
rc=$?
cat "$out"
jtest "$out" 'type == "object"' || fail "queues --verify --json printed no JSON object (exit $rc): $(last_line "$GP_TMP/verify.err")"
jtest "$out" '.verify.ok == true' || fail "verify reports differences: $(jq -c .verify "$out")"
[ "$rc" -eq 0 ] || fail "queues --verify exited $rc although verify.ok is true"
nsys=$(find "$sysfs" -mindepth 3 -maxdepth 3 -path '*/queues/*' 2>/dev/null | wc -l)
jtest "$out" '(.queues | length) == $n and .verify.compared == $n' --argjson n "$nsys" ||
  fail "map has $(jq '.queues | length' "$out") queues ($(jq .verify.compared "$out") compared), sysfs $nsys"
echo "queues --verify: map and sysfs agree ($nsys queues; KFD processes: $(ls "$sysfs" 2>/dev/null | xargs))"
