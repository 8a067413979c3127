#!/bin/sh
# (b) watch --json loads and attaches every required program, names the
# absent optional ones (6.1 has no debug functions) and shows the lost count.
. /gp/lib.sh
need gpreempt-bpf jq

doctor=$(doctor_json)
jtest "$doctor" '(.probes | length) > 0' || fail "doctor --json gave no probe list: $(head -c 300 "$doctor")"

watch_start
attach=$GP_TMP/attach.json
head -n1 "$WATCH_OUT" >"$attach"
cat "$attach"

# Every probe doctor calls required is attached.
missing=$(jq -r --slurpfile a "$attach" '.probes[] | select(.required) | .symbol | select(. as $s | ($a[0].attached | index($s)) == null)' "$doctor" | sort -u | xargs)
[ -z "$missing" ] || fail "required probes not attached: $missing"

# The exact-map core (design.md) on every kernel.
for s in kfd_ioctl_create_queue kfd_ioctl_destroy_queue kfd_ioctl_update_queue kfd_procfs_add_queue uninit_queue pqm_uninit; do
  jtest "$attach" '.attached | index($s) != null' --arg s "$s" || fail "$s is not attached"
done
jtest "$attach" '.kernel == "'"$(uname -r)"'"' || fail "attach line names kernel $(jq -c .kernel "$attach"), not $(uname -r)"
jtest "$attach" 'all(.missing_optional[]; (.symbol | length) > 0 and (.reason | length) > 0)' ||
  fail "a missing optional probe without a symbol or a reason: $(jq -c .missing_optional "$attach")"

# Debug-API functions: absent on 6.1 and reported as such, attached elsewhere.
for s in kfd_ioctl_set_debug_trap suspend_queues resume_queues; do
  if has_debug_api; then
    jtest "$attach" '.attached | index($s) != null' --arg s "$s" || fail "$s exists on $GP_KVER but is not attached"
  else
    jtest "$attach" '(.attached | index($s)) == null and any(.missing_optional[]; .symbol == $s)' --arg s "$s" ||
      fail "$s does not exist on $GP_KVER: it must be listed in missing_optional, not attached"
  fi
done

jany "$WATCH_OUT" '.type == "stats" and (.lost | type) == "number"' || fail "no stats line with a lost count"
watch_stop
[ "$(summary_field .lost)" = 0 ] || fail "summary reports $(summary_field .lost) lost events on an idle system"
echo "watch attached $(jq '.attached | length' "$attach") probes; missing optional: $(jq -c '[.missing_optional[].symbol]' "$attach"); lost 0"
