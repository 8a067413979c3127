#!/bin/sh
# The demo run inside the 6.12 VM (scripts/vm/demo.sh): gpreempt-bpf watch
# against the real amdgpu/KFD while kfd-client drives /dev/kfd.
# Lines starting with GP-DEMO are markers for the host (demo.sh times the
# run with them and does not show them).
. /gp/lib.sh
need gpreempt-bpf kfd-client

say() { echo ""; echo ">>> $*"; }
# kfd-client's JSON lines, marked apart from watch's table.
client() { kfd-client "$@" | sed 's/^/    client> /'; }

say "gpreempt-bpf watch (real amdgpu $(uname -r), no GPU: KFD runs on a CPU-only topology)"
echo "GP-DEMO watch-start"
# watch's table on the console as it comes; returns once watch has printed
# its first line, which it does when every program is attached.
GP_WATCH_ECHO=1 watch_spawn --interval 5
echo "GP-DEMO attached"

say "kfd-client open-exit: a process opens /dev/kfd and exits"
client open-exit
sleep 1
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
wait_line /tmp/target.jsonl 20 '"op":"ready"' || fail "kfd-client runtime-target did not get ready within 20 s"
client debug-session --target "$tpid" --qids 1,2,3
kill -TERM "$tpid"
wait "$tpid"
sleep 2
say "stopping watch"
kill -INT "$WATCH_PID"
wait "$WATCH_PID" || fail "gpreempt-bpf watch exited with status $? after SIGINT"
WATCH_PID=""
# tee ends with watch; its last lines are watch's summary.
wait
echo "GP-DEMO done"
