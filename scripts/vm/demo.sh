#!/usr/bin/env bash
# "The main job without a GPU": show gpreempt-bpf watch running against the
# real amdgpu driver. On a host with amdgpu loaded it runs watch directly;
# otherwise it boots the stock Debian 6.12 kernel under qemu with the real
# amdgpu.ko and streams watch's output while kfd-client exercises /dev/kfd.
#
# Usage: scripts/vm/demo.sh [--vm]   (--vm: use the VM even if this host has amdgpu)
# Env: GP_BUILD_DIR (default build/), GP_VM_TIMEOUT (default 240 s).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

main() {
  local force_vm=0 kernel=6.12 kdir rc
  [[ ${1:-} == --vm ]] && force_vm=1
  if ((force_vm == 0)) && [[ -e /sys/module/amdgpu && -c /dev/kfd ]]; then
    local bin=$GP_BUILD_DIR/gpreempt-bpf
    [[ -x $bin ]] || bin=$(command -v gpreempt-bpf || true)
    [[ -n $bin ]] || die "gpreempt-bpf is not built; run scripts/setup.sh"
    echo "amdgpu is loaded on this host: running gpreempt-bpf watch directly (Ctrl-C to stop)"
    exec "$bin" watch
  fi
  require_tools qemu-system-x86_64 cpio modinfo xz zstd jq timeout
  echo "No AMD GPU driver on this host: booting Debian's $kernel kernel with the real amdgpu.ko under qemu."
  mkdir -p "$GP_CACHE"
  exec 9>"$GP_CACHE/vm.lock"
  if ! flock -n 9; then
    echo "Waiting for a VM test run to finish (one VM at a time)..."
    flock 9
  fi
  "$GP_REPO_ROOT/scripts/vm/fetch-kernels.sh" "$kernel"
  DEMO_WORK=$(mktemp -d "${TMPDIR:-/tmp}/gp-demo.XXXXXX")
  trap 'rm -rf "$DEMO_WORK"' EXIT
  local work=$DEMO_WORK
  mkdir -p "$work/scenarios"
  cp "$GP_REPO_ROOT/scripts/vm/demo-guest.sh" "$work/scenarios/demo.sh"
  GP_VM_SCENARIO_DIR=$work/scenarios "$GP_REPO_ROOT/scripts/vm/mkinitramfs.sh" "$kernel" "$work/initrd.cpio" >/dev/null
  grep -q . "$work/initrd.cpio" || die "initramfs build failed"
  kdir=$(kernel_dir "$kernel")
  echo "Booting (TCG, no KVM here; loading amdgpu takes ~10-15 s)..."
  set +e
  # Show the guest's progress and the demo's output; keep kernel noise out.
  timeout --kill-after=10 "${GP_VM_TIMEOUT:-240}" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$(cat "$kdir/vmlinuz")" -initrd "$work/initrd.cpio" \
    -append "console=ttyS0 panic=-1 rdinit=/init quiet" </dev/null 2>&1 | tr -d '\r' |
    awk '
      /^GP-BOOT/ { print "[guest] booted " $3; fflush(); next }
      /^GP-MODULES/ { print "[guest] amdgpu + dependencies " $2 " in " substr($3, 9) " s"; fflush(); next }
      /^GP-RESULT load-amdgpu FAIL/ { print "[guest] " $0; fflush(); next }
      /^GP-RESULT demo FAIL/ { print "[guest] demo failed: " $0; fflush(); next }
      /^  \| / { print substr($0, 5); fflush(); next }
    '
  rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || die "the VM did not finish cleanly (qemu/timeout status $rc)"
}

main "$@"
