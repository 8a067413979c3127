#!/bin/sh
# gp-cost: 20  (seconds on 6.12 under TCG, for balancing shards)
# gp-needs: rocr
# Debian's REAL ROCm runtimes (ROCr 5.2.3, 6.1.2, 6.4.3, 7.2.4: scripts/vm/fetch-rocr.sh)
# on the real KFD of a CPU-only machine: hsa-probe runs hsa_init, iterates the
# agents and calls hsa_shut_down under each one's own loader and libc, while
# `watch --ioctls` runs and the kernel's syscall trace events record every
# ioctl(2) independently. Checked per runtime:
#  - the KFD ioctls watch shows for the process (caller pid and thread,
#    request, argument pointer, result) are exactly those the syscall trace
#    recorded, one for one;
#  - they are the calls recorded for that ROCr version on this kernel
#    (ROCR_CALLS below, written down in docs/rocm-runtime.md), with the values
#    that matter (KFD version, RUNTIME_ENABLE's mode);
#  - one process_create / process_release / process_free for the pid;
#  - 7.2, where /dev/kfd refuses to open without a GPU node: hsa_init fails,
#    the kernel logged the refusal, and there is no KFD ioctl and no KFD
#    process for the pid.
. /gp/lib.sh
need gpreempt-bpf hsa-probe jq

T=/sys/kernel/tracing
[ -d $T/events/syscalls/sys_enter_ioctl ] || fail "no syscall trace events on $GP_KVER (CONFIG_FTRACE_SYSCALLS): nothing independent to compare watch with"
labels=$(rocr_labels)
minor=$(expected_kfd_version | cut -d. -f2)

# What each ROCr version called on this kernel's CPU-only KFD, in order: one
# word per call, NAME (nr_0xNN for a number KFD has no name for), "=ERRNO" if
# it failed, "@" first if another thread than hsa_init's made it. Recorded in
# this tier; docs/rocm-runtime.md explains each.
rocr_calls() {
  case "$1 $GP_KVER" in
    "5.2.3 6.1" | "5.2.3 6.12")
      echo "GET_VERSION GET_PROCESS_APERTURES_NEW nr_0x82=ENOTTY SET_XNACK_MODE=EPERM GET_CLOCK_COUNTERS nr_0x82=ENOTTY" ;;
    "6.1.2 6.1") echo "GET_VERSION GET_PROCESS_APERTURES_NEW SET_XNACK_MODE=EPERM" ;;
    "6.1.2 6.12") echo "GET_VERSION GET_PROCESS_APERTURES_NEW SET_XNACK_MODE=EPERM RUNTIME_ENABLE RUNTIME_ENABLE" ;;
    "6.4.3 6.1") echo "GET_VERSION GET_PROCESS_APERTURES_NEW SET_XNACK_MODE=EPERM GET_PROCESS_APERTURES_NEW" ;;
    "6.4.3 6.12")
      echo "GET_VERSION GET_PROCESS_APERTURES_NEW RUNTIME_ENABLE SET_XNACK_MODE=EPERM GET_PROCESS_APERTURES_NEW RUNTIME_ENABLE" ;;
    "7.2.4 6.1")
      echo "GET_VERSION GET_PROCESS_APERTURES_NEW SET_XNACK_MODE=EPERM GET_PROCESS_APERTURES_NEW CREATE_EVENT CREATE_EVENT" \
        "SET_EVENT @WAIT_EVENTS @SET_EVENT SET_EVENT @WAIT_EVENTS DESTROY_EVENT DESTROY_EVENT" ;;
    "7.2.4 6.12")
      echo "GET_VERSION GET_PROCESS_APERTURES_NEW RUNTIME_ENABLE SET_XNACK_MODE=EPERM GET_PROCESS_APERTURES_NEW CREATE_EVENT" \
        "CREATE_EVENT SET_EVENT @WAIT_EVENTS @SET_EVENT SET_EVENT @WAIT_EVENTS DESTROY_EVENT DESTROY_EVENT RUNTIME_ENABLE" ;;
    *) echo "(none recorded for ROCr $1 on $GP_KVER: run this scenario, check the calls and add them here and to docs/rocm-runtime.md)" ;;
  esac
}
# The values RUNTIME_ENABLE must carry, in order (mode_mask, r_debug set?).
rocr_runtime_enable() {
  case "$1 $GP_KVER" in
    "6.1.2 6.12" | "6.4.3 6.12" | "7.2.4 6.12") echo "0x1:set 0x0:null" ;;
    *) echo "" ;;
  esac
}

watch_start --ioctls
echo 0 >$T/tracing_on
: >$T/trace
echo 1 >$T/options/record-tgid
echo 1 >$T/events/syscalls/sys_enter_ioctl/enable
echo 1 >$T/events/syscalls/sys_exit_ioctl/enable
echo 1 >$T/tracing_on
for L in $labels; do
  before=$(dmesg | grep -c 'no gpu node')
  /gp/rocr/$L/run /usr/bin/hsa-probe >"$GP_TMP/$L.jsonl" 2>"$GP_TMP/$L.err"
  echo $? >"$GP_TMP/$L.rc"
  echo $(($(dmesg | grep -c 'no gpu node') - before)) >"$GP_TMP/$L.refusals"
  echo "[$(since)s] ROCr $(rocr_version "$L") ($L): $(probe_step "$GP_TMP/$L.jsonl" hsa_init | cut -c1-90), exit $(cat "$GP_TMP/$L.rc")"
done
echo 0 >$T/tracing_on
echo 0 >$T/events/syscalls/sys_enter_ioctl/enable
echo 0 >$T/events/syscalls/sys_exit_ioctl/enable
cp $T/trace "$GP_TMP/trace.txt"
: >$T/trace
if kfd_open_works; then
  # process_free comes from a kworker after the last reference drops.
  # (grep only: a jq start costs ~0.5 s under TCG)
  for L in $labels; do
    pid=$(sed -n 's/.*"step":"start","pid":\([0-9]*\).*/\1/p' "$GP_TMP/$L.jsonl")
    i=0
    until _event_lines process_free "$pid" >/dev/null; do
      [ $i -lt 150 ] || { watch_stop; fail "ROCr $(rocr_version "$L"): no process_free for pid $pid within 15 s"; }
      sleep 0.1
      i=$((i + 1))
    done
  done
fi
watch_stop

# The syscall trace, one line per KFD ioctl ('K' requests):
# "TGID TID CMD ARG RET" (hex as the trace prints them, RET signed decimal).
awk '
  function hexval(s,   i, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v }
  function who(line,   p, head, n, parts) {
    p = index(line, "("); head = substr(line, 1, p - 1); sub(/[ \t]+$/, "", head)
    n = split(head, parts, "-"); TID = parts[n]
    TGID = substr(line, p + 1); sub(/\).*/, "", TGID); gsub(/ /, "", TGID) }
  /: sys_ioctl\(/ {
    who($0); a = $0; sub(/.*sys_ioctl\(/, "", a); sub(/\).*/, "", a)
    split(a, f, ", "); sub(/^cmd: /, "", f[2]); sub(/^arg: /, "", f[3])
    pend[TID] = TGID " " TID " " f[2] " " f[3]; next }
  / sys_ioctl -> / {
    who($0); r = $0; sub(/.* -> /, "", r)
    if (!(TID in pend)) next
    split(pend[TID], g, " "); delete pend[TID]
    if (substr(g[3], length(g[3]) - 3, 2) != "4b") next
    v = hexval(r); if (length(r) > 10) v = hexval(substr(r, length(r) - 7)) - 4294967296
    print g[1], g[2], g[3], g[4], v }
' "$GP_TMP/trace.txt" >"$GP_TMP/trace.ioctls"

# Everything watch saw for the probes' pids, in one jq run (a jq start costs
# ~0.5 s under TCG): per label, the ioctls as "WATCH label tgid tid cmd arg
# ret", the call words, the decoded values, the process events.
pids="{}"
for L in $labels; do
  pid=$(sed -n 's/.*"step":"start","pid":\([0-9]*\).*/\1/p' "$GP_TMP/$L.jsonl")
  [ -n "$pid" ] || fail "ROCr $(rocr_version "$L"): hsa-probe printed nothing: $(cat "$GP_TMP/$L.err")"
  grep -q '"step":"dlopen","ok":true' "$GP_TMP/$L.jsonl" || fail "ROCr $(rocr_version "$L"): dlopen failed: $(probe_step "$GP_TMP/$L.jsonl" dlopen)"
  pids=$(echo "$pids" | sed "s/}\$/,\"$L\":$pid}/; s/{,/{/")
done
jq -rn --slurpfile w "$WATCH_OUT" --argjson pids "$pids" '
  def hex: if . < 16 then "0123456789abcdef"[.:.+1] else (. / 16 | floor | hex) + ("0123456789abcdef"[. % 16:. % 16 + 1]) end;
  def err: {"-1": "EPERM", "-2": "ENOENT", "-3": "ESRCH", "-13": "EACCES", "-14": "EFAULT", "-16": "EBUSY",
            "-19": "ENODEV", "-22": "EINVAL", "-25": "ENOTTY", "-95": "EOPNOTSUPP"}[tostring] // tostring;
  $pids | to_entries[] | .key as $l | .value as $p
  | [$w[] | select(.type == "event" and .pid == $p)] | sort_by(.ts_ns) as $ev
  | [$ev[] | select(.kind == "kfd_ioctl")] as $io
  | ($io[] | "WATCH \($l) \(.pid) \(.tid) \(.kfd_ioctl.cmd | ltrimstr("0x")) \(.kfd_ioctl.arg | ltrimstr("0x")) \(.ret)"),
    "CALLS \($l) " + ($io | map((if .tid != $p then "@" else "" end) +
      (.kfd_ioctl.name // ("nr_0x" + (.kfd_ioctl.nr | hex))) + (if .ret != 0 then "=" + (.ret | err) else "" end)) | join(" ")),
    "VALUES \($l) " + ($io | map(select(.kfd_ioctl.args != null) |
      "\(.kfd_ioctl.name)(\(.kfd_ioctl.args | to_entries | map("\(.key)=\(.value)") | join(",")))=\(.ret)") | join(" ")),
    "MINOR \($l) " + ([$io[] | select(.kfd_ioctl.name == "GET_VERSION") | .kfd_ioctl.args.minor_version | tostring] | join(",")),
    "RTEN \($l) " + ([$io[] | select(.kfd_ioctl.name == "RUNTIME_ENABLE") |
      "\(.kfd_ioctl.args.mode_mask):\(if .kfd_ioctl.args.r_debug == "0x0" then "null" else "set" end)"] | join(" ")),
    "PROC \($l) " + ([("process_create", "process_release", "process_free") as $k | [$ev[] | select(.kind == $k)] | length | tostring] | join(" ")) +
      " " + ([$ev[] | select(.kind == "process_create" and .ret == 0 and .comm == "hsa-probe")] | length | tostring) +
      " " + ([$ev[] | select(.kind == "process_create" and .ret != 0) | .ret | tostring] | join(",") | if . == "" then "-" else . end)
' >"$GP_TMP/watch.facts" || fail "jq could not read the watch output"

problems=""
refusals=0
add_problem() { problems="$problems
$*"; }
fact() { sed -n "s/^$1 $2 //p" "$GP_TMP/watch.facts"; }
for L in $labels; do
  v=$(rocr_version "$L")
  pid=$(sed -n 's/.*"step":"start","pid":\([0-9]*\).*/\1/p' "$GP_TMP/$L.jsonl")
  init=$(sed -n 's/.*"step":"hsa_init".*"status_name":"\([A-Z_]*\)".*/\1/p' "$GP_TMP/$L.jsonl")
  awk -v p="$pid" '$1 == p { print $1, $2, $3, $4, $5 }' "$GP_TMP/trace.ioctls" | sort >"$GP_TMP/$L.kernel"
  fact WATCH "$L" | sort >"$GP_TMP/$L.watch"
  calls=$(fact CALLS "$L")
  echo "ROCr $v on $GP_KVER, pid $pid: hsa_init $init;" \
    "agents: $(grep -F '"step":"agent"' "$GP_TMP/$L.jsonl" | sed 's/.*"name":"\([^"]*\)".*"device":"\([A-Z]*\)".*/\2 \1/' | paste -sd, -)"
  echo "  calls: ${calls:-none}"
  echo "  values: $(fact VALUES "$L")"
  echo "  kfd fds before/after hsa_shut_down: $(grep -F '"step":"kfd_fds"' "$GP_TMP/$L.jsonl" | sed 's/.*"fds":\(\[[^]]*\]\).*/\1/' | paste -sd' ' -)"

  if ! cmp -s "$GP_TMP/$L.kernel" "$GP_TMP/$L.watch"; then
    echo "  syscall trace (tgid tid cmd arg ret):"; sed 's/^/    /' "$GP_TMP/$L.kernel"
    echo "  watch:"; sed 's/^/    /' "$GP_TMP/$L.watch"
    add_problem "ROCr $v: watch's kfd_ioctl events differ from the kernel's syscall trace for pid $pid"
  fi
  n=$(wc -l <"$GP_TMP/$L.kernel")
  set -- $(fact PROC "$L")
  if ! kfd_open_works; then
    [ "$init" != HSA_STATUS_SUCCESS ] || add_problem "ROCr $v: hsa_init succeeded on $GP_KVER without /dev/kfd"
    [ "$n" -eq 0 ] || add_problem "ROCr $v: $n KFD ioctls on $GP_KVER, where /dev/kfd cannot be opened"
    # The refused open: kfd_create_process returned -EINVAL to it, once.
    [ "$4 $5" = "0 -22" ] ||
      add_problem "ROCr $v: KFD process creation for pid $pid: $4 succeeded, failed with '$5'; expected one failure, -22 (EINVAL)"
    refusals=$((refusals + $(cat "$GP_TMP/$L.refusals")))
    continue
  fi
  [ "$init" = HSA_STATUS_SUCCESS ] || add_problem "ROCr $v: hsa_init $init on $GP_KVER"
  [ "$n" -gt 0 ] || add_problem "ROCr $v: no KFD ioctl at all in the syscall trace for pid $pid"
  [ "$1 $2 $3 $4" = "1 1 1 1" ] ||
    add_problem "ROCr $v: process_create/release/free for pid $pid: $1/$2/$3 events ($4 successful creates by hsa-probe), expected one each"
  minors=$(fact MINOR "$L")
  [ "$minors" = "$minor" ] || add_problem "ROCr $v: GET_VERSION answered minor_version '$minors', expected $minor"
  want=$(rocr_calls "$v")
  [ "$calls" = "$want" ] || add_problem "ROCr $v on $GP_KVER: calls '$calls', recorded: '$want'"
  [ "$(fact RTEN "$L")" = "$(rocr_runtime_enable "$v")" ] ||
    add_problem "ROCr $v: RUNTIME_ENABLE mode/r_debug '$(fact RTEN "$L")', expected '$(rocr_runtime_enable "$v")'"
done
if ! kfd_open_works; then
  [ "$refusals" -ge 1 ] || add_problem "the kernel logged no 'no gpu node' while the runtimes opened /dev/kfd"
  echo "kernel log: $refusals 'no gpu node! Cannot create KFD process' line(s) during the four runs"
fi
problems=$(echo "$problems" | sed '/^$/d')
[ -z "$problems" ] || { echo "$problems"; fail "$(echo "$problems" | head -n1) ($(echo "$problems" | wc -l) problem(s))"; }
echo "every real runtime's KFD calls seen by watch, one for one with the kernel's syscall trace, as recorded for $GP_KVER"
