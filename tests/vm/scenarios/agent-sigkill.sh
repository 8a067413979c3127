#!/bin/sh
# gp-cost: 42  (seconds on 6.12 under TCG, for balancing shards)
# gp-kernels: 6.12
# The agent's crash strands nothing (6.12): with two offline processes held
# (a ctl claim on every GPU) and an online one watched through its doorbell
# uprobes, `agent` is SIGKILLed. The kernel detaches ptrace (TracerPid 0) and
# ends the KFD debug sessions (a new debugger can ENABLE each target), the
# targets run on and still complete their RUNTIME_DISABLE, the online process
# keeps ringing without any probe. (A restarted agent replaces the socket
# the killed one left: tests/unit/agent_ctl_test.cpp; attaching to processes
# that predate the agent: agent-pairing.)
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here"
  exit 0
fi

tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }
sock=$GP_TMP/agent.sock
out=$GP_TMP/agent.out
cat >"$GP_TMP/policy.yaml" <<'EOF'
version: 1
default: offline
rules:
  - name: env-online
    role: online
    match: {env: {GPREEMPT_ROLE: online}}
EOF

mkfifo "$GP_TMP/ring"
exec 3<>"$GP_TMP/ring"
GPREEMPT_ROLE=online kfd-client online-target --open-kfd <&3 >"$GP_TMP/online.jsonl" 2>&1 &
opid=$!
bg_track $opid
kfd-client runtime-target >"$GP_TMP/a.jsonl" &
apid=$!
bg_track $apid
kfd-client runtime-target >"$GP_TMP/b.jsonl" &
bpid=$!
bg_track $bpid
for f in online a b; do
  wait_line "$GP_TMP/$f.jsonl" 20 '"op":"ready"' || fail "kfd-client $f did not start"
done

gpreempt-bpf agent --policy "$GP_TMP/policy.yaml" --socket "$sock" >"$out" 2>&1 &
agent=$!
wait_line "$out" 90 "online pid $opid: doorbell uprobes on" || { cat "$out"; fail "the agent did not start: $(last_line "$out")"; }
grep -q "pid $apid (kfd-client): offline by rule \"default\"" "$out" || { cat "$out"; fail "$apid not offline by default"; }
r=$(gpreempt-bpf ctl suspend --holder victim --socket "$sock") || fail "ctl suspend: $r"
gpreempt-bpf ctl status --gpu 0 --socket "$sock" | grep -qE "^held +($apid,$bpid|$bpid,$apid)$" ||
  fail "both offline processes should be held"
for p in $apid $bpid; do
  [ "$(tracer_of "$p")" != 0 ] || fail "pid $p is not traced by the agent"
done

kill -KILL "$agent"
wait "$agent" 2>/dev/null
cat "$out"
for p in $apid $bpid; do
  i=0
  while [ "$(tracer_of "$p")" != 0 ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  [ "$(tracer_of "$p")" = 0 ] || fail "pid $p is still traced after the agent was SIGKILLed"
  kill -0 "$p" || fail "pid $p died with the agent"
done
[ -S "$sock" ] || fail "expected the killed agent's socket to be left behind (nothing removes it)"
echo "ring" >&3
wait_line "$GP_TMP/online.jsonl" 10 '"op":"ring"' || fail "the online process stopped ringing"
kfd-client debug-session --target "$apid" --qids 1 >"$GP_TMP/dbg.jsonl"
[ "$(client_errname "$GP_TMP/dbg.jsonl" dbg_enable)" = OK ] ||
  fail "ENABLE by a new debugger: $(client_errname "$GP_TMP/dbg.jsonl" dbg_enable): the agent's debug session outlived it"
echo "[$(since)s] SIGKILL: nothing traced, debug sessions gone, the processes run on"

kill -TERM "$apid" "$bpid" "$opid"
for f in a b; do
  wait_line "$GP_TMP/$f.jsonl" 10 '"op":"runtime_disable"' || fail "kfd-client $f blocked in RUNTIME_DISABLE"
  [ "$(client_errname "$GP_TMP/$f.jsonl" runtime_disable)" = OK ] || fail "RUNTIME_DISABLE of $f failed"
done
echo "agent SIGKILL: nothing left suspended or traced"
