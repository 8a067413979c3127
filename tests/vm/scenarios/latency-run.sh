#!/bin/sh
# gp-cost: 24  (seconds on 6.12 under TCG, for balancing shards)
# `latency` runs and ends cleanly: `interval count` prints exactly
# count reports and exits 0; text and -m output; bad arguments are refused
# with exit 2 before anything is attached. Idle VM without a GPU: every report
# counts zero spans. (Ctrl-C without an interval: latency-attach.)
. /gp/lib.sh
need gpreempt-bpf jq

out=$GP_TMP/run.jsonl
gpreempt-bpf latency --json 1 3 >"$out" 2>"$out.err"
rc=$?
[ $rc -eq 0 ] || { cat "$out.err"; fail "latency --json 1 3 exited $rc: $(last_line "$out.err")"; }
types=$(jq -r .type "$out" | xargs)
[ "$types" = "attach interval interval interval summary" ] || fail "latency --json 1 3 printed [$types]"
[ "$(jq -r 'select(.type == "interval") | .index' "$out" | xargs)" = "1 2 3" ] || fail "interval indexes are not 1 2 3"
jq -c 'select(.type == "interval")' "$out" >"$GP_TMP/intervals.json"
jall "$GP_TMP/intervals.json" '.spans == 0 and .unit == "usecs" and (.histograms | length) == 0' ||
  fail "an idle VM without a GPU reported preemption spans: $(head -c 300 "$GP_TMP/intervals.json")"
tail -n1 "$out" | jtest - '.intervals == 3 and .spans_seen == 0 and .lost == 0' ||
  fail "summary: $(tail -n1 "$out")"
# The reports are about a second apart.
t3=$(jq -r 'select(.type == "interval" and .index == 3) | .t_s' "$out")
awk -v t="$t3" 'BEGIN { exit !(t >= 2.9 && t < 6) }' || fail "third report at ${t3}s, expected about 3 s"

# Text, milliseconds, one report.
txt=$GP_TMP/run.txt
gpreempt-bpf latency -m 1 1 >"$txt" 2>&1
rc=$?
cat "$txt"
[ $rc -eq 0 ] || fail "latency -m 1 1 exited $rc: $(last_line "$txt")"
grep -q '^Tracing in-kernel GPU preemptions on kernel ' "$txt" || fail "no header line"
grep -q '^no preemptions$' "$txt" || fail "no 'no preemptions' report"
grep -q '^0 preemption span(s) seen, 0 matched the filter' "$txt" || fail "no summary line"

# Refusals: exit 2, a message, nothing attached.
expect_refusal() {
  _want=$1
  shift
  gpreempt-bpf latency "$@" >"$GP_TMP/refuse.out" 2>&1
  _rc=$?
  [ $_rc -eq 2 ] || fail "latency $*: exit $_rc, expected 2 ($(last_line "$GP_TMP/refuse.out"))"
  grep -q "$_want" "$GP_TMP/refuse.out" || fail "latency $*: message lacks '$_want': $(last_line "$GP_TMP/refuse.out")"
}
expect_refusal 'not a cause' --cause bogus 1 1
expect_refusal 'count needs an interval' 0 3
expect_refusal 'no such process' -p 999999 1 1
echo "$GP_KVER: latency ran 3 timed reports and a text -m report, all with 0 spans; refusals exit 2"
