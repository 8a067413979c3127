#!/bin/sh
# The demo run inside the 6.12 VM (scripts/vm/demo.sh): gpreempt-bpf watch
# against the real amdgpu/KFD while kfd-client drives /dev/kfd.
. /gp/lib.sh
need gpreempt-bpf kfd-client

say() { echo ""; echo ">>> $*"; }
# kfd-client's JSON lines, marked apart from watch's table.
client() { kfd-client "$@" | sed 's/^/    client> /'; }

say "gpreempt-bpf watch (real amdgpu $(uname -r), no GPU: KFD runs on a CPU-only topology)"
gpreempt-bpf watch --interval 5 &
WATCH_PID=$!
sleep 1
i=0
while ! grep -q kfd_ioctl_create_queue /sys/kernel/debug/kprobes/list 2>/dev/null && [ $i -lt 600 ]; do
  kill -0 "$WATCH_PID" 2>/dev/null || fail "watch exited before attaching"
  sleep 0.1
  i=$((i + 1))
done
sleep 1

say "kfd-client open-exit: a process opens /dev/kfd and exits"
client open-exit
sleep 2
say "kfd-client create-queue: gpu_id 0x1234 does not exist, so KFD refuses it (EINVAL)"
client create-queue --gpu-id 0x1234 --type compute_aql --priority 7 --percent 55 --ring-size 8192
sleep 1
say "kfd-client destroy-queue / update-queue of a made-up qid"
client destroy-queue --qid 77
client update-queue --qid 78 --priority 3
sleep 1
say "a debug session: ptrace + DBG_TRAP ENABLE, SUSPEND, RESUME, DISABLE (what 'preempt' does)"
kfd-client runtime-target >/tmp/target.jsonl &
tpid=$!
bg_track $tpid
wait_line /tmp/target.jsonl 20 '"op":"ready"'
client debug-session --target "$tpid" --qids 1,2,3
kill -TERM "$tpid"
wait "$tpid"
sleep 3
say "stopping watch"
kill -INT "$WATCH_PID"
wait "$WATCH_PID"
WATCH_PID=""
