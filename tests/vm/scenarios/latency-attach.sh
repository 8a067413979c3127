#!/bin/sh
# gp-cost: 34  (seconds on 6.12 under TCG, for balancing shards)
# One `latency` session from attach to SIGINT.
# Attach: every preemption-span program (T0..T4, remap, MES, cause stack)
# attaches where doctor finds its function, and is otherwise reported absent
# with a reason, by `latency`, `watch` and `doctor` alike. No bpftool: the
# answers come from gpreempt-bpf itself.
# What really fires without a GPU: a CPU-only KFD topology has no device queue
# manager and a KFD process has no per-device data (no pdd), so no path
# reaches unmap_queues_cpsch or the MES functions: zero preemption spans, on
# every kernel. On 6.12 a real debugger SUSPEND/RESUME does enter
# suspend_queues/resume_queues: their cause probes run (counted with
# --prog-runs, which reads the kernel's own run counts) and return without a
# preemption. Asserted as such, not faked: the span numbers need hardware.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

# The latency probe set of controller/attach/probes.cpp (kLatency), by symbol.
SYMS="unmap_queues_cpsch pm_send_unmap_queue amdkfd_fence_wait_timeout map_queues_cpsch
mes_v11_0_remove_hw_queue mes_v12_0_remove_hw_queue mes_v12_1_remove_hw_queue mes_v11_0_add_hw_queue
mes_v12_0_add_hw_queue mes_v12_1_add_hw_queue suspend_all_queues_mes resume_all_queues_mes pm_send_runlist
kgd_gfx_v9_hqd_reset set_queue_as_reset
create_queue_cpsch destroy_queue_cpsch update_queue evict_process_queues_cpsch kfd_process_evict_queues
restore_process_queues_cpsch process_termination_cpsch suspend_queues resume_queues debug_refresh_runlist
halt_cpsch unhalt_cpsch stop_cpsch start_cpsch debug_lock_and_unmap reserve_debug_trap_vmid
release_debug_trap_vmid reset_queues_cpsch kfd_dqm_evict_pasid kfd_dqm_suspend_bad_queue_mes mes_userq_map
mes_userq_unmap"
# Exactly which of them each kernel lacks (nm of its amdgpu.ko; docs/kernels.md):
# everything else must attach.
case $GP_KVER in
  6.1) ABSENT="mes_v12_0_remove_hw_queue mes_v12_1_remove_hw_queue mes_v12_0_add_hw_queue mes_v12_1_add_hw_queue
suspend_all_queues_mes resume_all_queues_mes kgd_gfx_v9_hqd_reset set_queue_as_reset suspend_queues resume_queues
debug_refresh_runlist halt_cpsch unhalt_cpsch debug_lock_and_unmap reserve_debug_trap_vmid release_debug_trap_vmid
kfd_dqm_suspend_bad_queue_mes mes_userq_map mes_userq_unmap" ;;
  6.12) ABSENT="mes_v12_1_remove_hw_queue mes_v12_1_add_hw_queue set_queue_as_reset mes_userq_map mes_userq_unmap" ;;
  7.2) ABSENT="kfd_dqm_evict_pasid" ;;
  7.3) ABSENT="kfd_dqm_evict_pasid suspend_all_queues_mes resume_all_queues_mes" ;;
  *) fail "no list of the latency functions $GP_KVER lacks: add one here (nm of its amdgpu.ko)" ;;
esac

doctor=$(doctor_json)
jtest "$doctor" '(.probes | length) > 0' || fail "doctor --json gave no probe list: $(head -c 300 "$doctor")"

out=$GP_TMP/latency.jsonl
gpreempt-bpf latency --json --prog-runs >"$out" 2>"$out.err" &
lpid=$!
bg_track $lpid
wait_line "$out" 60 '"type":"attach"' || { cat "$out.err"; fail "latency did not attach within 60 s"; }

drove="nothing"
if kfd_open_works && has_debug_api; then
  target=$GP_TMP/target.jsonl
  kfd-client runtime-target >"$target" &
  tpid=$!
  bg_track $tpid
  wait_line "$target" 20 '"op":"ready"' || fail "runtime-target did not get ready: $(cat "$target")"
  kfd-client debug-session --target "$tpid" --qids 1,2,3 >"$GP_TMP/dbg.jsonl"
  cat "$GP_TMP/dbg.jsonl"
  for op in dbg_enable dbg_suspend dbg_resume dbg_disable; do
    [ "$(client_errname "$GP_TMP/dbg.jsonl" $op)" = OK ] || fail "debugger $op: $(client_errname "$GP_TMP/dbg.jsonl" $op)"
  done
  kill -TERM "$tpid"
  wait "$tpid"
  drove="a debug session (ENABLE, SUSPEND 3 qids, RESUME, DISABLE) and the target's exit"
elif kfd_open_works; then
  kfd-client version >"$GP_TMP/version.jsonl"
  [ "$(client_errname "$GP_TMP/version.jsonl" open)" = OK ] || fail "open(/dev/kfd): $(client_errname "$GP_TMP/version.jsonl" open)"
  drove="a KFD process open and exit (no debug API on $GP_KVER)"
else
  kfd-client version >"$GP_TMP/version.jsonl"
  [ "$(client_errname "$GP_TMP/version.jsonl" open)" = EINVAL ] || fail "open(/dev/kfd) on $GP_KVER: $(client_errname "$GP_TMP/version.jsonl" open), expected EINVAL"
  drove="an open(/dev/kfd) that $GP_KVER refuses without a GPU node"
fi
sleep 1
kill -INT $lpid
i=0
while kill -0 $lpid 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $lpid 2>/dev/null && fail "latency did not exit within 20 s of SIGINT"
wait $lpid
rc=$?
[ $rc -eq 0 ] || { cat "$out.err"; fail "latency exited $rc after SIGINT"; }
cat "$out"
sum=$GP_TMP/summary.json
tail -n1 "$out" >"$sum"
jtest "$sum" '.type == "summary" and (.program_runs | type) == "object"' || fail "no summary with program_runs: $(cat "$sum")"
runs() { jq -r --arg p "$1" '.program_runs[$p] // "absent"' "$sum"; }

# Nothing reached a preemption, on any kernel.
jtest "$sum" '.spans_seen == 0 and .lost == 0' || fail "spans without a GPU: $(cat "$sum")"
for p in unmap_queues_entry unmap_queues_return send_unmap_entry fence_wait_return map_queues_entry mes_remove_entry mes_add_entry; do
  n=$(runs $p)
  case $n in 0 | absent) ;; *) fail "$p ran $n times without a GPU" ;; esac
done

# Where the debug API runs, the cause stack saw the debugger's calls.
if kfd_open_works && has_debug_api; then
  for p in cause_dbg_suspend cause_dbg_suspend_ret cause_dbg_resume cause_dbg_resume_ret; do
    n=$(runs $p)
    [ "$n" != absent ] && [ "$n" -ge 1 ] || fail "$p ran '$n' times: the SUSPEND/RESUME ioctls should reach it"
  done
  # Push and pop stay paired.
  [ "$(runs cause_dbg_suspend)" = "$(runs cause_dbg_suspend_ret)" ] || fail "cause_dbg_suspend entry/return counts differ"
fi
nogpu="$GP_KVER: drove $drove; 0 preemption spans (no dqm without a GPU: unmap_queues_cpsch never runs); program runs: $(jq -c '.program_runs | with_entries(select(.value > 0))' "$sum")"
[ "$(jq -r .type "$out" | xargs)" = "attach interval summary" ] || fail "after SIGINT: [$(jq -r .type "$out" | xargs)]"

head -n1 "$out" >"$GP_TMP/attach.json"
jtest "$GP_TMP/attach.json" '.type == "attach"' || fail "first line is not the attach line: $(head -c 300 "$out")"
cat "$GP_TMP/attach.json"

# The latency BPF object loaded: no "preemption spans disabled" note.
jtest "$GP_TMP/attach.json" 'all(.notes[]; test("preemption spans disabled") | not)' ||
  fail "the latency object did not load: $(jq -c .notes "$GP_TMP/attach.json")"

# All checks in one jq run (each jq start costs ~0.5 s under TCG; per-symbol
# calls made this scenario take a minute). One line per problem, then
# CHECKED; the watch line is checked after watch has run.
dbg=false
has_debug_api && dbg=true
check_attach() {
  jq -r -n --slurpfile d "$doctor" --slurpfile a "$GP_TMP/attach.json" --arg syms "$SYMS" --arg absent "$ABSENT" \
    --arg kver "$GP_KVER" --argjson dbg "$dbg" "$@" '
    ($d[0]) as $doc | ($a[0]) as $lat
    | ($syms | split("\\s+"; null) | map(select(length > 0))) as $syms
    | ($absent | split("\\s+"; null) | map(select(length > 0))) as $absent
    | def res($s): ([$doc.probes[] | select(.symbol == $s) | .resolution] | first // "unlisted");
      def attached($x; $s): ($x.attached | index($s)) != null;
    (
      ($syms[] as $s | res($s) as $r
        | if $r == "unlisted" then "doctor does not list the latency probe \($s)"
          elif attached($lat; $s) then (select($r == "missing") | "\($s) is attached, but doctor says it is missing")
          elif any($lat.absent[]; .symbol == $s and (.reason | length) > 0) then
            (select($r != "missing") | "\($s) resolves (\($r)) but did not attach")
          else "\($s) is neither attached nor reported absent with a reason" end),
      # Per kernel: exactly the expected set attaches, exactly the rest is absent.
      (([$syms[] | select(. as $s | $absent | index($s) | not)] | sort) as $want
        | ([$lat.attached[] | select(. as $s | $syms | index($s))] | sort) as $got
        | select($got != $want)
        | "\($kver): attached \($got - $want | tojson) unexpectedly, missing \($want - $got | tojson)"),
      (([$lat.absent[].symbol] | sort) as $gone | select($gone != ($absent | sort))
        | "absent \($gone | tojson), expected exactly \($absent | sort | tojson)"),
      # The HWS span exists on every kernel this project supports (6.1 has no grace argument).
      (select($lat.hws_spans != true) | "HWS spans are off: \($lat.absent | tojson)"),
      (("unmap_queues_cpsch", "pm_send_unmap_queue", "amdkfd_fence_wait_timeout", "map_queues_cpsch",
        "create_queue_cpsch", "destroy_queue_cpsch") as $s | select(attached($lat; $s) | not) | "\($s) is not attached"),
      (select(($lat.warnings | length) > 0) | "phase warnings: \($lat.warnings | tojson)"),
      # Debug-API causes: only where the debug API exists.
      (("suspend_queues", "resume_queues", "debug_refresh_runlist") as $s
        | if $dbg then (select(attached($lat; $s) | not) | "\($s) exists on this kernel but is not attached")
          else (select(any($lat.absent[]; .symbol == $s) | not) | "\($s) cannot exist on 6.1 but is not reported absent") end),
      # watch reports the same: attached ones in .attached, absent ones in .missing_optional.
      (if $ARGS.named.w then ($ARGS.named.w[0]) as $w
        | ($syms[] as $s
          | if attached($lat; $s) then (select(attached($w; $s) | not) | "watch did not attach \($s), latency did")
            else (select(any($w.missing_optional[]; .symbol == $s and (.reason | length) > 0) | not)
              | "watch does not list absent \($s) in missing_optional with a reason") end)
        else empty end),
      "CHECKED"
    )'
}
problems=$(check_attach) || fail "jq could not check the attach lines"
echo "$problems" | grep -v '^CHECKED$'
[ "$(echo "$problems" | tail -n1)" = CHECKED ] || fail "the attach-line checks did not run to the end"
[ "$(echo "$problems" | wc -l)" -eq 1 ] || fail "$(echo "$problems" | head -n1)"

watch_start
head -n1 "$WATCH_OUT" >"$GP_TMP/watch-attach.json"
watch_stop
problems=$(check_attach --slurpfile w "$GP_TMP/watch-attach.json") || fail "jq could not check the watch attach line"
echo "$problems" | grep -v '^CHECKED$'
[ "$(echo "$problems" | tail -n1)" = CHECKED ] || fail "the watch checks did not run to the end"
[ "$(echo "$problems" | wc -l)" -eq 1 ] || fail "$(echo "$problems" | head -n1)"
attached=$(jq '.attached | length' "$GP_TMP/attach.json")
absent=$(jq '.absent | length' "$GP_TMP/attach.json")
command -v bpftool >/dev/null 2>&1 && echo "(bpftool is present in this initramfs but was not used)"
echo "$GP_KVER: $attached latency functions attached, $absent absent with reasons: $(jq -c '[.absent[] | .symbol]' "$GP_TMP/attach.json")"
echo "$nogpu"
