# Shared helpers for the VM test tier (sourced, not executed).
# shellcheck shell=bash

GP_REPO_ROOT=${GP_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
GP_CACHE=${GP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpreempt-bpf}
GP_BUILD_DIR=${GP_BUILD_DIR:-$GP_REPO_ROOT/build}
# 7.3 (trixie-backports' newest line) is opt-in: booted only when named
# (--kernel 7.3), never by "all" (docs/kernels.md, "The newest kernel line").
GP_ALL_KERNELS=(6.1 6.12 7.2)
# The guest kernel's command line (vm-test.sh, demo.sh). no_timer_check: at
# boot the kernel checks that timer interrupts arrive through the IO-APIC,
# counting on the vCPU to run while it waits; a TCG guest on a host with a
# load of 15+ on 2 cores failed that check and panicked ("IO-APIC + timer
# doesn't work!"). A KVM guest's kvmclock turns the check off the same way.
# shellcheck disable=SC2034 # used by the scripts that source this one
GP_VM_CMDLINE="console=ttyS0 panic=-1 rdinit=/init no_timer_check"
# modinfo (kmod) lives in /usr/sbin, which a non-root PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin

die() {
  echo "ERROR: $*" >&2
  exit 1
}

log() {
  echo "[vm] $*" >&2
}

# Every external tool the tier needs, with the Debian package that ships it,
# so a missing one is reported with the command that fixes it.
require_tools() {
  local tool pkg missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 && continue
    case $tool in
      qemu-system-x86_64) pkg=qemu-system-x86 ;;
      busybox) pkg=busybox-static ;;
      depmod | modprobe | modinfo) pkg=kmod ;;
      cpio) pkg=cpio ;;
      xz) pkg=xz-utils ;;
      zstd) pkg=zstd ;;
      apt-get | apt-cache) pkg=apt ;;
      dpkg | dpkg-deb) pkg=dpkg ;;
      ldd) pkg=libc-bin ;;
      timeout) pkg=coreutils ;;
      strip | readelf) pkg=binutils ;;
      flock) pkg=util-linux ;;
      realpath) pkg=coreutils ;;
      *) pkg="(the package that ships $tool)" ;;
    esac
    missing+=("$tool (apt-get install $pkg)")
  done
  if ((${#missing[@]})); then
    die "missing tools for the VM tier: ${missing[*]}; run scripts/setup.sh or install the packages in scripts/vm/deps.txt"
  fi
}

# A static busybox: the initramfs has no libc of its own for it.
busybox_static() {
  local bb
  for bb in /bin/busybox /usr/bin/busybox; do
    [[ -x $bb ]] || continue
    if ! ldd "$bb" >/dev/null 2>&1 || ldd "$bb" 2>&1 | grep -q 'not a dynamic'; then
      echo "$bb"
      return 0
    fi
  done
  die "no statically linked busybox found; apt-get install busybox-static"
}

# Normalise --kernel values; "all" expands to every supported kernel.
expand_kernels() {
  local k
  for k in "$@"; do
    case $k in
      all) printf '%s\n' "${GP_ALL_KERNELS[@]}" ;;
      6.1 | 6.12 | 7.2 | 7.3) echo "$k" ;;
      *) die "unknown kernel '$k' (use 6.1, 6.12, 7.2, 7.3 or all; all = ${GP_ALL_KERNELS[*]})" ;;
    esac
  done
}

# The scenarios one kernel runs: tests/vm/scenarios/GLOB.sh (or
# $GP_VM_SCENARIO_DIR) minus those whose "# gp-kernels: LIST" header names
# other kernels (a proof that needs one kernel is not paid for three times).
# With a third argument "shim": the scenarios of that kernel's "+shim" VM
# (test-only kfd_open_shim loaded), those headed "# gp-shim: yes" (they run
# in both VMs: refusal without the shim, real paths with it) or
# "# gp-shim: only"; without it, all but the "only" ones.
# Prints "NAME COST" per line; COST is the "# gp-cost: SECONDS" header (time on
# 6.12 under TCG, used to balance shards; default 10). Fails if GLOB matches
# no scenario at all.
scenario_dir() {
  echo "${GP_VM_SCENARIO_DIR:-$GP_REPO_ROOT/tests/vm/scenarios}"
}

select_scenarios() {
  local k=$1 glob=$2 vm=${3:-plain} f only cost matched=0 dir shim
  dir=$(scenario_dir)
  shopt -s nullglob extglob  # --scenario '@(doctor|no-loss)' selects several
  for f in "$dir"/$glob.sh; do
    [[ -f $f ]] || continue  # a GLOB without wildcards is kept as it is
    matched=$((matched + 1))
    only=$(sed -n 's/^# gp-kernels: *//p' "$f" | head -n1)
    [[ -z $only || " $only " == *" $k "* ]] || continue
    shim=$(sed -n 's/^# gp-shim: *\([a-z]*\).*/\1/p' "$f" | head -n1)
    if [[ $vm == shim ]]; then
      [[ $shim == yes || $shim == only ]] || continue
    else
      [[ $shim != only ]] || continue
    fi
    cost=$(sed -n 's/^# gp-cost: *\([0-9]*\).*/\1/p' "$f" | head -n1)
    echo "$(basename "$f" .sh) ${cost:-10}"
  done
  ((matched > 0)) || die "no scenario matches '$glob' in $dir/"
}

# Whether any scenario matching GLOB has the header "# gp-needs: ... WHAT ..."
# (rocr: Debian's real ROCm runtimes, scripts/vm/fetch-rocr.sh).
scenarios_need() {
  local what=$1 glob=$2 f
  shopt -s nullglob extglob
  for f in "$(scenario_dir)"/$glob.sh; do
    grep -qE "^# gp-needs:.*\b$what\b" "$f" && return 0
  done
  return 1
}

# Split "NAME COST" lines (stdin) into N shards, longest first onto the least
# loaded shard, and print shard I's lines (1-based). Deterministic, so the
# same tree always boots the same shards.
shard_scenarios() {
  local i=$1 n=$2
  sort -k2,2nr -k1,1 | awk -v want="$i" -v n="$n" '
    { best = 1
      for (s = 2; s <= n; s++) if (load[s] < load[best]) best = s
      load[best] += $2
      if (best == want) print }'
}

# The summed COST of "NAME COST" lines (stdin).
total_cost() {
  awk '{ s += $2 } END { print s + 0 }'
}

kernel_dir() {
  echo "$GP_CACHE/kernels/$1"
}
