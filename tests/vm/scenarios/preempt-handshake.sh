#!/bin/sh
# gp-cost: 20  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# The EC_PROCESS_RUNTIME handshake with a real KFD (6.12): the target blocks
# in RUNTIME_ENABLE/RUNTIME_DISABLE while a debugger is attached until the
# debugger answers with SEND_RUNTIME_EVENT; preempt must answer both.
#  1. hsa_shut_down: preempt --serve attached; the target's RUNTIME_DISABLE
#     returns promptly, preempt reports it and ends by itself when the target exits.
#  2. hsa_init: preempt attached (--wait-runtime) before the target's
#     RUNTIME_ENABLE; the target must not stay blocked.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here; preempt-refusals covers this kernel"
  exit 0
fi

out=$GP_TMP/preempt.out
target=$GP_TMP/target.jsonl

# 1. Shutdown handshake.
kfd-client runtime-target >"$target" &
tpid=$!
bg_track $tpid
wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not start"
gpreempt-bpf preempt --offline-pid "$tpid" --serve --socket "$GP_TMP/p.sock" >"$out" 2>&1 &
spid=$!
bg_track $spid
wait_line "$out" 90 '^Serving on' || { cat "$out"; fail "preempt --serve did not start: $(last_line "$out")"; }
kill -TERM "$tpid"
wait_line "$target" 10 '"op":"runtime_disable"' || { cat "$out"; fail "the target stayed blocked in RUNTIME_DISABLE"; }
[ "$(client_errname "$target" runtime_disable)" = OK ] || fail "RUNTIME_DISABLE: $(client_errname "$target" runtime_disable)"
i=0
while kill -0 "$spid" 2>/dev/null && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
kill -0 "$spid" 2>/dev/null && fail "preempt did not end when its only target exited"
wait "$spid"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt exited $rc after its target exited"
grep -q 'answered the runtime handshake (hsa_shut_down)' "$out" || fail "the shutdown handshake is not reported"
grep -qE "pid $tpid( exited|: its address space is going away|: KFD tore down)" "$out" || fail "the target's exit is not reported"

# 2. Attach before the target's RUNTIME_ENABLE.
if ! kfd-client 2>&1 | grep -q -- '--delay-enable-ms'; then
  fail "kfd-client runtime-target has no --delay-enable-ms (open /dev/kfd, wait, then RUNTIME_ENABLE): needed to attach before hsa_init"
fi
kfd-client runtime-target --delay-enable-ms 4000 >"$target" &
tpid=$!
bg_track $tpid
wait_line "$target" 20 '"op":"open"' || fail "runtime-target did not open /dev/kfd"
gpreempt-bpf preempt --offline-pid "$tpid" --wait-runtime 60 --cycles 1 --hold-ms 10 --gap-ms 10 >"$out" 2>&1
rc=$?
cat "$out" "$target"
[ $rc -eq 0 ] || fail "preempt attached before RUNTIME_ENABLE exited $rc: $(last_line "$out")"
[ "$(client_errname "$target" runtime_enable)" = OK ] || fail "the target's RUNTIME_ENABLE: $(client_errname "$target" runtime_enable)"
grep -q '"op":"ready"' "$target" || fail "the target stayed blocked in RUNTIME_ENABLE"
grep -q "runtime enabled" "$out" || fail "preempt did not report the enabled runtime"
kill -TERM "$tpid"
wait "$tpid"
[ "$(client_errname "$target" runtime_disable)" = OK ] || fail "RUNTIME_DISABLE after preempt: $(client_errname "$target" runtime_disable)"
echo "runtime handshakes answered at hsa_shut_down and at hsa_init; the target never stayed blocked"
