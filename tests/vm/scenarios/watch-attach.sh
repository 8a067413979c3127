#!/bin/sh
# gp-cost: 8  (seconds on 6.12 under TCG, for balancing shards)
# (b) watch --json loads and attaches every required program, names the
# absent optional ones (6.1 has no debug functions) and shows the lost count.
# Every kernel here has amdgpu BTF, so every function with a return-side
# event runs on fexit (one program, no stash), and update_queue's trampoline
# sits on amdgpu's function, not on ipc/sem.c's update_queue.
. /gp/lib.sh
need gpreempt-bpf jq

doctor=$(doctor_json)
jtest "$doctor" '(.probes | length) > 0' || fail "doctor --json gave no probe list: $(head -c 300 "$doctor")"

watch_start
attach=$GP_TMP/attach.json
head -n1 "$WATCH_OUT" >"$attach"
cat "$attach"

# All checks of the attach line in one jq run (each jq start costs ~0.5 s
# under TCG). It prints one line per problem, then CHECKED.
dbg=false
has_debug_api && dbg=true
# Before 6.3 a fexit on a module function whose name vmlinux also has lands
# on vmlinux's (first kallsyms match): update_queue stays on kprobes there.
old=false
[ "$GP_KVER" = 6.1 ] && old=true
problems=$(jq -r --slurpfile d "$doctor" --arg kernel "$(uname -r)" --argjson dbg "$dbg" --argjson old "$old" '
  . as $a
  | ($a.attached // []) as $att
  | ([$a.missing_optional[]?.symbol]) as $miss
  | (
      # every probe doctor calls required is attached
      ($d[0].probes[] | select(.required) | .symbol | select(. as $s | $att | index($s) == null)
        | "required probe \(.) is not attached"),
      # the exact-map core (docs/kfd-internals.md §1) on every kernel
      (("kfd_ioctl_create_queue", "kfd_ioctl_destroy_queue", "kfd_ioctl_update_queue",
        "kfd_procfs_add_queue", "uninit_queue", "pqm_uninit") as $s
        | select($att | index($s) == null) | "\($s) is not attached"),
      (select($a.kernel != $kernel) | "attach line names kernel \($a.kernel), not \($kernel)"),
      ($a.missing_optional[]? | select((.symbol // "" | length) == 0 or (.reason // "" | length) == 0)
        | "missing optional probe without a symbol or a reason: \(tojson)"),
      # debug-API functions: attached where they exist, named as missing on 6.1
      (("kfd_ioctl_set_debug_trap", "suspend_queues", "resume_queues") as $s
        | if $dbg then (select($att | index($s) == null) | "\($s) exists on this kernel but is not attached")
          else (select(($att | index($s)) != null or ($miss | index($s)) == null)
            | "\($s) does not exist on this kernel: it must be in missing_optional, not attached") end),
      # mechanisms: fexit for every function with a return-side event, fentry
      # too where the entry emits (destroy begin) or counts (termination)
      (($a.mechanisms.lifecycle // {}) as $m
        | ((("kfd_ioctl_create_queue", "kfd_ioctl_update_queue", "pqm_uninit",
             "evict_process_queues_cpsch", "evict_process_queues_nocpsch",
             "restore_process_queues_cpsch", "restore_process_queues_nocpsch", "kfd_create_process")
            | [., "fexit"]),
           (("kfd_ioctl_destroy_queue", "process_termination_cpsch", "process_termination_nocpsch")
            | [., "fentry+fexit"]),
           (select($dbg) | ("kfd_ioctl_set_debug_trap", "suspend_queues", "resume_queues") | [., "fexit"]),
           # a name vmlinux has too: fexit from 6.3 (module-aware target lookup)
           ["update_queue", (if $old then "kprobe+kretprobe" else "fexit" end)],
           (("uninit_queue", "kfd_procfs_add_queue", "kfd_procfs_queue_show") | [., "kprobe"]))
          as [$s, $want] | select($m[$s] != $want)
          | "lifecycle \($s) runs on \($m[$s] // "nothing"), expected \($want)"),
      ($a.notes[]? | select(startswith("kprobes only")) | "fell back to kprobes: \(.)"),
      ($d[0].probes[] | select(.program == "update_queue_return")
        | select(.mechanism != (if $old then "kretprobe" else "fexit" end))
        | "doctor plans \(.mechanism) for update_queue, watch uses \($a.mechanisms.lifecycle.update_queue)"),
      "CHECKED"
    )' "$attach") || fail "jq could not check the attach line"
echo "$problems" | grep -v '^CHECKED$'
[ "$(echo "$problems" | tail -n1)" = CHECKED ] || fail "the attach-line checks did not run to the end"
[ "$(echo "$problems" | wc -l)" -eq 1 ] || fail "$(echo "$problems" | head -n1)"

# update_queue's programs are on amdgpu's function and never on vmlinux's
# (ipc/sem.c), which ftrace prints without a module: from 6.3 a BPF
# trampoline (flag D, a direct call) on "update_queue [amdgpu]"; on 6.1 the
# kprobes by address (a direct call there would be a fexit on the wrong one).
ef=/sys/kernel/tracing/enabled_functions
[ -r "$ef" ] || fail "cannot read $ef to see where the trampolines are"
grep '^update_queue' "$ef"
! grep -q '^update_queue (' "$ef" || fail "something of ours sits on vmlinux's update_queue (ipc/sem.c): $(grep '^update_queue (' "$ef")"
if $old; then
  grep -q '^update_queue \[amdgpu\]' "$ef" || fail "nothing on amdgpu's update_queue"
else
  grep -q '^update_queue \[amdgpu\].* D' "$ef" || fail "no BPF trampoline (direct call) on amdgpu's update_queue: $(grep '^update_queue' "$ef")"
fi

jany "$WATCH_OUT" '.type == "stats" and (.lost | type) == "number"' || fail "no stats line with a lost count"
watch_stop
[ "$(summary_field .lost)" = 0 ] || fail "summary reports $(summary_field .lost) lost events on an idle system"
echo "watch attached $(jq '.attached | length' "$attach") probes; missing optional: $(jq -c '[.missing_optional[].symbol]' "$attach"); lifecycle mechanisms: $(jq -c '.mechanisms.lifecycle | to_entries | group_by(.value) | map({(.[0].value): length}) | add' "$attach"); lost 0"
