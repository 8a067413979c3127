#!/bin/sh
# gp-cost: 38  (seconds on 6.12 under TCG, for balancing shards)
# gp-kernels: 6.1
# (one kernel proves the --btf path: 6.1, whose VM has the most spare time;
# 6.12 passed too when run by hand)
# A host whose amdgpu has no BTF (amdgpu-dkms): /sys/kernel/btf/amdgpu is
# hidden (tmpfs over /sys/kernel/btf with vmlinux copied back). doctor must
# say so and print the pahole steps, watch must refuse without --btf, and
# with --btf FILE watch must attach exactly what it attaches with the
# kernel's BTF and decode real KFD process events. With the kernel's BTF the
# return-side functions run on fexit; with --btf (no amdgpu BTF object in the
# kernel to attach through) every one falls back to kprobe+kretprobe.
#
# FILE is amdgpu's split BTF in the two forms pahole writes:
#  - raw, as `pahole -J --btf_base vmlinux --btf_encode_detached FILE` writes
#    it: here the kernel's own /sys/kernel/btf/amdgpu, copied (same format);
#  - inside the module ELF (.BTF section), as `pahole -J --btf_base vmlinux
#    amdgpu.ko` writes it: here the stock amdgpu.ko, which kbuild made so.
# Real pahole cannot be run here: the stock module has no DWARF, and
# Debian 12's pahole 1.24 cannot read these kernels' BTF (decl tags).
# The pahole command itself is checked on the build host (unit tests).
. /gp/lib.sh
need gpreempt-bpf kfd-client jq

# Attached probes and missing optional ones, as one comparable line.
attach_set() {
  head -n1 "$WATCH_OUT" | jq -c '{attached: (.attached | sort), missing: ([.missing_optional[]?.symbol] | sort)}'
}

watch_start
ref=$(attach_set)
head -n1 "$WATCH_OUT" | jtest - '.mechanisms.lifecycle.kfd_ioctl_create_queue == "fexit"' ||
  fail "with the kernel's BTF watch should use fexit: $(head -n1 "$WATCH_OUT" | jq -c .mechanisms)"
watch_stop

cp /sys/kernel/btf/amdgpu "$GP_TMP/amdgpu.btf" || fail "cannot copy /sys/kernel/btf/amdgpu"
cp /sys/kernel/btf/vmlinux "$GP_TMP/vmlinux" || fail "cannot copy /sys/kernel/btf/vmlinux"
mount -t tmpfs tmpfs /sys/kernel/btf || fail "cannot mount a tmpfs over /sys/kernel/btf"
trap 'cleanup; umount /sys/kernel/btf 2>/dev/null' EXIT
cp "$GP_TMP/vmlinux" /sys/kernel/btf/vmlinux || fail "cannot put vmlinux back"
[ ! -e /sys/kernel/btf/amdgpu ] || fail "/sys/kernel/btf/amdgpu is still visible"
echo "[$(since)s] /sys/kernel/btf now holds only: $(ls /sys/kernel/btf)"

# doctor: the fact, the verdict and the steps.
gpreempt-bpf doctor >"$GP_TMP/doctor.txt" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat "$GP_TMP/doctor.txt"; fail "doctor exited $rc without amdgpu BTF, expected 1"; }
for want in "amdgpu BTF       no" "amdgpu has no BTF" "watch:   will NOT work" \
  "pahole -J --btf_base /sys/kernel/btf/vmlinux --btf_encode_detached /tmp/amdgpu.btf /tmp/amdgpu.ko" \
  "gpreempt-bpf watch --btf /tmp/amdgpu.btf"; do
  grep -qF -- "$want" "$GP_TMP/doctor.txt" || { cat "$GP_TMP/doctor.txt"; fail "doctor does not say: $want"; }
done
echo "[$(since)s] doctor: amdgpu BTF no, the pahole steps printed"

# watch without --btf: refused, saying what to do.
gpreempt-bpf watch --json --duration 1 >"$GP_TMP/refused.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "watch without amdgpu BTF exited $rc, expected 1: $(last_line "$GP_TMP/refused.out")"
grep -q "amdgpu has no BTF.*--btf FILE" "$GP_TMP/refused.out" ||
  fail "watch without amdgpu BTF does not say why and what to do: $(last_line "$GP_TMP/refused.out")"
echo "[$(since)s] watch without --btf refused: $(last_line "$GP_TMP/refused.out" | head -c 160)"

# A BTF without amdgpu types (vmlinux alone) is refused, saying so.
gpreempt-bpf doctor --btf /sys/kernel/btf/vmlinux >"$GP_TMP/doctor-vmlinux.txt" 2>&1
grep -q "has no amdgpu types" "$GP_TMP/doctor-vmlinux.txt" ||
  fail "doctor --btf vmlinux does not say it lacks amdgpu types: $(grep -- '--btf' "$GP_TMP/doctor-vmlinux.txt" | head -n2)"

for file in "$GP_TMP/amdgpu.btf" /gp/modules/amdgpu.ko; do
  gpreempt-bpf doctor --json --btf "$file" >"$GP_TMP/doctor.json" 2>"$GP_TMP/doctor.err"
  rc=$?
  jtest "$GP_TMP/doctor.json" '.can_watch and .custom_btf.usable and .custom_btf.layout == "split" and .btf_steps == null' ||
    fail "doctor --btf $file (exit $rc): $(jq -c '{can_watch, custom_btf, problems}' "$GP_TMP/doctor.json")"
  echo "[$(since)s] doctor --btf $file: $(jq -r .custom_btf.description "$GP_TMP/doctor.json")"

  watch_start --btf "$file"
  got=$(attach_set)
  [ "$got" = "$ref" ] || fail "with --btf $file watch attached $got; with the kernel's BTF: $ref"
  head -n1 "$WATCH_OUT" | jtest - '.notes | any(startswith("types from --btf"))' ||
    fail "the attach line does not name the --btf types: $(head -n1 "$WATCH_OUT" | jq -c .notes)"
  # The kprobe fallback: nothing on a trampoline, the pairs on kprobe+kretprobe.
  head -n1 "$WATCH_OUT" | jtest - '(.mechanisms.lifecycle | length) > 0
    and all(.mechanisms[][]; . == "kprobe" or . == "kretprobe" or . == "kprobe+kretprobe")
    and .mechanisms.lifecycle.kfd_ioctl_create_queue == "kprobe+kretprobe"
    and .mechanisms.lifecycle.update_queue == "kprobe+kretprobe"
    and (.notes | any(startswith("kprobes only: --btf")))' ||
    fail "--btf $file: not the kprobe fallback: $(head -n1 "$WATCH_OUT" | jq -c '{mechanisms, notes}')"

  # CO-RE reads through the custom types: a real KFD process event.
  client=$GP_TMP/client.jsonl
  kfd-client open-exit >"$client"
  pid=$(op_field "$client" open .pid)
  [ -n "$pid" ] || fail "kfd-client printed no open result"
  if kfd_open_works; then
    wait_event process_create "$pid" 15 || { watch_stop; fail "--btf $file: no process_create for pid $pid"; }
    events_of process_create "$pid" | jtest - '.comm == "kfd-client" and .ret == 0' ||
      fail "--btf $file: process_create reads wrong: $(events_of process_create "$pid")"
  fi
  watch_stop
  [ "$(summary_field .lost)" = 0 ] || fail "--btf $file: $(summary_field .lost) events lost"
  echo "[$(since)s] --btf $file: same $(echo "$got" | jq '.attached | length') probes as with the kernel's BTF, on kprobes$(kfd_open_works && echo ", process_create for pid $pid decoded")"
done
