#!/bin/sh
# Benchmark (scripts/bench.sh runs it; not a test): what gpreempt-bpf's
# probes cost a KFD ioctl, against an empty kprobe on the same function,
# both measured in this one boot. A burst of CREATE_QUEUE ioctls (they fail
# at the gpu_id lookup without a GPU, after entering kfd_ioctl_create_queue,
# which gpreempt-bpf probes on entry and return) runs in rounds:
#   none         no program attached
#   empty        an empty kprobe + kretprobe on kfd_ioctl_create_queue
#   empty_fexit  an empty fexit program on it (the trampoline's floor)
#   event_fexit  a fexit that only emits one zeroed event-sized record, with a
#                consumer blocked on the ring buffer (the floor of any event)
#   event_nowake the same with BPF_RB_NO_WAKEUP (the consumer's wake-up share)
#   watch        `gpreempt-bpf watch` (every program of the tool; fexit where
#                it can, as users run it)
#   watch_kprobe `gpreempt-bpf watch --kprobe-only` (the kprobe+kretprobe+stash
#                fallback, for the before/after comparison in the same boot)
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

# empty_round NAME MODE: round NAME with `probe-cost MODE $FUNC` attached.
empty_round() {
  probe-cost "$2" "$FUNC" >"$GP_TMP/empty.out" 2>&1 &
  EMPTY=$!
  bg_track "$EMPTY"
  wait_line "$GP_TMP/empty.out" 30 attached || fail "probe-cost $2 did not attach: $(cat "$GP_TMP/empty.out")"
  echo "GP-BENCH $(round "$1")"
  kill -INT "$EMPTY"
  wait "$EMPTY"
}

# watch_round NAME [WATCH ARGS]: start-up line and round NAME with watch attached.
watch_round() {
  _name=$1
  shift
  watch_start "$@"
  echo "GP-BENCH $(head -n1 "$WATCH_OUT" | jq -c --arg kernel "$GP_KVER" --arg round "startup_$_name" '{kernel: $kernel, round: $round, startup_ms, mechanisms: .mechanisms.lifecycle}')"
  echo "GP-BENCH $(round "$_name")"
  watch_stop
}

for i in 1 2 3; do
  echo "GP-BENCH $(round none)"
  empty_round empty empty
  empty_round empty_fexit empty-fexit
  empty_round event_fexit event-fexit
  empty_round event_nowake event-fexit-nowake
  watch_round watch
  watch_round watch_kprobe --kprobe-only
done
