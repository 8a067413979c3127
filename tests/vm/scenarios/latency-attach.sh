#!/bin/sh
# gp-cost: 29  (seconds on 6.12 under TCG, for balancing shards)
# Issue 5: every preemption-span program (T0..T4, remap, MES, cause stack)
# attaches where doctor finds its function, and is otherwise reported absent
# with a reason, by `latency`, `watch` and `doctor` alike. No bpftool: the
# answers come from gpreempt-bpf itself.
. /gp/lib.sh
need gpreempt-bpf jq

# The latency probe set of controller/probes.cpp (kLatency), by symbol.
SYMS="unmap_queues_cpsch pm_send_unmap_queue amdkfd_fence_wait_timeout map_queues_cpsch
mes_v11_0_remove_hw_queue mes_v12_0_remove_hw_queue mes_v11_0_add_hw_queue mes_v12_0_add_hw_queue
create_queue_cpsch destroy_queue_cpsch update_queue evict_process_queues_cpsch kfd_process_evict_queues
restore_process_queues_cpsch process_termination_cpsch suspend_queues resume_queues debug_refresh_runlist
halt_cpsch unhalt_cpsch stop_cpsch start_cpsch"

doctor=$(doctor_json)
jtest "$doctor" '(.probes | length) > 0' || fail "doctor --json gave no probe list: $(head -c 300 "$doctor")"

out=$GP_TMP/latency.jsonl
gpreempt-bpf latency --json 1 1 >"$out" 2>"$out.err"
rc=$?
[ $rc -eq 0 ] || { cat "$out.err"; fail "latency --json 1 1 exited $rc: $(last_line "$out.err")"; }
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
  jq -r -n --slurpfile d "$doctor" --slurpfile a "$GP_TMP/attach.json" --arg syms "$SYMS" --argjson dbg "$dbg" "$@" '
    ($d[0]) as $doc | ($a[0]) as $lat
    | ($syms | split("\\s+"; null) | map(select(length > 0))) as $syms
    | def res($s): ([$doc.probes[] | select(.symbol == $s) | .resolution] | first // "unlisted");
      def attached($x; $s): ($x.attached | index($s)) != null;
    (
      ($syms[] as $s | res($s) as $r
        | if $r == "unlisted" then "doctor does not list the latency probe \($s)"
          elif attached($lat; $s) then (select($r == "missing") | "\($s) is attached, but doctor says it is missing")
          elif any($lat.absent[]; .symbol == $s and (.reason | length) > 0) then
            (select($r != "missing") | "\($s) resolves (\($r)) but did not attach")
          else "\($s) is neither attached nor reported absent with a reason" end),
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
