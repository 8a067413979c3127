#!/bin/sh
# gp-cost: 1  (seconds on 6.12 under TCG, for balancing shards)
# queues --hqd against the real debugfs of each kernel, with no GPU: what
# /sys/kernel/debug/kfd/hqds really is here, and that the tool says so
# (exit 1, one line, before attaching anything). Then the same with debugfs
# unmounted. With a GPU the dump would hold live registers; here it cannot.
. /gp/lib.sh
need gpreempt-bpf

remount() { grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug; }
trap 'remount; cleanup' EXIT

grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || fail "debugfs is not mounted at /sys/kernel/debug in the guest"
f=/sys/kernel/debug/kfd/hqds
# kfd_init (module load) calls kfd_debugfs_init unconditionally, and
# kfd_debugfs_hqds_by_device prints nothing for topology nodes without a GPU:
# the file exists and is empty on every kernel without a GPU.
[ -e "$f" ] || fail "$f does not exist on $GP_KVER (expected: created by kfd_debugfs_init at module load)"
size=$(cat "$f" | wc -c)  # safe here: no GPU, so no register is read
[ "$size" -eq 0 ] || fail "$f has $size bytes without a GPU: $(head -3 "$f")"
gpus=0
for n in /sys/class/kfd/kfd/topology/nodes/*; do
  id=$(cat "$n/gpu_id" 2>/dev/null || echo 0)
  [ "$id" != 0 ] && gpus=$((gpus + 1))
done
[ "$gpus" -eq 0 ] || fail "the topology lists $gpus GPU node(s) in a VM without a GPU"
echo "$GP_KVER: $f exists and is empty; topology: $(ls /sys/class/kfd/kfd/topology/nodes | wc -l) node(s), no GPU"

for mode in text json; do
  flag=""
  [ $mode = json ] && flag=--json
  gpreempt-bpf queues --hqd $flag >"$GP_TMP/$mode.out" 2>"$GP_TMP/$mode.err"
  rc=$?
  [ "$rc" -eq 1 ] || fail "queues --hqd $flag exited $rc, expected 1 (no GPU): $(last_line "$GP_TMP/$mode.err")"
  grep -q "topology lists no GPU" "$GP_TMP/$mode.err" || fail "queues --hqd $flag: unexpected message: $(cat "$GP_TMP/$mode.err")"
  [ "$(wc -l <"$GP_TMP/$mode.err")" -eq 1 ] || fail "queues --hqd $flag printed more than one line: $(cat "$GP_TMP/$mode.err")"
  [ ! -s "$GP_TMP/$mode.out" ] || fail "queues --hqd $flag printed on stdout: $(cat "$GP_TMP/$mode.out")"
done
echo "no GPU: $(cat "$GP_TMP/text.err")"

umount /sys/kernel/debug 2>"$GP_TMP/umount.err" || umount -l /sys/kernel/debug 2>>"$GP_TMP/umount.err" ||
  fail "cannot unmount debugfs for the unmounted case: $(cat "$GP_TMP/umount.err")"
gpreempt-bpf queues --hqd >"$GP_TMP/nodebugfs.out" 2>"$GP_TMP/nodebugfs.err"
rc=$?
remount
[ "$rc" -eq 1 ] || fail "queues --hqd without debugfs exited $rc, expected 1: $(last_line "$GP_TMP/nodebugfs.err")"
grep -q "debugfs is not mounted at /sys/kernel/debug" "$GP_TMP/nodebugfs.err" ||
  fail "queues --hqd without debugfs: unexpected message: $(cat "$GP_TMP/nodebugfs.err")"
[ -e "$f" ] || fail "$f is gone after remounting debugfs"
echo "debugfs unmounted: $(cat "$GP_TMP/nodebugfs.err")"
