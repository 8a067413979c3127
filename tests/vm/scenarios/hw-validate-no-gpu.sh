#!/bin/sh
# gp-cost: 4  (seconds on 6.12 under TCG, for balancing shards)
# The hardware validation kit (scripts/hw-validate.sh) end to end, as a user
# runs it, on a host whose amdgpu is loaded but has no GPU: it must say so
# (exit 2, "no AMD GPU"), run doctor and nothing that needs a GPU, and still
# bundle its archive with doctor's output and the summary. Runs under busybox sh.
. /gp/lib.sh
need gpreempt-bpf jq tar gzip setsid
kit=/gp/scripts/hw-validate.sh
[ -f "$kit" ] || fail "$kit is not in the initramfs (scripts/vm/mkinitramfs.sh)"

out=$GP_TMP/kit
sh "$kit" --out "$out" --bin "$(command -v gpreempt-bpf)" >"$GP_TMP/kit.log" 2>&1
rc=$?
cat "$GP_TMP/kit.log"
echo "[$(since)s] hw-validate exited $rc"
[ "$rc" -eq 2 ] || fail "hw-validate exited $rc; expected 2 (no AMD GPU): $(last_line "$GP_TMP/kit.log")"
grep -q 'NO GPU: amdgpu is loaded but KFD lists no GPU' "$GP_TMP/kit.log" ||
  fail "the kit did not say on its output that there is no GPU"

[ -s "$out.tar.gz" ] || fail "no archive $out.tar.gz"
mkdir -p "$GP_TMP/x"
tar -xzf "$out.tar.gz" -C "$GP_TMP/x" || fail "the archive does not unpack"
got=$GP_TMP/x/kit
for f in summary.txt doctor.txt doctor.json host.txt commands.txt; do
  [ -f "$got/$f" ] || fail "the archive has no kit/$f: $(tar -tzf "$out.tar.gz" | tr '\n' ' ')"
done
grep -q '^result: no AMD GPU on this host: amdgpu is loaded but KFD lists no GPU' "$got/summary.txt" ||
  fail "summary.txt does not give the no-GPU result: $(grep '^result' "$got/summary.txt")"
grep -q '^PASS doctor' "$got/summary.txt" || fail "summary.txt: doctor did not pass"
for s in workload watch queues-verify snapshot-check latency preempt record report; do
  grep -q "^SKIP $s " "$got/summary.txt" || fail "summary.txt: $s is not SKIPped: $(grep " $s " "$got/summary.txt")"
done
# Honest: the real doctor ran, on this kernel, and found the driver without a GPU.
jtest "$got/doctor.json" '.amdgpu_loaded == true and (.gpu_ids | length) == 0 and .kernel == "'"$(uname -r)"'"' ||
  fail "doctor.json in the archive is not this host's: $(jq -c '{kernel, amdgpu_loaded, gpu_ids}' "$got/doctor.json")"
# Only doctor ran: no session command left a trace, nothing is left running.
[ "$(grep -c . "$got/commands.txt")" -eq 2 ] || fail "commands.txt lists more than the two doctor runs: $(cat "$got/commands.txt")"
pidof gpreempt-bpf >/dev/null && fail "a gpreempt-bpf process is still running after the kit"
echo "hw-validate: no GPU reported, exit 2, archive with $(tar -tzf "$out.tar.gz" | grep -c .) entries"
exit 0
