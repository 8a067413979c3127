#!/bin/sh
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

attached=0
absent=0
for s in $SYMS; do
  # doctor's plan: does the function exist in a form we may probe?
  res=$(jq -r --arg s "$s" '[.probes[] | select(.symbol == $s) | .resolution] | first // "unlisted"' "$doctor")
  [ "$res" = unlisted ] && fail "doctor does not list the latency probe $s"
  if jtest "$GP_TMP/attach.json" '.attached | index($s) != null' --arg s "$s"; then
    [ "$res" != missing ] || fail "$s is attached, but doctor says it is missing"
    attached=$((attached + 1))
  elif jtest "$GP_TMP/attach.json" 'any(.absent[]; .symbol == $s and (.reason | length) > 0)' --arg s "$s"; then
    # Absent is fine only when the function is not there (or only as a clone,
    # which doctor also reports as missing): a resolvable function must attach.
    [ "$res" = missing ] || fail "$s resolves ($res) but did not attach: $(jq -r --arg s "$s" '.absent[] | select(.symbol == $s) | .reason' "$GP_TMP/attach.json")"
    absent=$((absent + 1))
  else
    fail "$s is neither attached nor reported absent with a reason"
  fi
done

# The HWS span exists on every kernel this project supports (6.1's has no grace argument).
jtest "$GP_TMP/attach.json" '.hws_spans == true' || fail "HWS spans are off: $(jq -c '.absent' "$GP_TMP/attach.json")"
for s in unmap_queues_cpsch pm_send_unmap_queue amdkfd_fence_wait_timeout map_queues_cpsch create_queue_cpsch destroy_queue_cpsch; do
  jtest "$GP_TMP/attach.json" '.attached | index($s) != null' --arg s "$s" || fail "$s is not attached on $GP_KVER"
done
jtest "$GP_TMP/attach.json" '(.warnings | length) == 0' || fail "phase warnings: $(jq -c .warnings "$GP_TMP/attach.json")"
# Debug-API causes: only where the debug API exists.
for s in suspend_queues resume_queues debug_refresh_runlist; do
  if has_debug_api; then
    jtest "$GP_TMP/attach.json" '.attached | index($s) != null' --arg s "$s" || fail "$s exists on $GP_KVER but is not attached"
  else
    jtest "$GP_TMP/attach.json" 'any(.absent[]; .symbol == $s)' --arg s "$s" || fail "$s cannot exist on 6.1 but is not reported absent"
  fi
done

# watch reports the same: attached ones in .attached, absent ones in .missing_optional.
watch_start
head -n1 "$WATCH_OUT" >"$GP_TMP/watch-attach.json"
watch_stop
for s in $SYMS; do
  if jtest "$GP_TMP/attach.json" '.attached | index($s) != null' --arg s "$s"; then
    jtest "$GP_TMP/watch-attach.json" '.attached | index($s) != null' --arg s "$s" || fail "watch did not attach $s, latency did"
  else
    jtest "$GP_TMP/watch-attach.json" 'any(.missing_optional[]; .symbol == $s and (.reason | length) > 0)' --arg s "$s" ||
      fail "watch does not list absent $s in missing_optional with a reason"
  fi
done
command -v bpftool >/dev/null 2>&1 && echo "(bpftool is present in this initramfs but was not used)"
echo "$GP_KVER: $attached latency functions attached, $absent absent with reasons: $(jq -c '[.absent[] | .symbol]' "$GP_TMP/attach.json")"
