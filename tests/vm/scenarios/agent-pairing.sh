#!/bin/sh
# gp-cost: 50  (seconds on 6.12 under TCG, for balancing shards)
# gp-kernels: 6.12
# `gpreempt-bpf agent` on the real driver (6.12: the debug API, and /dev/kfd
# opens without a GPU). kfd-client processes are classified by an
# environment variable and by a cgroup made to look like a kubepods pod; the
# online one's doorbell suspends the offline one (the automatic mode's
# detection, through the stand-in ROCm runtime) and idle resumes it; an
# offline process that appears while the online side is busy is attached
# before its hsa_init and held; the online process exiting resumes at once;
# a new online process joins; ctl claims per GPU; a second agent on the same
# socket is refused; SIGTERM ends cleanly. Without a GPU every process is in
# group 0 (GPU not known) and has no queue, so holds issue no SUSPEND here:
# the log, `ctl status` and the targets' debug state are what is checked.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here"
  exit 0
fi

tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }
sock=$GP_TMP/agent.sock
out=$GP_TMP/agent.out
ctl() { gpreempt-bpf ctl "$@" --socket "$sock"; }
# Wait up to $2 s until file $1 has at least $4 lines matching the ERE $3.
wait_count() {
  _i=0
  while [ "$_i" -lt $(($2 * 10)) ]; do
    [ "$(grep -cE "$3" "$1")" -ge "$4" ] && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  return 1
}
susp="GPU 0: suspend \(online pid"
res="GPU 0: resume \("

# A kubepods pod's container cgroup, as containerd with the systemd driver names it.
pod=1e597579_417e_482f_bf65_5fe170c3aebd
cid=a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup || fail "cannot mount cgroup2"
cg=/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$pod.slice/cri-containerd-$cid.scope
mkdir -p "$cg" || fail "cannot create $cg"

cat >"$GP_TMP/policy.yaml" <<'EOF'
version: 1
default: ignored
rules:
  - name: env-online
    role: online
    match: {env: {GPREEMPT_ROLE: online}}
  - name: hami-low
    role: offline
    match: {env: {AMD_TASK_PRIORITY: "[1-9]*"}}
  - name: besteffort-pods
    role: offline
    match: {cgroup: "/kubepods.slice/kubepods-besteffort.slice/*"}
EOF

# The online process rings once per line written to its FIFO.
mkfifo "$GP_TMP/ring"
exec 3<>"$GP_TMP/ring"
GPREEMPT_ROLE=online kfd-client online-target --open-kfd <&3 >"$GP_TMP/online.jsonl" 2>&1 &
opid=$!
bg_track $opid
# The offline one enters the pod's cgroup before it opens /dev/kfd.
sh -c "echo \$\$ >$cg/cgroup.procs && exec kfd-client runtime-target" >"$GP_TMP/offline.jsonl" &
apid=$!
bg_track $apid
kfd-client runtime-target >"$GP_TMP/ignored.jsonl" &
ipid=$!
bg_track $ipid
for f in online offline ignored; do
  wait_line "$GP_TMP/$f.jsonl" 20 '"op":"ready"' || fail "$f kfd-client did not start: $(last_line "$GP_TMP/$f.jsonl")"
done
grep -q "^0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$pod.slice/cri-containerd-$cid.scope$" \
  "/proc/$apid/cgroup" || fail "the offline process is not in the pod cgroup: $(cat /proc/$apid/cgroup)"

# --check-policy: the same verdicts, without attaching anything.
gpreempt-bpf agent --check-policy "$GP_TMP/policy.yaml" --json >"$GP_TMP/check.jsonl" || fail "--check-policy failed"
cat "$GP_TMP/check.jsonl"
jany "$GP_TMP/check.jsonl" ".pid == $opid and .role == \"online\" and .rule == \"env-online\"" ||
  fail "--check-policy: the online process"
jany "$GP_TMP/check.jsonl" ".pid == $apid and .role == \"offline\" and .rule == \"besteffort-pods\" and
  .pod_uid == \"1e597579-417e-482f-bf65-5fe170c3aebd\" and .container_id == \"$cid\" and .qos == \"besteffort\"" ||
  fail "--check-policy: the offline process in the pod"
jany "$GP_TMP/check.jsonl" ".pid == $ipid and .role == \"ignored\" and .rule == \"default\"" ||
  fail "--check-policy: the ignored process"
[ "$(tracer_of "$apid")" = 0 ] || fail "--check-policy attached to something"

gpreempt-bpf agent --policy "$GP_TMP/policy.yaml" --socket "$sock" --idle-ms 1000 --min-hold-ms 100 >"$out" 2>&1 &
agent=$!
bg_track $agent
wait_line "$out" 90 "KFD process\(es\) at start" || { cat "$out"; fail "the agent did not start: $(last_line "$out")"; }
wait_line "$out" 30 "online pid $opid: doorbell uprobes on /opt/rocm/lib/libhsa-runtime64.so.1" ||
  { cat "$out"; fail "no doorbell uprobes on the online process"; }
grep -q "pid $opid (kfd-client): online by rule \"env-online\"" "$out" || { cat "$out"; fail "online not classified by env"; }
grep -q "pid $apid (kfd-client): offline by rule \"besteffort-pods\"; pod 1e597579-417e-482f-bf65-5fe170c3aebd container a09bc17f5aa2 (containerd) qos besteffort" "$out" ||
  { cat "$out"; fail "offline not classified by its pod cgroup"; }
grep -q "pid $ipid (kfd-client): ignored by rule \"default\"" "$out" || { cat "$out"; fail "the ignored process"; }
[ "$(tracer_of "$apid")" != 0 ] || fail "the offline process is not traced by the agent"
[ "$(tracer_of "$ipid")" = 0 ] || fail "the ignored process is traced"
[ "$(tracer_of "$opid")" = 0 ] || fail "the online process is traced"
echo "[$(since)s] classified: online $opid by env, offline $apid by its pod cgroup, $ipid ignored"

# A second agent on the same socket: refused before it attaches anything.
if gpreempt-bpf agent --policy "$GP_TMP/policy.yaml" --socket "$sock" >"$GP_TMP/second.out" 2>&1; then
  fail "a second agent started on a live socket"
fi
grep -q "another server is listening there" "$GP_TMP/second.out" || fail "second agent: $(cat "$GP_TMP/second.out")"

# The online doorbell suspends, idle resumes.
sleep 1
grep -q 'suspend (' "$out" && { cat "$out"; fail "suspended before any doorbell"; }
echo ring >&3
wait_line "$out" 30 "GPU 0: suspend \(online pid $opid queue 0x[0-9a-f]+: doorbell rung, [0-9]+ us after the store\): pid $apid" ||
  { cat "$out"; fail "the doorbell did not suspend the offline process"; }
wait_count "$out" 30 "GPU 0: resume \(idle for [0-9.]+ ms\): pid $apid" 1 || { cat "$out"; fail "no resume after idle"; }
echo "[$(since)s] doorbell -> suspend, idle -> resume"

# A new offline process while the online side is busy: attached before its
# hsa_init (RUNTIME_ENABLE waits for the agent's answer), then held.
(while :; do echo ring >&3; sleep 0.1; done) &
ringer=$!
bg_track $ringer
wait_count "$out" 30 "$susp" 2 || fail "not suspended by the ringing"
n=$(grep -cE "$susp" "$out")
AMD_TASK_PRIORITY=3 kfd-client runtime-target --delay-enable-ms 3000 >"$GP_TMP/late.jsonl" &
bpid=$!
bg_track $bpid
wait_line "$out" 60 "pid $bpid \(kfd-client\): offline by rule \"hami-low\"" || { cat "$out"; fail "the new offline process was not classified"; }
wait_line "$GP_TMP/late.jsonl" 30 '"op":"ready"' || fail "the new offline process blocked in RUNTIME_ENABLE: $(last_line "$GP_TMP/late.jsonl")"
[ "$(client_errname "$GP_TMP/late.jsonl" runtime_enable)" = OK ] || fail "RUNTIME_ENABLE: $(client_errname "$GP_TMP/late.jsonl" runtime_enable)"
wait_line "$out" 30 "pid $bpid: answered the runtime handshake" || { cat "$out"; fail "the handshake was not answered by the agent"; }
wait_line "$out" 30 "held now that its runtime is enabled: pid $bpid \(kfd-client\)" || { cat "$out"; fail "the new offline process was not held"; }
ctl status --gpu 0 >"$GP_TMP/status" || fail "ctl status --gpu 0"
cat "$GP_TMP/status"
grep -qE '^state +suspended$' "$GP_TMP/status" || { cat "$out"; fail "GPU 0 not suspended while the online side rings"; }
grep -qE "^held +($apid,$bpid|$bpid,$apid)$" "$GP_TMP/status" || { cat "$out"; fail "both offline processes should be held"; }
[ "$(grep -cE "$susp" "$out")" = "$n" ] || { cat "$out"; fail "the ringing should have held one suspension"; }
kill "$ringer"
wait_count "$out" 30 "$res" 2 || fail "no resume after the ringing stopped"
echo "[$(since)s] a new offline process during a suspension: attached before hsa_init, held"

# ctl per GPU, and the old all-GPU claim.
r=$(ctl suspend --gpu 0 --holder sched) || fail "ctl suspend --gpu 0: $r"
echo "$r" | grep -q '^suspended gpu=0 claims=1 ' || fail "ctl suspend --gpu 0: '$r'"
ctl status --gpu 0 | grep -qE '^holders +sched:1$' || fail "the claim is not listed"
if r=$(ctl suspend --gpu 999 2>&1); then fail "a claim on a GPU that does not exist: $r"; fi
echo "$r" | grep -q "no GPU with gpu_id 999" || fail "unexpected refusal: $r"
r=$(ctl resume --gpu 0 --holder sched) || fail "ctl resume --gpu 0: $r"
echo "$r" | grep -q '^resumed gpu=0 claims=0 ' || fail "ctl resume --gpu 0: '$r'"
r=$(ctl suspend --holder web) || fail "ctl suspend (every GPU): $r"
echo "$r" | grep -q '^suspended claims=1 ' || fail "ctl suspend (every GPU): '$r'"
r=$(ctl resume --holder web) || fail "ctl resume: $r"
echo "[$(since)s] ctl: per-GPU and all-GPU claims"

# The online process exits during a suspension: resumed at once.
echo ring >&3
wait_count "$out" 30 "$susp $opid" 3 || fail "no suspension"
kill -TERM "$opid"
wait "$opid"
wait_line "$out" 30 "pid $opid \(kfd-client\) \(online\) left" || { cat "$out"; fail "the online exit was not noticed"; }
wait_line "$out" 30 "GPU 0: resume \(online pid $opid exited\)" || { cat "$out"; fail "not resumed when the online process exited"; }

# A new online process (a pod restart) joins and is heard.
mkfifo "$GP_TMP/ring2"
exec 4<>"$GP_TMP/ring2"
GPREEMPT_ROLE=online kfd-client online-target --open-kfd <&4 >"$GP_TMP/online2.jsonl" 2>&1 &
o2pid=$!
bg_track $o2pid
wait_line "$out" 60 "online pid $o2pid: doorbell uprobes on" || { cat "$out"; fail "the new online process got no doorbell uprobes"; }
echo ring >&4
wait_line "$out" 30 "GPU 0: suspend \(online pid $o2pid" || { cat "$out"; fail "the new online process's doorbell did not suspend"; }
echo "[$(since)s] online exit resumes; a new online process is paired"

kill -TERM "$agent"
wait "$agent"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "the agent exited $rc after SIGTERM"
[ ! -e "$sock" ] || fail "the control socket was left behind"
for p in $apid $bpid; do
  [ "$(tracer_of "$p")" = 0 ] || fail "pid $p still traced after the agent exited"
done
grep -q "pid $apid (kfd-client): queues resumed, debugging disabled, detached" "$out" || fail "offline $apid not released"
kill -TERM "$apid" "$bpid" "$ipid" "$o2pid"
for f in offline late ignored; do
  wait_line "$GP_TMP/$f.jsonl" 10 '"op":"runtime_disable"' || fail "$f blocked in RUNTIME_DISABLE"
done
wait
rmdir "$cg" "${cg%/*}" "${cg%/*/*}" "${cg%/*/*/*}" 2>/dev/null
echo "agent: classified by env and by pod cgroup, paired on GPU 0, suspended on doorbells, resumed on idle and exit, ended cleanly"
