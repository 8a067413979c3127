#!/bin/sh
# gp-cost: 45  (seconds on 6.12 under TCG, for balancing shards)
# gp-shim: yes  (also in the 7.x+shim VM, test-only kfd_open_shim loaded)
# SIGKILL of the controller inside the runtime handshake (6.12), and what the
# target does then. The kernel (docs/kfd-internals.md §2): the target's
# RUNTIME_ENABLE, with a debugger attached, raises EC_PROCESS_RUNTIME (one byte
# on the debugger's pipe) and sleeps in down_interruptible(runtime_enable_sema);
# only the debugger's SEND_RUNTIME_EVENT up()s it. preempt answers that byte
# before any other work, but a controller killed before it answers never does,
# and the kernel's debugger-death path (kfd_dbg_trap_disable) does not up().
#  1. preempt attached (--wait-runtime) before the target's RUNTIME_ENABLE, then
#     frozen with SIGSTOP so the window stays open; the target enters
#     RUNTIME_ENABLE and blocks; preempt is SIGKILLed there.
#  2. The kernel detached ptrace and disabled the debug session, and the target
#     is still blocked: what remains of the window (docs/preempt.md).
#  3. The remedy: SIGSTOP then SIGCONT to the target. down_interruptible returns
#     -EINTR, the ioctl returns EINTR, the target retries it (as libhsakmt's
#     kmtIoctl does), and the retry, debugging now off, returns 0. The target
#     runs on: a new debugger can ENABLE it and its RUNTIME_DISABLE returns.
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

if ! has_debug_api || ! kfd_open_works; then
  echo "$GP_KVER: no debug session possible here; preempt-refusals covers this kernel"
  exit 0
fi

out=$GP_TMP/preempt.out
target=$GP_TMP/target.jsonl
go=$GP_TMP/go
rm -f "$go"
tracer_of() { awk '/^TracerPid:/ {print $2}' "/proc/$1/status"; }
enabled() { grep -q '"op":"runtime_enable",' "$target"; }

kfd-client 2>&1 | grep -q -- '--enable-after-file' ||
  fail "kfd-client runtime-target has no --enable-after-file (RUNTIME_ENABLE when a file appears): needed to time the handshake"
kfd-client runtime-target --enable-after-file "$go" >"$target" &
tpid=$!
bg_track $tpid
wait_line "$target" 20 '"op":"wait_file"' || fail "runtime-target did not start: $(cat "$target")"

# 1. preempt seizes and ENABLEs the target, then waits for its runtime.
gpreempt-bpf preempt --offline-pid "$tpid" --wait-runtime 300 --cycles 1 --hold-ms 10 >"$out" 2>&1 &
spid=$!
bg_track $spid
wait_line "$out" 90 '^Attached' || { cat "$out"; fail "preempt did not attach its probes: $(last_line "$out")"; }
echo "[$(since)s] preempt attached its probes"
i=0
while [ "$(tracer_of "$tpid")" = 0 ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
[ "$(tracer_of "$tpid")" != 0 ] || { cat "$out"; fail "preempt did not ptrace-attach the target"; }
sleep 3  # ENABLE follows PTRACE_SEIZE at once; this is margin under TCG
kill -STOP "$spid"
touch "$go"
wait_line "$target" 10 '"op":"runtime_enable_begin"' || fail "the target did not reach RUNTIME_ENABLE"
sleep 2
enabled && { cat "$target"; fail "RUNTIME_ENABLE returned with the debugger frozen: ENABLE had not happened (the test timed it wrong)"; }
echo "[$(since)s] the target is blocked in RUNTIME_ENABLE (wchan $(cat /proc/$tpid/wchan 2>/dev/null)); SIGKILL to preempt"
kill -KILL "$spid"
wait "$spid" 2>/dev/null
cat "$out"
grep -q 'answered the runtime handshake' "$out" && fail "preempt answered the handshake although it was frozen"

# 2. The kernel cleaned up after the dead debugger, but the target stays blocked.
i=0
while [ "$(tracer_of "$tpid")" != 0 ] && [ $i -lt 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
[ "$(tracer_of "$tpid")" = 0 ] || fail "the target is still traced after its tracer was SIGKILLed"
sleep 3
kill -0 "$tpid" || fail "the target died with its debugger"
enabled && { cat "$target"; fail "RUNTIME_ENABLE returned after the debugger died: the kernel released it (docs/preempt.md says it does not; update them)"; }
wchan=$(cat /proc/$tpid/wchan 2>/dev/null)
echo "[$(since)s] debugger dead, ptrace detached, the target still blocked in RUNTIME_ENABLE (wchan $wchan)"

# 3. The remedy: a stop and continue interrupts the wait; the retry returns 0.
kill -STOP "$tpid"
sleep 0.5
kill -CONT "$tpid"
wait_line "$target" 10 '"op":"runtime_enable",' || { cat "$target"; fail "SIGSTOP+SIGCONT did not release the target from RUNTIME_ENABLE"; }
cat "$target"
[ "$(client_errname "$target" runtime_enable)" = OK ] || fail "RUNTIME_ENABLE after the release: $(client_errname "$target" runtime_enable)"
eintr=$(op_field "$target" runtime_enable .eintr)
[ "${eintr:-0}" -ge 1 ] || fail "RUNTIME_ENABLE returned without an EINTR (eintr=$eintr): not released by the signal"
kfd-client debug-session --target "$tpid" --qids 1 >"$GP_TMP/dbg.jsonl"
cat "$GP_TMP/dbg.jsonl"
[ "$(client_errname "$GP_TMP/dbg.jsonl" dbg_enable)" = OK ] ||
  fail "ENABLE by a new debugger: $(client_errname "$GP_TMP/dbg.jsonl" dbg_enable)"
kill -TERM "$tpid"
wait_line "$target" 10 '"op":"runtime_disable"' || fail "the target blocked in RUNTIME_DISABLE"
[ "$(client_errname "$target" runtime_disable)" = OK ] || fail "RUNTIME_DISABLE: $(client_errname "$target" runtime_disable)"
echo "controller SIGKILLed inside the handshake: the target stayed blocked in RUNTIME_ENABLE after the kernel disabled the session; SIGSTOP+SIGCONT released it (EINTR, retry returned 0) and it ran on"
