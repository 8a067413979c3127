#!/bin/sh
# gp-kernels: 7.2
# gp-shim: only  (the 7.x+shim VM: the test-only kfd_open_shim is loaded)
# gp-cost: 40  (estimate: one watch and one preempt attach under TCG)
# A secondary KFD context of the target (kernels with AMDKFD_IOC_CREATE_PROCESS:
# a second open of /dev/kfd in the same process, then CREATE_PROCESS on it)
# while preempt --serve holds the primary (docs/kfd-internals.md §1): same tgid,
# its own kfd_process, qids and sysfs directory (proc/<pid>/context_<id>/).
# Its create/destroy ioctls must carry their context, and closing it (kfd_release
# -> kfd_process_notifier_release_internal -> pqm_uninit: a process_sweep of
# that context) must not read as the target going: preempt keeps holding the
# primary, resumes it on `ctl resume`, and ends cleanly.
#
# Runs only in the 7.2+shim VM (tests/vm/README.md): without a GPU node this
# kernel refuses open(/dev/kfd) unless the TEST-ONLY kfd_open_shim is loaded.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

kfd_open_works || fail "$GP_KVER: open(/dev/kfd) does not work here, so no secondary context can be made"

sock=$GP_TMP/p.sock
out=$GP_TMP/serve.out
target=$GP_TMP/target.jsonl
fifo=$GP_TMP/cmd
rm -f "$fifo"
mkfifo "$fifo" || fail "mkfifo failed"
has_flag() { jq -e 'any(.flags[]?; . == "secondary")' >/dev/null 2>&1; }

watch_start
kfd-client runtime-target --stdin <"$fifo" >"$target" &
tpid=$!
bg_track $tpid
exec 3>"$fifo"
wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not start: $(cat "$target")"
[ "$(client_errname "$target" runtime_enable)" = OK ] || fail "RUNTIME_ENABLE: $(client_errname "$target" runtime_enable)"

gpreempt-bpf preempt --offline-pid "$tpid" --serve --socket "$sock" >"$out" 2>&1 &
spid=$!
bg_track $spid
wait_line "$out" 120 '^Serving on' || { cat "$out"; fail "preempt --serve did not start: $(last_line "$out")"; }
r=$(gpreempt-bpf ctl suspend --holder sec --socket "$sock") || fail "ctl suspend: $r"
echo "ctl suspend: $r"

# The secondary context: open, CREATE_PROCESS, a queue create and a destroy
# (both refused without a GPU, but their ioctl events fire), then close.
echo secondary >&3
wait_line "$target" 10 '"op":"create_process"' || fail "no CREATE_PROCESS answer: $(cat "$target")"
[ "$(client_errname "$target" create_process)" = OK ] || fail "CREATE_PROCESS: $(client_errname "$target" create_process)"
ctxdir=$(ls -d /sys/class/kfd/kfd/proc/$tpid/context_* 2>/dev/null | head -n1)
[ -n "$ctxdir" ] || fail "no /sys/class/kfd/kfd/proc/$tpid/context_<id>/ after CREATE_PROCESS ($(ls /sys/class/kfd/kfd/proc/$tpid | xargs))"
ctx=${ctxdir##*context_}
echo "secondary context $ctx: $ctxdir ($(ls "$ctxdir" | xargs))"
echo secondary-create >&3
wait_line "$target" 10 '"op":"secondary_create_queue"' || fail "no secondary create answer"
echo "secondary-destroy 0" >&3
wait_line "$target" 10 '"op":"secondary_destroy_queue"' || fail "no secondary destroy answer"
echo secondary-close >&3
wait_line "$target" 10 '"op":"secondary_close"' || fail "no secondary close answer"
wait_event process_sweep "$tpid" 20 || fail "no process_sweep for the closed secondary context"
sleep 1

# Its records carry the context.
for k in ioctl_create_queue ioctl_destroy_begin ioctl_destroy_queue; do
  ev=$(events_of "$k" "$tpid" | tail -n1)
  [ -n "$ev" ] || fail "no $k event of pid $tpid"
  echo "$ev" | has_flag || fail "$k of the secondary context is not flagged secondary: $ev"
  [ "$(echo "$ev" | jq -r '.ioctl.context_id')" = "$ctx" ] || fail "$k: ioctl.context_id is not $ctx: $ev"
done
sw=$(events_of process_sweep "$tpid" | tail -n1)
[ "$(echo "$sw" | jq -r '.process.context_id')" = "$ctx" ] || fail "process_sweep does not name context $ctx: $sw"
echo "$sw" | has_flag || fail "process_sweep of the secondary context is not flagged secondary: $sw"

# preempt still holds the primary.
kill -0 "$spid" 2>/dev/null || { cat "$out"; fail "preempt ended when the secondary context closed"; }
grep -qE "KFD tore down its queues|nothing left to resume" "$out" && { cat "$out"; fail "preempt took the secondary context's teardown for the target's"; }
st=$(gpreempt-bpf ctl status --socket "$sock") || fail "ctl status: $st"
echo "ctl status: $st"
echo "$st" | grep -qE '^state +suspended$' || fail "preempt no longer holds the target: $st"
r=$(gpreempt-bpf ctl resume --holder sec --socket "$sock") || fail "ctl resume: $r"
echo "ctl resume: $r"
kill -TERM "$spid"
wait "$spid"
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "preempt exited $rc"
grep -q "pid $tpid: queues resumed, debugging disabled, detached" "$out" || fail "preempt did not undo its session on the target"

exec 3>&-
kill -TERM "$tpid"
wait_line "$target" 10 '"op":"runtime_disable"' || fail "the target blocked in RUNTIME_DISABLE"
watch_stop
echo "$GP_KVER: a secondary KFD context's ioctls and teardown carry context $ctx; preempt held the primary throughout and ended cleanly"
