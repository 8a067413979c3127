#!/bin/sh
# Benchmark (scripts/bench.sh runs it; not a test): what gpreempt-bpf's
# probes cost a KFD ioctl, against an empty kprobe on the same function,
# both measured in this one boot. A burst of CREATE_QUEUE ioctls (they fail
# at the gpu_id lookup without a GPU, after entering kfd_ioctl_create_queue,
# which gpreempt-bpf probes on entry and return) runs in rounds:
#   none   no program attached
#   empty  an empty kprobe + kretprobe on kfd_ioctl_create_queue
#   watch  `gpreempt-bpf watch` (every program of the tool)
# For each round: ns per ioctl (the loop), and for the programs that ran,
# run_time_ns / run_cnt from kernel.bpf_stats_enabled.
# Prints one "GP-BENCH {json}" line per round and a summary line.
. /gp/lib.sh
need gpreempt-bpf kfd-client probe-cost jq
kfd_open_works || { echo "GP-BENCH {\"kernel\":\"$GP_KVER\",\"skipped\":\"open(/dev/kfd) fails without a GPU on this kernel\"}"; exit 0; }
N=${GP_BENCH_IOCTLS:-20000}
FUNC=kfd_ioctl_create_queue
echo 1 >/proc/sys/kernel/bpf_stats_enabled || fail "cannot enable kernel.bpf_stats_enabled"

# round NAME: the loop between two stats snapshots; prints the GP-BENCH line.
round() {
  probe-cost stats >"$GP_TMP/before" || fail "probe-cost stats failed"
  kfd-client burst "$N" --op create >"$GP_TMP/burst" || fail "kfd-client burst failed"
  probe-cost stats >"$GP_TMP/after" || fail "probe-cost stats failed"
  jq -c -s --arg round "$1" --arg kernel "$GP_KVER" --argjson n "$N" \
    --slurpfile before "$GP_TMP/before" --slurpfile after "$GP_TMP/after" '
    (map(select(.op == "burst"))[0]) as $b
    | ([$before[] | {key: (.id | tostring), value: .}] | from_entries) as $pre
    | [$after[] | . as $a | ($pre[.id | tostring] // {run_cnt: 0, run_time_ns: 0}) as $p
        | {name, runs: ($a.run_cnt - $p.run_cnt), ns: ($a.run_time_ns - $p.run_time_ns)}
        | select(.runs > 0) | . + {ns_per_run: (.ns / .runs | floor)}] as $progs
    | {kernel: $kernel, round: $round, ioctls: $n,
       ns_per_ioctl: ($b.usec * 1000 / $n | floor), progs: $progs}' "$GP_TMP/burst"
}

for i in 1 2 3; do
  echo "GP-BENCH $(round none)"
  probe-cost empty "$FUNC" >"$GP_TMP/empty.out" 2>&1 &
  EMPTY=$!
  bg_track "$EMPTY"
  wait_line "$GP_TMP/empty.out" 30 attached || fail "the empty kprobe did not attach: $(cat "$GP_TMP/empty.out")"
  echo "GP-BENCH $(round empty)"
  kill -INT "$EMPTY"
  wait "$EMPTY"
  watch_start
  echo "GP-BENCH $(head -n1 "$WATCH_OUT" | jq -c --arg kernel "$GP_KVER" '{kernel: $kernel, round: "startup", startup_ms}')"
  echo "GP-BENCH $(round watch)"
  watch_stop
done
