#!/bin/sh
# gp-cost: 15  (seconds on 6.12 under TCG, for balancing shards)
# `record -- <workload>` around kfd-client operations: the trace's header,
# events and trailer, and `report --json` over it, match what the clients
# did (KFD process open/exit, failed CREATE/DESTROY/UPDATE with the
# requested values and the error codes the clients saw). The workload is a
# shell running four short-lived kfd-client children, so the process tree is
# tracked through fork events; a kfd-client run by this script outside the
# tree, during the recording, must not appear in the trace. record exits
# with the workload's status. On 7.2 open(/dev/kfd) fails without a GPU:
# then the trace must show no ioctl and no successful KFD process.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

t=$GP_TMP/t.jsonl
pf=$GP_TMP/t.perfetto.json
client=$GP_TMP/client.jsonl
outside=$GP_TMP/outside.jsonl
report=$GP_TMP/report.json
go=$GP_TMP/go
rm -f "$t" "$pf" "$client" "$outside" "$go"

# The workload waits for $go so the outside client runs while we record.
gpreempt-bpf record -o "$t" --perfetto "$pf" -- sh -c "
  while [ ! -e $go ]; do sleep 0.1; done
  kfd-client open-exit >>$client
  kfd-client create-queue --gpu-id 0x1234 --type compute_aql --priority 7 --percent 55 --ring-size 8192 >>$client
  kfd-client destroy-queue --qid 77 >>$client
  kfd-client update-queue --qid 78 --priority 3 --percent 40 --ring-size 2048 >>$client
  exit 5" >"$GP_TMP/record.out" 2>"$GP_TMP/record.err" &
rec=$!
bg_track "$rec"
wait_line "$GP_TMP/record.err" 90 '^Started ' || {
  cat "$GP_TMP/record.err"
  fail "record did not start its workload: $(last_line "$GP_TMP/record.err")"
}
kfd-client open-exit >"$outside"
touch "$go"
wait "$rec"
rc=$?
cat "$GP_TMP/record.err"
cat "$client"
[ "$rc" -eq 5 ] || fail "record exited with $rc, expected the workload's status 5"
[ "$(wc -l <"$client")" -ge 4 ] || fail "the workload's clients printed $(wc -l <"$client") lines, expected at least 4"

# The file: header first, trailer last, counts that add up, nothing lost.
head -n1 "$t" | jtest - '.type == "header" and .format == "gpreempt-bpf-trace" and .version == 3' ||
  fail "first line is not a version-3 header: $(head -c 300 "$t")"
# The KFD version comes from GET_VERSION on /dev/kfd: on 7.2 the open is
# refused without a GPU, so the header says null rather than guess.
if kfd_open_works; then want_v="\"$(expected_kfd_version)\""; else want_v=null; fi
head -n1 "$t" | jtest - '.kfd_version == $v and (.command | length) == 3 and .command[0] == "sh" and (.pids | length) == 1' --argjson v "$want_v" ||
  fail "header: $(head -n1 "$t" | jq -c '{kfd_version, command, pids}')"
tail -n1 "$t" | jtest - '.type == "trailer" and .lost == 0' || fail "last line is not a trailer without loss: $(tail -n1 "$t")"
nev=$(jq -c 'select(.type == "event")' "$t" | wc -l)
tail -n1 "$t" | jtest - '.events == $n' --argjson n "$nev" || fail "trailer says $(tail -n1 "$t" | jq .events) events, the file has $nev"
root=$(head -n1 "$t" | jq '.pids[0]')

# The filter: only the workload's tree (sh and its kfd-client children).
tree=$(jq -s -c --argjson root "$root" '[$root] + [.[].pid] | unique' "$client")
stray=$(jq -c --argjson tree "$tree" 'select(.type == "event" and ((.pid as $p | $tree | index($p)) == null) and ((.acting_pid as $p | $tree | index($p)) == null))' "$t" | head -n3)
[ -z "$stray" ] || fail "events outside the workload's tree $tree: $stray"
opid=$(op_field "$outside" open .pid)
jq -e -s --argjson p "$opid" 'any(.[]; .type == "event" and (.pid == $p or .acting_pid == $p)) | not' "$t" >/dev/null ||
  fail "the outside client (pid $opid) is in the trace"

gpreempt-bpf report --json "$t" >"$report" || fail "report --json failed on the recorded trace"
jtest "$report" '.traces | length == 1 and .[0].truncated == false and .[0].lost == 0' || fail "report: $(jq -c '.traces[0] | {truncated, lost}' "$report")"
jtest "$pf" '(.traceEvents | length) > 0' || fail "the Perfetto export has no traceEvents"
lc() { jq -c --argjson pid "$1" --arg w "$2" '.traces[0].lifecycle[] | select(.pid == $pid and .what == $w)' "$report"; }
echo "lifecycle: $(jq -c '[.traces[0].lifecycle[] | [.what, .pid, .qid]]' "$report")"

if ! kfd_open_works; then
  n=$(jq -r 'select(.op == "open" and .errname == "EINVAL") | .pid' "$client" | wc -l)
  [ "$n" -eq 4 ] || fail "$n of 4 clients saw open(/dev/kfd) = EINVAL on $GP_KVER"
  n=$(jq -c 'select(.type == "event" and (.kind | startswith("ioctl_")))' "$t" | wc -l)
  [ "$n" -eq 0 ] || fail "$n ioctl events although every open() failed"
  ok=$(jq -c 'select(.type == "event" and .kind == "process_create" and .ret == 0)' "$t" | head -n1)
  [ -z "$ok" ] || fail "open() failed, yet the trace has a successful process_create: $ok"
  jtest "$report" '[.traces[0].lifecycle[] | select(.what | endswith("-failed"))] | length == 0' ||
    fail "report shows failed queue ioctls that were never issued"
  echo "7.2: every open(/dev/kfd) = EINVAL; the trace has a clean header and trailer, no ioctl and no KFD process"
  exit 0
fi

# Every client opened /dev/kfd: one process-open and one process-exit each.
for pid in $(jq -r 'select(.op == "open") | .pid' "$client"); do
  [ "$(lc "$pid" process-open | wc -l)" -eq 1 ] || fail "report: $(lc "$pid" process-open | wc -l) process-open for client $pid, expected 1"
  [ "$(lc "$pid" process-exit | wc -l)" -eq 1 ] || fail "report: $(lc "$pid" process-exit | wc -l) process-exit for client $pid, expected 1"
done

cpid=$(op_field "$client" create_queue .pid)
cerr=$(op_field "$client" create_queue .errname)
[ "$cerr" = EINVAL ] || fail "CREATE_QUEUE: $cerr, expected EINVAL (unknown gpu_id)"
lc "$cpid" create-failed | jtest - '.gpu_id == 4660 and (.detail | test("^compute_aql ring 8192 B: -EINVAL$"))' ||
  fail "report create-failed for $cpid: $(lc "$cpid" create-failed)"
jq -c --argjson p "$cpid" 'select(.type == "event" and .kind == "ioctl_create_queue" and .pid == $p)' "$t" |
  jtest - '.ret == -22 and .ioctl.priority == 7 and .ioctl.percent == 55 and .ioctl.ring_size == 8192 and .ioctl.gpu_id == 4660
           and (.ioctl | keys) == ["gpu_id", "percent", "priority", "qid", "queue_type", "ring_addr", "ring_size"]' ||
  fail "trace create event: $(jq -c --argjson p "$cpid" 'select(.kind == "ioctl_create_queue" and .pid == $p) | .ioctl' "$t")"

dpid=$(op_field "$client" destroy_queue .pid)
derr=$(op_field "$client" destroy_queue .errname)
# Format version 2 on: a destroy carries its qid and nothing else.
jq -c --argjson p "$dpid" 'select(.type == "event" and (.kind == "ioctl_destroy_begin" or .kind == "ioctl_destroy_queue") and .pid == $p)' "$t" >"$GP_TMP/destroys.jsonl"
jall "$GP_TMP/destroys.jsonl" '.ioctl == {"qid": 77}' && [ "$(wc -l <"$GP_TMP/destroys.jsonl")" -eq 2 ] ||
  fail "trace destroy events (begin and return): $(jq -c '[.kind, .ioctl]' "$GP_TMP/destroys.jsonl" | xargs)"
lc "$dpid" destroy-failed | jtest - '.qid == 77 and .detail == ("-" + $e)' --arg e "$derr" ||
  fail "report destroy-failed for $dpid ($derr): $(lc "$dpid" destroy-failed)"

upid=$(op_field "$client" update_queue .pid)
uerr=$(op_field "$client" update_queue .errname)
lc "$upid" update-failed | jtest - '.qid == 78 and .detail == ("priority 3 percent 40 ring 2048 B: -" + $e)' --arg e "$uerr" ||
  fail "report update-failed for $upid ($uerr): $(lc "$upid" update-failed)"

jtest "$report" '[.traces[0].lifecycle[] | select(.what == "create")] | length == 0' || fail "report shows a queue created without a GPU"
echo "record -- sh: exit 5 propagated; 4 clients' open/exit and failed create ($cerr), destroy ($derr), update ($uerr) in the report with their values; the outside client filtered out"
