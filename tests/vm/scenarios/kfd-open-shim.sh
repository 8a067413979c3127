#!/bin/sh
# gp-cost: 12  (seconds on 7.2 under TCG, for balancing shards)
# gp-kernels: 7.2 7.3
# gp-shim: only  (the 7.x+shim VM: the test-only kfd_open_shim is loaded)
# The TEST-ONLY module tests/vm/kfd-open-shim does what it says and nothing
# more: with it, open("/dev/kfd") works on 7.x without a GPU node (a real KFD
# process appears in sysfs and is released at exit; GET_VERSION answers);
# removed, 7.x refuses again with EINVAL ("no gpu node"); it refuses to load
# without test_only=1; loaded, it taints the kernel as a test module (N).
. /gp/lib.sh
need kfd-client jq

p=/sys/module/kfd_open_shim/parameters
ko=/gp/modules/kfd_open_shim.ko
dmesg_all() { dmesg -s 1048576; }

[ "$(cat $p/test_only)" = Y ] || fail "kfd_open_shim is loaded without test_only=1: $(cat $p/test_only)"
[ "$(cat $p/nodes)" = 1 ] || fail "kfd_open_shim reports nodes=$(cat $p/nodes), expected 1"
case $(cat /sys/module/kfd_open_shim/taint) in
  *N*) ;;
  *) fail "kfd_open_shim's taint is '$(cat /sys/module/kfd_open_shim/taint)', expected N (a test module) among it" ;;
esac
dmesg_all | grep -q 'kfd_open_shim: TEST ONLY: kfd_gpu_node_num() at kfd_gpu_node_num+0x[0-9a-f]*/0x[0-9a-f]* \[amdgpu\] now reports 1 instead of 0' ||
  fail "no 'TEST ONLY ... now reports 1 instead of 0' line from kfd_open_shim in dmesg"
echo "shim loaded: test_only=Y nodes=1 taint=$(cat /sys/module/kfd_open_shim/taint) overrides=$(cat $p/overrides)"

# opens: kfd-client's open + GET_VERSION, and a shell holding /dev/kfd is a
# real KFD process in sysfs until it exits.
opens() {
  kfd-client version >"$GP_TMP/version.jsonl" 2>&1 ||
    fail "$1: kfd-client version exited $?: open(/dev/kfd) = $(client_errname "$GP_TMP/version.jsonl" open)"
  v=$(op_field "$GP_TMP/version.jsonl" version '"\(.major).\(.minor)"')
  [ "$v" = "$(expected_kfd_version)" ] || fail "$1: KFD version $v, expected $(expected_kfd_version)"
  sh -c 'exec 3<>/dev/kfd || exit 9; while :; do sleep 1; done' &
  kpid=$!
  bg_track $kpid
  i=0
  while [ ! -d "/sys/class/kfd/kfd/proc/$kpid" ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  [ -d "/sys/class/kfd/kfd/proc/$kpid" ] || fail "$1: pid $kpid holding /dev/kfd is not under /sys/class/kfd/kfd/proc"
  kill -TERM $kpid
  wait $kpid 2>/dev/null
  i=0
  while [ -d "/sys/class/kfd/kfd/proc/$kpid" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  [ ! -d "/sys/class/kfd/kfd/proc/$kpid" ] || fail "$1: KFD process $kpid still in sysfs 10 s after it exited"
  echo "$1: open(/dev/kfd) works, KFD $v; a KFD process appeared in sysfs and was released at exit"
}

opens "shim loaded"
n=$(cat $p/overrides)
[ "$n" -ge 2 ] || fail "the shim rewrote $n returns of kfd_gpu_node_num(), expected >= 2 (two opens)"
dmesg_all | grep -qE 'kfd_open_shim: kfd_gpu_node_num\(\) 0 -> 1 for .* \(caller kfd_create_process\+' ||
  fail "the shim's first rewrite was not for kfd_create_process: $(dmesg_all | grep 'kfd_open_shim: kfd_gpu_node_num() 0' | head -n1)"

# Removed: 7.x's own refusal is back.
rmmod kfd_open_shim || fail "rmmod kfd_open_shim failed"
kfd-client version >"$GP_TMP/off.jsonl" 2>&1 && fail "open(/dev/kfd) succeeded with the shim removed"
[ "$(client_errname "$GP_TMP/off.jsonl" open)" = EINVAL ] ||
  fail "with the shim removed, open(/dev/kfd) = $(client_errname "$GP_TMP/off.jsonl" open), expected EINVAL"
dmesg_all | grep -q 'no gpu node' || fail "no 'no gpu node' line in dmesg after the refused open"
echo "shim removed: open(/dev/kfd) = EINVAL (no gpu node), as 7.x ships"

# Without test_only=1 it refuses to load.
insmod "$ko" >"$GP_TMP/insmod.out" 2>&1 && fail "kfd_open_shim loaded without test_only=1"
cat "$GP_TMP/insmod.out"
shim_loaded && fail "kfd_open_shim is loaded after a refused insmod"
dmesg_all | grep -q 'kfd_open_shim: refusing to load: test-only module for GPU-less VMs; pass test_only=1' ||
  fail "the refusal without test_only=1 is not in dmesg"
echo "insmod without test_only=1: refused ($(last_line "$GP_TMP/insmod.out"))"

# Loaded again, for the scenarios after this one.
insmod "$ko" test_only=1 || fail "insmod kfd_open_shim test_only=1 failed again"
opens "shim reloaded"

t=$(cat /proc/sys/kernel/tainted)
[ $((t & 0x40000)) -ne 0 ] || fail "kernel taint $t lacks N (TAINT_TEST)"
[ $((t & 0x280)) -eq 0 ] || fail "kernel taint $t has W or D (a WARN or an oops)"
echo "$GP_KVER: kfd_open_shim lifts the 'no gpu node' refusal and nothing else; taint $t (N+O+E)"
