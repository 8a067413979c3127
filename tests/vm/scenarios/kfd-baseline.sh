#!/bin/sh
# gp-cost: 7  (seconds on 6.12 under TCG, for balancing shards)
# The test bed itself, without gpreempt-bpf: what the real KFD of this kernel
# answers to kfd-client. If this fails, the kernel (or Debian's build of it)
# changed, and the other scenarios' expectations must be revisited.
. /gp/lib.sh
need kfd-client jq

out=$GP_TMP/client.jsonl

if ! kfd_open_works; then
  # 7.x: KFD refuses to create a process without a GPU node.
  kfd-client version >"$out" 2>&1 && fail "open(/dev/kfd) succeeded on $GP_KVER; expected EINVAL without a GPU (update the scenarios)"
  cat "$out"
  [ "$(client_errname "$out" open)" = EINVAL ] || fail "open(/dev/kfd) failed with $(client_errname "$out" open), expected EINVAL"
  [ -c /dev/kfd ] || fail "/dev/kfd is missing"
  echo "open(/dev/kfd) = EINVAL (no GPU node), as expected on $GP_KVER"
  exit 0
fi

kfd-client version >"$out" || fail "kfd-client version failed: $(cat "$out")"
cat "$out"
v=$(op_field "$out" version '"\(.major).\(.minor)"')
[ "$v" = "$(expected_kfd_version)" ] || fail "KFD version $v, expected $(expected_kfd_version) on $GP_KVER"

# CREATE_QUEUE with valid user pointers fails at the gpu_id lookup.
kfd-client create-queue --gpu-id 0x1234 --type compute_aql --priority 7 --percent 55 --ring-size 8192 >"$out" ||
  fail "kfd-client create-queue failed: $(cat "$out")"
cat "$out"
[ "$(client_errname "$out" create_queue)" = EINVAL ] ||
  fail "CREATE_QUEUE on a made-up gpu_id: $(client_errname "$out" create_queue), expected EINVAL"

kfd-client destroy-queue --qid 77 >"$out" || fail "kfd-client destroy-queue failed"
cat "$out"
[ "$(client_errname "$out" destroy_queue)" != OK ] || fail "DESTROY_QUEUE of a made-up qid succeeded"

kfd-client update-queue --qid 78 >"$out" || fail "kfd-client update-queue failed"
cat "$out"
[ "$(client_errname "$out" update_queue)" != OK ] || fail "UPDATE_QUEUE of a made-up qid succeeded"

# The debug API: absent (ENOTTY) on 6.1, a full session on 6.12.
kfd-client runtime-target >"$GP_TMP/target.jsonl" 2>&1 &
tpid=$!
bg_track $tpid
wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$GP_TMP/target.jsonl")"
cat "$GP_TMP/target.jsonl"
if ! has_debug_api; then
  [ "$(client_errname "$GP_TMP/target.jsonl" runtime_enable)" = ENOTTY ] ||
    fail "RUNTIME_ENABLE on $GP_KVER: $(client_errname "$GP_TMP/target.jsonl" runtime_enable), expected ENOTTY (no debug API)"
  echo "KFD $v, queue ioctls refused as expected, no debug API (ENOTTY)"
  exit 0
fi
[ "$(client_errname "$GP_TMP/target.jsonl" runtime_enable)" = OK ] ||
  fail "RUNTIME_ENABLE failed: $(client_errname "$GP_TMP/target.jsonl" runtime_enable)"
kfd-client debug-session --target "$tpid" --qids 1,2,3 >"$out" || fail "kfd-client debug-session failed: $(cat "$out")"
cat "$out"
for op in ptrace_seize dbg_enable dbg_suspend dbg_resume dbg_disable; do
  [ "$(client_errname "$out" $op)" = OK ] || fail "$op: $(client_errname "$out" $op), expected success"
done
[ "$(op_field "$out" dbg_enable .runtime_state)" = 1 ] || fail "ENABLE returned runtime_state $(op_field "$out" dbg_enable .runtime_state), expected 1 (enabled)"
[ "$(op_field "$out" dbg_suspend .invalid)" = 3 ] || fail "SUSPEND of 3 made-up qids: $(op_field "$out" dbg_suspend .invalid) marked INVALID, expected 3"
[ "$(op_field "$out" dbg_suspend .rc)" = 0 ] || fail "SUSPEND of made-up qids suspended $(op_field "$out" dbg_suspend .rc) queues"
kill -TERM "$tpid"
wait "$tpid"
grep -q '"op":"runtime_disable".*"rc":0' "$GP_TMP/target.jsonl" || fail "RUNTIME_DISABLE failed: $(tail -n1 "$GP_TMP/target.jsonl")"
echo "KFD $v, queue ioctls refused as expected, debug session ENABLE/SUSPEND/RESUME/DISABLE all accepted"
