#!/bin/sh
# gp-cost: 10  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# The last line of safety (6.12): preempt --serve holding a claim is killed
# with SIGKILL. The kernel must clean up after it: ptrace detached, the KFD
# debug session disabled (which resumes every suspended queue; here there is
# no GPU, so no queue exists to look at: we check that a new debugger can
# ENABLE the target, i.e. the dead one's session is gone), and the target
# still completes its own RUNTIME_DISABLE without blocking.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here; preempt-refusals covers this kernel"
  exit 0
fi

sock=$GP_TMP/p.sock
out=$GP_TMP/serve.out
target=$GP_TMP/target.jsonl
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }

kfd-client runtime-target >"$target" &
tpid=$!
bg_track $tpid
wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not start"
gpreempt-bpf preempt --offline-pid "$tpid" --serve --socket "$sock" >"$out" 2>&1 &
spid=$!
wait_line "$out" 90 '^Serving on' || { cat "$out"; fail "preempt --serve did not start: $(last_line "$out")"; }
r=$(gpreempt-bpf ctl suspend --holder victim --socket "$sock") || fail "ctl suspend: $r"
[ "$(tracer_of "$tpid")" != 0 ] || fail "the target is not traced while preempt holds it"

kill -KILL "$spid"
wait "$spid" 2>/dev/null
cat "$out"
i=0
while [ "$(tracer_of "$tpid")" != 0 ] && [ $i -lt 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
[ "$(tracer_of "$tpid")" = 0 ] || fail "the target is still traced after its tracer was SIGKILLed"
kill -0 "$tpid" || fail "the target died with its debugger"

kfd-client debug-session --target "$tpid" --qids 1 >"$GP_TMP/dbg.jsonl"
cat "$GP_TMP/dbg.jsonl"
[ "$(client_errname "$GP_TMP/dbg.jsonl" dbg_enable)" = OK ] ||
  fail "ENABLE by a new debugger: $(client_errname "$GP_TMP/dbg.jsonl" dbg_enable): the dead controller's debug session was not disabled by the kernel"

kill -TERM "$tpid"
wait_line "$target" 10 '"op":"runtime_disable"' || fail "the target blocked in RUNTIME_DISABLE"
[ "$(client_errname "$target" runtime_disable)" = OK ] || fail "RUNTIME_DISABLE: $(client_errname "$target" runtime_disable)"
echo "SIGKILLed controller: the kernel detached ptrace and disabled its debug session; the target ran on"
