#!/bin/sh
# gp-cost: 13  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# preempt --serve on a real KFD process (6.12): claims from several holders
# nest through `gpreempt-bpf ctl`, status reports them, the last release
# resumes, SIGTERM ends the server cleanly (socket removed, target untraced).
# A second server with a made-up --extra-qid drives the real SUSPEND/RESUME:
# KFD answers INVALID, so the claim is refused and undone, and ctl says why.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here; preempt-refusals covers this kernel"
  exit 0
fi

sock=$GP_TMP/preempt.sock
out=$GP_TMP/serve.out
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }
ctl() { gpreempt-bpf ctl "$@" --socket "$sock"; }
serve_start() {
  gpreempt-bpf preempt --offline-pid "$tpid" --serve --socket "$sock" "$@" >"$out" 2>&1 &
  spid=$!
  bg_track $spid
  wait_line "$out" 90 '^Serving on' || { cat "$out"; fail "preempt --serve did not start: $(last_line "$out")"; }
}
serve_stop() {
  kill -TERM "$spid"
  wait "$spid"
  _rc=$?
  cat "$out"
  [ $_rc -eq 0 ] || fail "preempt --serve exited $_rc after SIGTERM: $(last_line "$out")"
  [ ! -e "$sock" ] || fail "the control socket was left behind"
  [ "$(tracer_of "$tpid")" = 0 ] || fail "target still traced after the server exited"
}

kfd-client runtime-target >"$GP_TMP/target.jsonl" &
tpid=$!
bg_track $tpid
wait_line "$GP_TMP/target.jsonl" 20 '"op":"ready"' || fail "runtime-target did not start"

serve_start
r=$(ctl suspend --holder web) || fail "ctl suspend web: $r"
echo "$r" | grep -q '^suspended claims=1 ' || fail "first claim: '$r'"
r=$(ctl suspend --holder batch) || fail "ctl suspend batch: $r"
[ "$r" = "held claims=2" ] || fail "second claim: '$r'"
ctl status >"$GP_TMP/status" || fail "ctl status failed"
cat "$GP_TMP/status"
grep -qE '^state +suspended$' "$GP_TMP/status" || fail "status does not say suspended"
grep -qE '^holders +batch:1,web:1$' "$GP_TMP/status" || fail "status does not list both holders"
r=$(ctl resume --holder web) || fail "ctl resume web: $r"
[ "$r" = "held claims=1" ] || fail "releasing one of two claims: '$r'"
if r=$(ctl resume --holder web 2>&1); then fail "a second release by web succeeded: $r"; fi
echo "$r" | grep -q "web holds no claim" || fail "unexpected refusal: $r"
r=$(ctl resume --holder batch) || fail "ctl resume batch: $r"
echo "$r" | grep -q '^resumed claims=0 ' || fail "last release: '$r'"
grep -qE '^claims_total +2$' "$GP_TMP/status" || fail "status claims_total"
serve_stop
grep -q '2 claim(s), 2 release(s), 0 expired; 1 suspend(s), 1 resume(s), 0 failed' "$out" || fail "summary counters wrong"

serve_start --extra-qid 5
if r=$(ctl suspend --holder web 2>&1); then fail "a claim on a made-up qid succeeded: $r"; fi
echo "$r"
echo "$r" | grep -q 'suspend failed: pid [0-9]*: qid 5 invalid' || fail "ctl does not say why: $r"
ctl status >"$GP_TMP/status" || fail "ctl status failed"
grep -qE '^state +running$' "$GP_TMP/status" || fail "a refused claim left the state suspended"
grep -qE '^failed +1$' "$GP_TMP/status" || fail "the failed claim is not counted"
grep -qE '^suspends +1$' "$GP_TMP/status" || fail "the SUSPEND ioctl is not counted"
serve_stop
kill -0 "$tpid" || fail "the target died"
echo "serve: nested claims, status, release order and a KFD refusal reported through ctl"
