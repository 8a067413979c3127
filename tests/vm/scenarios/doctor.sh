#!/bin/sh
# gp-cost: 7  (seconds on 6.12 under TCG, for balancing shards)
# (a) doctor inside the VM: the real driver's facts (amdgpu BTF, KFD version,
# debug API) and every required probe resolvable, so watch can run.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

out=$(doctor_json)
rc=$?
cat "$out"
jtest "$out" 'type == "object"' || fail "doctor --json did not print one JSON object (exit $rc): $(last_line "${out%.json}.err")"

# expect JQ_BOOL WHAT: fail with the actual value of WHAT unless JQ_BOOL holds.
expect() {
  jtest "$out" "$1" || fail "doctor: expected $1, got $2 = $(jq -c "$2" "$out")"
}
expect '.kernel == "'"$(uname -r)"'"' .kernel
expect '.root == true' .root
expect '.amdgpu_loaded == true' .amdgpu_loaded
expect '.vmlinux_btf == true' .vmlinux_btf
expect '.amdgpu_btf == true' .amdgpu_btf
expect '(.probes | length) > 0' '.probes | length'
expect 'all(.probes[]; .resolution == "exact" or .resolution == "address" or .resolution == "clone" or .resolution == "missing")' '[.probes[].resolution] | unique'
expect '[.probes[] | select(.required and .resolution == "missing")] | length == 0' '[.probes[] | select(.required and .resolution == "missing") | .symbol]'
expect '.can_watch == true' '{can_watch, problems}'
[ "$rc" -eq 0 ] || fail "doctor exited $rc although can_watch is true"

want=$(expected_kfd_version)
major=${want%.*}
minor=${want#*.}
if kfd_open_works; then
  expect ".kfd_version == {\"major\": $major, \"minor\": $minor}" .kfd_version
  # Cross-check with our own GET_VERSION.
  kfd-client version >"$GP_TMP/version.json" || fail "kfd-client version failed: $(cat "$GP_TMP/version.json")"
  mine=$(op_field "$GP_TMP/version.json" version '"\(.major).\(.minor)"')
  [ "$mine" = "$want" ] || fail "GET_VERSION says $mine, expected $want"
  if has_debug_api; then
    expect '.debug_api == true' .debug_api
  else
    expect '.debug_api == false' .debug_api
    expect '.can_preempt == false' '{can_preempt, preempt_problems}'
  fi
else
  # 7.x without a GPU: open(/dev/kfd) fails, so GET_VERSION cannot be asked.
  # doctor must either know the version another way or say why it has none.
  expect "(.kfd_version == {\"major\": $major, \"minor\": $minor}) or (.kfd_version == null and ((.kfd_error // \"\") | length) > 0)" '{kfd_version, kfd_error}'
fi
echo "doctor: kernel $(uname -r), KFD $(jq -c '.kfd_version' "$out"), debug_api $(jq -c .debug_api "$out"), $(jq '.probes | length' "$out") probes, can_watch"
