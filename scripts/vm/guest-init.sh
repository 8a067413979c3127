#!/bin/sh
# /init of the VM test tier (runs under busybox ash inside the guest).
# Mounts the kernel filesystems, loads amdgpu and its dependencies in order,
# shows what KFD said, runs every scenario in /gp/scenarios with a timeout and
# prints one marker line per result for the host (scripts/vm-test.sh):
#   GP-RESULT <name> PASS <seconds>
#   GP-RESULT <name> FAIL <seconds> <reason>
# then powers the VM off. Nothing here may hang: the host also has a timeout.

export PATH=/usr/bin:/usr/sbin:/bin:/sbin
export HOME=/root TMPDIR=/tmp

uptime_s() {
  cut -d' ' -f1 /proc/uptime
}

# Seconds between two /proc/uptime readings, one decimal.
elapsed() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

mount_all() {
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null || true  # may be auto-mounted
  mount -t tmpfs tmpfs /tmp
  mount -t tmpfs tmpfs /run
  mount -t debugfs debugfs /sys/kernel/debug
  mount -t tracefs tracefs /sys/kernel/tracing
  mount -t bpf bpf /sys/fs/bpf
  # Kernel messages on the serial console would cut through the marker
  # lines; they stay in dmesg, which is printed below.
  echo 1 >/proc/sys/kernel/printk
}

result() {
  # $1 name, $2 PASS|FAIL, $3 seconds, $4 reason
  echo "GP-RESULT $1 $2 $3${4:+ $4}"
}

# The "load-amdgpu" case: every module loads and /dev/kfd appears.
load_modules() {
  t0=$(uptime_s)
  n=0
  failed=""
  while read -r mod params; do
    [ -n "$mod" ] || continue
    # shellcheck disable=SC2086 # params are separate words on purpose
    if ! insmod "/gp/modules/$mod" $params 2>/tmp/insmod.err; then
      failed="$mod: $(tail -n1 /tmp/insmod.err)"
      break
    fi
    n=$((n + 1))
  done </gp/modules/order
  t1=$(uptime_s)
  echo "GP-MODULES loaded=$n seconds=$(elapsed "$t0" "$t1")"
  echo "--- dmesg (kfd) ---"
  dmesg | grep -iE 'kfd|amdgpu' | tail -n 40
  echo "--- end dmesg ---"
  if [ -n "$failed" ]; then
    result load-amdgpu FAIL "$(elapsed "$t0" "$t1")" "insmod $failed"
  elif [ ! -c /dev/kfd ]; then
    result load-amdgpu FAIL "$(elapsed "$t0" "$t1")" "amdgpu loaded but /dev/kfd does not exist"
  else
    result load-amdgpu PASS "$(elapsed "$t0" "$t1")"
  fi
}

# Facts for the support matrix, printed once per boot.
print_info() {
  echo "GP-INFO release=$(uname -r)"
  for f in /sys/kernel/btf/vmlinux /sys/kernel/btf/amdgpu; do
    if [ -e "$f" ]; then
      echo "GP-INFO btf $(basename "$f") bytes=$(wc -c <"$f")"
    else
      echo "GP-INFO btf $(basename "$f") absent"
    fi
  done
  for p in sched_policy cwsr_enable; do
    echo "GP-INFO amdgpu.$p=$(cat /sys/module/amdgpu/parameters/$p 2>/dev/null || echo '?')"
  done
  if command -v bpftool >/dev/null 2>&1; then
    # Which BTF defines the amdgpu type names CO-RE relocates? A clash in
    # vmlinux would make relocations ambiguous. (Slow under TCG: only when
    # bpftool was added with GP_VM_EXTRA_BINS.)
    bpftool btf dump file /sys/kernel/btf/vmlinux >/tmp/btf.vmlinux 2>&1
    bpftool btf dump file /sys/kernel/btf/amdgpu >/tmp/btf.amdgpu 2>&1
    for t in queue kfd_process queue_properties kfd_node kfd_dev; do
      echo "GP-INFO struct $t vmlinux=$(grep -c "STRUCT '$t' " /tmp/btf.vmlinux)" \
        "amdgpu=$(grep -c "STRUCT '$t' " /tmp/btf.amdgpu)"
    done
    rm -f /tmp/btf.vmlinux /tmp/btf.amdgpu
  fi
}

run_scenarios() {
  kernel=$(cat /gp/kernel)
  GP_SCENARIO_TIMEOUT=$(cat /gp/scenario-timeout 2>/dev/null || echo 120)
  for s in /gp/scenarios/*.sh; do
    [ -e "$s" ] || continue
    name=$(basename "$s" .sh)
    echo "GP-SCENARIO-BEGIN $name"
    t0=$(uptime_s)
    # Output is streamed as it comes (indented, so it never looks like a
    # marker) and kept for the reason line. The scenario runs in its own
    # session, so its process group is everything it started: at the timeout
    # the whole group gets TERM, then KILL 5 s later. (TERM to the scenario's
    # sh alone is not enough: its trap waits for a foreground child that may
    # block forever.) When it ends, what it left in its group is killed too,
    # so nothing keeps the output pipe open.
    rm -f /tmp/timedout
    {
      GP_KVER=$kernel setsid sh "$s" 2>&1 &
      spid=$!
      (
        sleep "$GP_SCENARIO_TIMEOUT"
        : >/tmp/timedout
        kill -TERM -"$spid"
        sleep 5
        kill -KILL -"$spid"
      ) >/dev/null 2>&1 &
      wpid=$!
      wait "$spid"
      echo $? >/tmp/rc
      kill -KILL "$wpid" -"$spid" 2>/dev/null
    } | tee "/tmp/$name.out" | while IFS= read -r line; do echo "  | $line"; done
    rc=$(cat /tmp/rc)
    t1=$(uptime_s)
    dt=$(elapsed "$t0" "$t1")
    if [ "$rc" -eq 0 ]; then
      result "$name" PASS "$dt"
    else
      reason=$(grep -v '^[[:space:]]*$' "/tmp/$name.out" | tail -n1)
      if [ -e /tmp/timedout ]; then
        reason="timed out after ${GP_SCENARIO_TIMEOUT}s${reason:+ (last output: $reason)}"
      fi
      result "$name" FAIL "$dt" "exit $rc: ${reason:-no output}"
    fi
    # Whatever the scenario left running (a watch, a target) must not
    # leak into the next one: kill everything but init.
    kill -KILL -1 2>/dev/null
    sleep 0.2
  done
}

main() {
  mount_all
  echo "GP-BOOT kernel=$(cat /gp/kernel) release=$(uname -r) uptime=$(uptime_s)"
  if [ -s /gp/missing ]; then
    sed 's/^/GP-MISSING /' /gp/missing
  fi
  load_modules
  print_info
  run_scenarios
  # The kernel's taint after every scenario (vm-test.sh checks it in the
  # "+shim" VMs), and how often the test-only shim rewrote a 0.
  echo "GP-INFO tainted=$(cat /proc/sys/kernel/tainted)"
  if [ -e /sys/module/kfd_open_shim/parameters/overrides ]; then
    echo "GP-INFO kfd_open_shim overrides=$(cat /sys/module/kfd_open_shim/parameters/overrides)"
  fi
  echo "GP-DONE uptime=$(uptime_s)"
  poweroff -f
}

main
# poweroff -f does not return; if it somehow does, panic=-1 + -no-reboot
# still ends qemu when init exits.
exit 1
