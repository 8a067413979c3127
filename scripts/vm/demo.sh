#!/usr/bin/env bash
# "The main job without a GPU": show gpreempt-bpf watch running against the
# real amdgpu driver. On a host with amdgpu loaded it runs watch directly;
# otherwise it boots the stock Debian 6.12 kernel under qemu with the real
# amdgpu.ko and streams watch's output while kfd-client exercises /dev/kfd.
# In the VM the demo checks itself: it fails unless kfd-client's events
# (process_create, the create/destroy/update queue ioctls, the debug trap)
# are on the screen within 60 s of the guest starting watch, and it prints
# when the first event showed up and where the time went.
#
# Usage: scripts/vm/demo.sh [--vm] [--check]
#   --vm     use the VM even if this host has amdgpu
#   --check  the demo's test (scripts/vm-test.sh runs it): always the VM, and
#            a last line "PASS 6.12 demo" or "FAIL 6.12 demo: <why>"
# Env: GP_BUILD_DIR (default build/), GP_VM_TIMEOUT (default 240 s), GP_VM_SMP
#      (vCPUs, default 2), GP_DEMO_CONSOLE (also write the raw console log
#      there), GP_VM_LOCKED=1 (the caller holds $GP_CACHE/vm.lock already),
#      GP_FIRST_RUN_T0, GP_BUILD_SECONDS and GP_PREFETCH_NOTE (set by
#      scripts/setup.sh --run: the first-event line then counts from
#      setup.sh's start, and its breakdown includes the build and the kernel
#      fetch that ran beside it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=6.12
DEADLINE_S=60  # from the guest starting watch to every expected event on the screen
# What kfd-client does in the guest (scripts/vm/demo-guest.sh) and watch must show.
EXPECTED=(process_create ioctl_create_queue ioctl_destroy_queue ioctl_update_queue ioctl_dbg_trap)
CHECK=0

# Microseconds since the epoch, and seconds (one decimal) between two of them.
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
secs() { printf '%d.%d' $((($2 - $1) / 1000000)) $((($2 - $1) % 1000000 / 100000)); }

T_START=${GP_FIRST_RUN_T0:-$(now_us)}
T_FETCH0="" T_FETCH1="" T_QEMU="" T_BOOT="" T_MODULES="" T_WATCH="" T_ATTACH="" T_FIRST=""
GUEST_RESULT="" PANIC=""
declare -A FIRST_SEEN=()

# The breakdown of the time to the first event on the screen: each step
# that has happened, with what it took.
breakdown() {
  local parts=() out
  [[ -n ${GP_BUILD_SECONDS:-} ]] && parts+=("build ${GP_BUILD_SECONDS} s")
  step() { [[ -n $2 && -n $3 ]] && parts+=("$1 $(secs "$2" "$3") s"); }
  if [[ -n ${GP_PREFETCH_NOTE:-} ]]; then
    # setup.sh --run fetched the kernel beside the build; here it was cached.
    parts+=("$GP_PREFETCH_NOTE")
    step "kernel cache check" "$T_FETCH0" "$T_FETCH1"
  else
    step "kernel fetch" "$T_FETCH0" "$T_FETCH1"
  fi
  step initramfs "$T_FETCH1" "$T_QEMU"
  step boot "$T_QEMU" "$T_BOOT"
  step "amdgpu load" "$T_BOOT" "$T_MODULES"
  step "to watch" "$T_MODULES" "$T_WATCH"
  step attach "$T_WATCH" "$T_ATTACH"
  step "first event" "$T_ATTACH" "$T_FIRST"
  out=$(printf '%s, ' "${parts[@]}")
  echo "${out%, }"
}

# The console, turned into what the user sees: the guest's progress and the
# demo's output, no kernel noise, no markers. Records when each step showed.
show_console() {
  local line row kind comm rest t
  while IFS= read -r line; do
    t=${EPOCHREALTIME//[!0-9]/}
    line=${line%$'\r'}
    case $line in
      # (after the escape codes with which the firmware clears the screen)
      *GP-BOOT\ *)
        T_BOOT=$t
        rest=${line#*release=}
        echo "[guest] booted ${rest%% *} after $(secs "$T_QEMU" "$t") s"
        ;;
      GP-MODULES*)
        T_MODULES=$t
        rest=${line#*loaded=}
        echo "[guest] amdgpu + dependencies: ${rest%% *} modules in ${line##*seconds=} s"
        ;;
      "GP-RESULT load-amdgpu FAIL"*) echo "[guest] $line" ;;
      *"Kernel panic"*)
        PANIC=${line#*\] }
        echo "[guest] $PANIC"
        ;;
      "GP-RESULT demo "*)
        GUEST_RESULT=${line#GP-RESULT demo }
        [[ $GUEST_RESULT == PASS* ]] || echo "[guest] demo failed: $line"
        ;;
      "  | GP-DEMO watch-start") T_WATCH=$t ;;
      "  | GP-DEMO "*) ;;
      "  | "*)
        row=${line#  | }
        echo "$row"
        [[ -z $T_ATTACH && -n $T_WATCH && $row == Attached\ * ]] && T_ATTACH=$t
        # An event row of watch's table: TIME(s) EVENT PID COMM ...
        if [[ $row =~ ^[0-9]+\.[0-9]{6}\ +([a-z_]+)\ +[0-9]+\ +([^ ]+)\ (.*)$ ]]; then
          kind=${BASH_REMATCH[1]} comm=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
          if [[ -z $T_FIRST ]]; then
            T_FIRST=$t
            printf '\033[1m*** first KFD event on the screen %s s after the start (%s)\033[0m\n' \
              "$(secs "$T_START" "$t")" "$(breakdown)"
          fi
          # create_queue must be KFD's own refusal of the made-up gpu_id.
          [[ $kind == ioctl_create_queue && $rest != *EINVAL ]] && continue
          [[ $comm == kfd-client && -z ${FIRST_SEEN[$kind]:-} ]] && FIRST_SEEN[$kind]=$t
        fi
        ;;
    esac
  done
}

# Why the demo failed, or nothing: every expected event within the deadline.
verdict() {
  local kind late=() missing=()
  [[ -z $PANIC ]] || { echo "the guest kernel panicked: $PANIC"; return; }
  [[ -n $T_WATCH ]] || { echo "the guest never started watch${GUEST_RESULT:+ (demo: $GUEST_RESULT)}"; return; }
  [[ -n $T_ATTACH ]] || { echo "watch never attached${GUEST_RESULT:+ (demo: $GUEST_RESULT)}"; return; }
  for kind in "${EXPECTED[@]}"; do
    if [[ -z ${FIRST_SEEN[$kind]:-} ]]; then
      missing+=("$kind")
    elif (((FIRST_SEEN[$kind] - T_WATCH) > DEADLINE_S * 1000000)); then
      late+=("$kind after $(secs "$T_WATCH" "${FIRST_SEEN[$kind]}") s")
    fi
  done
  local IFS=,
  ((${#missing[@]} == 0)) || { echo "never on the screen: kfd-client's ${missing[*]}" | sed 's/,/, /g'; return; }
  ((${#late[@]} == 0)) || { echo "on the screen later than ${DEADLINE_S} s after watch started: ${late[*]}" | sed 's/,/, /g'; return; }
  [[ $GUEST_RESULT == PASS* ]] || echo "the guest's demo did not finish cleanly: ${GUEST_RESULT:-no result}"
}

main() {
  local force_vm=0 kdir rc why arg
  for arg in "$@"; do
    case $arg in
      --vm) force_vm=1 ;;
      --check) CHECK=1 force_vm=1 ;;
      -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) die "unknown argument $arg (see --help)" ;;
    esac
  done
  if ((force_vm == 0)) && [[ -e /sys/module/amdgpu && -c /dev/kfd ]]; then
    local bin=$GP_BUILD_DIR/gpreempt-bpf
    [[ -x $bin ]] || bin=$(command -v gpreempt-bpf || true)
    [[ -n $bin ]] || die "gpreempt-bpf is not built; run scripts/setup.sh"
    echo "amdgpu is loaded on this host: running gpreempt-bpf watch directly (Ctrl-C to stop)"
    exec "$bin" watch
  fi
  require_tools qemu-system-x86_64 cpio modinfo xz zstd jq timeout
  echo "No AMD GPU driver on this host: booting Debian's $KERNEL kernel with the real amdgpu.ko under qemu."
  mkdir -p "$GP_CACHE"
  if [[ ${GP_VM_LOCKED:-0} != 1 ]]; then
    exec 9>"$GP_CACHE/vm.lock"
    if ! flock -n 9; then
      echo "Waiting for a VM test run to finish (one VM at a time)..."
      flock 9
    fi
  fi
  T_FETCH0=$(now_us)
  "$GP_REPO_ROOT/scripts/vm/fetch-kernels.sh" "$KERNEL"
  T_FETCH1=$(now_us)
  DEMO_WORK=$(mktemp -d "${TMPDIR:-/tmp}/gp-demo.XXXXXX")
  trap 'rm -rf "$DEMO_WORK"' EXIT
  local work=$DEMO_WORK
  mkdir -p "$work/scenarios"
  cp "$GP_REPO_ROOT/scripts/vm/demo-guest.sh" "$work/scenarios/demo.sh"
  GP_VM_SCENARIO_DIR=$work/scenarios "$GP_REPO_ROOT/scripts/vm/mkinitramfs.sh" "$KERNEL" "$work/initrd.cpio" >/dev/null
  grep -q . "$work/initrd.cpio" || die "initramfs build failed"
  kdir=$(kernel_dir "$KERNEL")
  echo "Booting (TCG, no KVM here; loading amdgpu takes ~10-15 s)..."
  T_QEMU=$(now_us)
  set +e
  shopt -s lastpipe  # show_console runs in this shell: its timestamps stay
  timeout --kill-after=10 "${GP_VM_TIMEOUT:-240}" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp "${GP_VM_SMP:-2}" -m 4096 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$(cat "$kdir/vmlinuz")" -initrd "$work/initrd.cpio" \
    -append "$GP_VM_CMDLINE quiet" </dev/null 2>&1 |
    tee "${GP_DEMO_CONSOLE:-/dev/null}" | show_console  # (no tr -d '\r': it buffers)
  rc=${PIPESTATUS[0]}
  set -e
  why=$(verdict)
  ((rc == 0)) || why="the VM did not finish cleanly (qemu/timeout status $rc)${why:+; $why}"
  echo
  if [[ -n $T_FIRST ]]; then
    printf '\033[1m==> time to the first event %s s: %s\033[0m\n' "$(secs "$T_START" "$T_FIRST")" "$(breakdown)"
  else
    printf '\033[1m==> no KFD event on the screen (%s)\033[0m\n' "$(breakdown)"
  fi
  if ((CHECK)); then
    if [[ -z $why ]]; then echo "PASS $KERNEL demo"; else echo "FAIL $KERNEL demo: $why"; fi
  fi
  [[ -z $why ]] || die "demo: $why"
  echo "==> every kfd-client event was on the screen within ${DEADLINE_S} s of watch starting"
}

main "$@"
