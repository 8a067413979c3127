#!/usr/bin/env bash
# The real-driver test tier: boot stock Debian kernels (6.1, 6.12, 7.2) under
# qemu (TCG) with the real amdgpu.ko, run the scenarios of tests/vm/scenarios
# inside each VM and report one line per case:
#   PASS <kernel> <scenario>
#   FAIL <kernel> <scenario>: <why>
# and a final "N passed, M failed" line. With 6.12 it also boots the demo
# (scripts/vm/demo.sh --check, the main job of scripts/setup.sh --run on a host
# without a GPU) in a VM of its own, side by side: case "6.12 demo", selected
# by --scenario like a scenario named "demo". Exits non-zero if anything failed or
# could not run (no qemu, download failed, guest crashed...): never skips.
#
# 7.x refuses open("/dev/kfd") without a GPU node, so each 7.x kernel boots
# twice: "7.2" runs every scenario as Debian ships it (the refusal branches),
# "7.2+shim" also loads the TEST-ONLY tests/vm/kfd-open-shim module
# (kfd_gpu_node_num() returns 1 instead of 0) and runs the scenarios headed
# "# gp-shim: yes|only" on their real paths; its cases print as
# "PASS 7.2+shim <scenario>".
#
# Usage: scripts/vm-test.sh [--kernel 6.1|6.12|7.2|7.3|all]... [--scenario GLOB] [--keep] [--no-build] [--no-shim] [--jobs N] [--shards K:N]...
#   --kernel    kernels to boot (repeatable; default all = 6.1 6.12 7.2;
#               7.3, trixie-backports' newest line, is opt-in)
#   --jobs      VMs booted at once (default: all of them; a TCG guest mostly
#               keeps one host core busy, so on 2 cores the kernels overlap)
#   --shards    split kernel K's scenarios over N VMs booted side by side
#               (repeatable; default 6.12:2, the kernel with the debug-API
#               scenarios; balanced by each scenario's "# gp-cost:" header).
#               6.12:1 turns it off.
#   --scenario  run only tests/vm/scenarios/GLOB.sh (default *; "demo" matches the demo)
#   --keep      keep the work directory (initramfs, console logs)
#   --no-build  do not build; require gpreempt-bpf and kfd-client in the build dir
#   --no-shim   do not boot the 7.x "+shim" VMs (only the refusal branches run on 7.x)
# Env: GP_BUILD_DIR (default build/), GP_SCENARIO_TIMEOUT (seconds per scenario
#      inside the guest, default 120), GP_VM_TIMEOUT (seconds per VM; default
#      120 for boot and modules + the scenario timeout for each scenario),
#      GP_VM_EXTRA_BINS (more host binaries for the guest, e.g. /usr/sbin/bpftool),
#      GP_VM_SMP (vCPUs per guest, default 1: four TCG guests on a 2-core host
#      already keep both cores busy, and a second vCPU each only adds
#      contention: the tier took 259 s with 1 and 296 s with 2, both passing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/vm/common.sh"

SCENARIO_TIMEOUT=${GP_SCENARIO_TIMEOUT:-120}
KERNELS=()
GLOB='*'
KEEP=0
BUILD=1
JOBS=0
declare -A SHARDS=([6.12]=2)
SHIM=1
declare -A SHIM_KO=()
PASSED=0
FAILED=0

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}

parse_args() {
  while (($#)); do
    case $1 in
      --kernel) KERNELS+=("${2:?--kernel needs a value}"); shift ;;
      --kernel=*) KERNELS+=("${1#*=}") ;;
      --scenario) GLOB=${2:?--scenario needs a value}; shift ;;
      --scenario=*) GLOB=${1#*=} ;;
      --keep) KEEP=1 ;;
      --no-build) BUILD=0 ;;
      --no-shim) SHIM=0 ;;
      --jobs) JOBS=${2:?--jobs needs a number}; shift ;;
      --shards)
        [[ ${2:-} =~ ^(6\.1|6\.12|7\.2|7\.3):([1-9])$ ]] || { echo "--shards needs KERNEL:N, e.g. 6.12:2" >&2; usage 64; }
        SHARDS[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
        shift
        ;;
      -h | --help) usage 0 ;;
      *) echo "unknown argument: $1" >&2; usage 64 ;;
    esac
    shift
  done
  ((${#KERNELS[@]})) || KERNELS=(all)
  mapfile -t KERNELS < <(expand_kernels "${KERNELS[@]}" | awk '!seen[$0]++')
}

# Build the binaries the guest runs. kfd-client is this tier's own and must
# build; a gpreempt-bpf that does not build is reported and its scenarios
# then FAIL inside the VM (they say why), so the tier still shows the rest.
build() {
  if ((BUILD == 0)); then
    return 0
  fi
  if [[ ! -f $GP_BUILD_DIR/CMakeCache.txt ]]; then
    log "configuring $GP_BUILD_DIR"
    cmake -S "$GP_REPO_ROOT" -B "$GP_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/cmake-configure.log" 2>&1 || {
      tail -n 30 "$WORK/cmake-configure.log" >&2
      fatal "cmake configure of $GP_BUILD_DIR failed (log above); run scripts/setup.sh first"
    }
  fi
  log "building kfd-client and hsa-probe"
  cmake --build "$GP_BUILD_DIR" -j2 --target kfd-client hsa-probe >"$WORK/build-kfd-client.log" 2>&1 || {
    tail -n 30 "$WORK/build-kfd-client.log" >&2
    fatal "building kfd-client or hsa-probe failed (log above)"
  }
  log "building gpreempt-bpf"
  if ! cmake --build "$GP_BUILD_DIR" -j2 --target gpreempt-bpf >"$WORK/build-gpreempt-bpf.log" 2>&1; then
    tail -n 30 "$WORK/build-gpreempt-bpf.log" >&2
    echo "BUILD FAILED: gpreempt-bpf (scenarios that need it will FAIL)" >&2
    rm -f "$GP_BUILD_DIR/gpreempt-bpf"
  fi
}

# Whether kernel K gets a "K+shim" VM: 7.x gates open("/dev/kfd") on a GPU
# node (kfd_gpu_node_num() > 0), which the test-only kfd_open_shim lifts.
shim_vm() {
  ((SHIM == 1)) && [[ $1 == 7.* ]]
}

# Build tests/vm/kfd-open-shim for every kernel that boots a "+shim" VM,
# against that kernel's own headers (cached: about a second when nothing
# changed). A failed build is reported by the VM's cases, not skipped.
build_shims() {
  local k ko slog
  for k in "${KERNELS[@]}"; do
    shim_vm "$k" || continue
    [[ -n $(select_scenarios "$k" "$GLOB" shim) ]] || continue
    slog=$WORK/shim-$k.log
    if ko=$("$GP_REPO_ROOT/tests/vm/kfd-open-shim/build.sh" "$k" 2>"$slog" | tail -n1) && [[ -f $ko ]]; then
      SHIM_KO[$k]=$ko
      # What the build mapped from the kernel's compiler to the host's.
      awk -v k="$k" '
        /^== / { sub(/^== /, ""); print "SHIM " k " " $0; next }
        /^   (kernel|host) compiler:/ { sub(/^   /, ""); print "SHIM " k " " $0; next }
        /^   flags (MAPPED|DROPPED)/ { on = 1; sub(/^   /, ""); sub(/ by the gcc wrapper.*/, ""); what = $0; next }
        /^   [a-z]/ { on = 0 }
        on && /^     / { sub(/^ +/, ""); print "SHIM " k " " what ": " $0 }
      ' "$slog"
    else
      tail -n 20 "$slog" >&2
      echo "SHIM $k: building the test module kfd_open_shim FAILED (log: $slog); the $k+shim cases will FAIL"
      KEEP=1
    fi
  done
}

# Setup could not be done: say so as a failed case, keep the summary line
# format, and stop with a non-zero status.
fatal() {
  report FAIL "${2:-all}" setup "$1"
  echo "$PASSED passed, $FAILED failed"
  exit 1
}

report() {
  # $1 PASS|FAIL, $2 kernel, $3 scenario, $4 reason
  if [[ $1 == PASS ]]; then
    echo "PASS $2 $3"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $2 $3: $4"
    FAILED=$((FAILED + 1))
  fi
}

# Show a failed scenario's own output from the console log (indented lines
# between its BEGIN marker and its result).
show_output() {
  local log=$1 name=$2
  awk -v n="$name" '
    $0 == "GP-SCENARIO-BEGIN " n { on = 1; next }
    on && /^GP-RESULT / { exit }
    on && /^  \| / { print "    " substr($0, 5) }
  ' "$log" | tail -n 40
}

# CPU seconds (user + system) used so far by this shell's finished children:
# around one VM, what its qemu cost, which on a shared host says more than
# its wall time. Sets the variable named $1 (not in $(...): a subshell has
# no children yet).
children_cpu() {
  local f=$WORK/.times.$BASHPID
  times >"$f"
  printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$f")"
  rm -f "$f"
}

# Boot one VM (a kernel, or one shard of its scenarios) and turn its console
# log into PASS/FAIL lines (runs in a subshell when VMs overlap: its lines are
# counted by the caller). $1 kernel, $2 unit name (the kernel, or KERNEL#I for
# shard I), $3 the scenario glob for this VM.
run_unit() {
  local k=$1 unit=$2 glob=$3 kdir initrd log rc t0 t1 scenarios name line status reason
  # A "K+shim" VM boots kernel K with the test-only kfd_open_shim loaded after
  # amdgpu; its cases are reported as "K+shim".
  local label=$k shim_ko=""
  if [[ $unit == "$k+shim" ]]; then
    label=$unit
    shim_ko=${SHIM_KO[$k]:-}
    if [[ -z $shim_ko ]]; then
      report FAIL "$label" kfd-open-shim "the test module kfd_open_shim was not built for $k (see its build output above)"
      KEEP=1
      return 0
    fi
  fi
  kdir=$(kernel_dir "$k")
  initrd=$WORK/$unit.cpio
  log=$WORK/$unit.console.log
  if ! GP_VM_SHIM_KO=$shim_ko GP_SCENARIO_TIMEOUT=$SCENARIO_TIMEOUT "$GP_REPO_ROOT/scripts/vm/mkinitramfs.sh" "$k" "$initrd" "$glob" >"$WORK/$unit.scenarios"; then
    report FAIL "$label" initramfs "building the initramfs for $unit failed (error above)"
    KEEP=1
    return 0
  fi
  mapfile -t scenarios <"$WORK/$unit.scenarios"
  # Each scenario is bounded inside the guest; this bounds a hung guest.
  local vm_timeout=${GP_VM_TIMEOUT:-$((120 + ${#scenarios[@]} * (SCENARIO_TIMEOUT + 5)))}
  local cpu0 cpu1
  children_cpu cpu0
  t0=$(date +%s.%N)
  set +e
  timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp "${GP_VM_SMP:-1}" -m 4096 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$(cat "$kdir/vmlinuz")" -initrd "$initrd" \
    -append "$GP_VM_CMDLINE" </dev/null 2>&1 | tr -d '\r' >"$log"
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s.%N)
  children_cpu cpu1
  local cpu
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.0f", b - a }')
  local why=""
  if ((rc == 124 || rc == 137)); then
    why="VM timed out after ${vm_timeout}s"
  elif ((rc != 0)); then
    why="qemu exited with $rc"
  elif ! grep -q '^GP-DONE' "$log"; then
    why="guest stopped before finishing ($(grep -m1 -E 'Kernel panic|BUG:|Oops' "$log" || echo 'no GP-DONE marker'))"
  fi
  # Every shard loads amdgpu; the case is named once per VM.
  local load_case=load-amdgpu
  [[ $unit == "$k" || $unit == "$k#1" || $unit == "$label" ]] || load_case="load-amdgpu@${unit#*#}"
  for name in "$load_case" "${scenarios[@]}"; do
    line=$(grep -m1 "^GP-RESULT ${name%@*} " "$log" || true)
    if [[ -z $line ]]; then
      report FAIL "$label" "$name" "no result: ${why:-guest never ran it}; console log: $log"
      KEEP=1
      continue
    fi
    read -r _ _ status _ reason <<<"$line"
    if [[ $status == PASS ]]; then
      report PASS "$label" "$name"
    else
      report FAIL "$label" "$name" "$reason"
      show_output "$log" "${name%@*}"
      KEEP=1
    fi
  done
  # The shim changes kfd_gpu_node_num()'s answer and nothing else: after all
  # scenarios the kernel carries the test module's own taint (N, with O and E:
  # out of tree, unsigned) and no other (no W = no WARN fired, no D = no oops).
  if [[ -n $shim_ko ]]; then
    local taint
    taint=$(sed -n 's/^GP-INFO tainted=\([0-9]*\)$/\1/p' "$log" | tail -n1)
    if [[ -z $taint ]]; then
      report FAIL "$label" kernel-taint "no taint reported after the scenarios: ${why:-see $log}"
      KEEP=1
    elif ((taint != 0x43000)); then
      report FAIL "$label" kernel-taint "tainted=$taint ($(printf '0x%x' "$taint")), expected 0x43000 = O+E+N (the test module's own) and nothing else"
      KEEP=1
    else
      report PASS "$label" kernel-taint
    fi
  fi
  local modules boot_s
  modules=$(sed -n 's/^GP-MODULES loaded=\([0-9]*\) seconds=\(.*\)/\1 modules in \2 s/p' "$log" | head -n1)
  boot_s=$(sed -n 's/^GP-BOOT .*uptime=\([0-9.]*\).*/\1/p' "$log" | head -n1)
  printf 'TIME %s %.1f s (%s; %d scenarios; /init started at %s s; %s; qemu cpu %s s)\n' "$unit" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$(cat "$kdir/kver")" "${#scenarios[@]}" "${boot_s:-?}" \
    "${modules:-modules not loaded}" "$cpu"
  grep '^GP-INFO' "$log" | sed "s/^GP-INFO /INFO $unit /" || true
}

# The demo as a test (case "6.12 demo"): scripts/vm/demo.sh --check boots its
# own VM and fails unless kfd-client's events are on its screen within 60 s of
# the guest starting watch. Its output is shown when it fails.
run_demo() {
  local out=$WORK/demo.out rc=0 line t0 t1
  t0=$(date +%s.%N)
  # This run holds vm.lock; demo.sh must not wait for it.
  GP_VM_LOCKED=1 GP_VM_SMP=${GP_VM_SMP:-1} GP_DEMO_CONSOLE=$WORK/demo.console.log \
    "$GP_REPO_ROOT/scripts/vm/demo.sh" --check >"$out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  line=$(grep -E '^(PASS|FAIL) 6\.12 demo' "$out" | tail -n1 || true)
  if [[ $line == "PASS 6.12 demo" && $rc == 0 ]]; then
    report PASS 6.12 demo
  else
    line=${line#FAIL 6.12 demo: }
    report FAIL 6.12 demo "${line:-scripts/vm/demo.sh --check exited with $rc without a result}; output: $out"
    tail -n 40 "$out" | sed 's/^/    /'
    KEEP=1
  fi
  printf 'TIME demo %.1f s (%s)\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" \
    "$(sed -n 's/^.*==> \(time to the \)\{0,1\}//p' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^every ' | tail -n1)"
}

# The VMs to boot, one "KERNEL UNIT GLOB" line each, costliest first so the
# long ones start at once: a kernel with N shards becomes N VMs (KERNEL#1..N),
# each with an extglob naming its share; shards that would be empty are not
# booted. An unsharded kernel keeps its plain name (console log KERNEL.console.log).
plan_units() {
  local k n i list total shard f files=0 kernels=("${KERNELS[@]}")
  shopt -s nullglob extglob
  # (A GLOB without wildcards names a file that may not exist.)
  for f in "$(scenario_dir)"/$GLOB.sh; do
    [[ -f $f ]] && files=$((files + 1))
  done
  {
    # "demo": its VM spends ~30 s of guest time after amdgpu is loaded.
    # shellcheck disable=SC2053 # GLOB is a pattern
    if [[ " ${KERNELS[*]} " == *" 6.12 "* && demo == $GLOB ]]; then
      echo "30 6.12 demo demo"
      # Only the demo asked for (--scenario demo): no scenario VM.
      ((files)) || kernels=()
    fi
    for k in "${kernels[@]}"; do
      list=$(select_scenarios "$k" "$GLOB") || exit 1
      n=${SHARDS[$k]:-1}
      total=$(grep -c . <<<"$list")
      ((n <= total)) || n=$total
      if ((n <= 1)); then
        echo "$(total_cost <<<"$list") $k $k $GLOB"
      else
        for ((i = 1; i <= n; i++)); do
          shard=$(shard_scenarios "$i" "$n" <<<"$list")
          echo "$(total_cost <<<"$shard") $k $k#$i @($(cut -d' ' -f1 <<<"$shard" | paste -sd'|'))"
        done
      fi
      # 7.x: one more VM with the test-only kfd_open_shim, for the scenarios
      # headed "# gp-shim: yes|only" (none selected: no VM).
      if shim_vm "$k"; then
        list=$(select_scenarios "$k" "$GLOB" shim) || exit 1
        [[ -z $list ]] || echo "$(total_cost <<<"$list") $k $k+shim @($(cut -d' ' -f1 <<<"$list" | paste -sd'|'))"
      fi
    done
  } | sort -k1,1nr | cut -d' ' -f2-
}

# Boot the VMs, up to JOBS at a time. Each one's lines go to its own file
# and are printed as a block when it ends; PASS/FAIL are counted from them.
run_units() {
  local jobs=$JOBS k unit glob pids=() running units=()
  mapfile -t units < <(plan_units)
  ((${#units[@]})) || fatal "no scenario to run"
  ((jobs > 0)) || jobs=${#units[@]}
  for line in "${units[@]}"; do
    read -r k unit glob <<<"$line"
    while running=$(jobs -pr | wc -l) && ((running >= jobs)); do
      wait -n || true
    done
    log "booting $unit"
    (
      PASSED=0 FAILED=0 KEEP=0
      if [[ $unit == demo ]]; then
        run_demo >"$WORK/$unit.report" 2>&1
      else
        run_unit "$k" "$unit" "$glob" >"$WORK/$unit.report" 2>&1
      fi
      ((KEEP == 0)) || touch "$WORK/keep"
      cat "$WORK/$unit.report"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for line in "${units[@]}"; do
    read -r k unit glob <<<"$line"
    [[ -f $WORK/$unit.report ]] || { report FAIL "$k" vm "the VM $unit produced no report"; continue; }
    PASSED=$((PASSED + $(grep -c '^PASS ' "$WORK/$unit.report" || true)))
    FAILED=$((FAILED + $(grep -c '^FAIL ' "$WORK/$unit.report" || true)))
  done
  [[ ! -e $WORK/keep ]] || KEEP=1
}

main() {
  parse_args "$@"
  # Missing tools are a failed run, not a skipped one.
  (require_tools qemu-system-x86_64 busybox cpio modinfo xz zstd jq timeout ldd strip apt-get dpkg &&
    busybox_static >/dev/null) || fatal "the VM tier cannot run on this machine (see the error above)"
  mkdir -p "$GP_CACHE/runs"
  # One VM run at a time per cache: two TCG guests on a small machine only
  # slow each other down, and the first fetch/module staging is not shared.
  exec 9>"$GP_CACHE/vm.lock"
  if ! flock -n 9; then
    log "another VM test run holds $GP_CACHE/vm.lock; waiting for it"
    flock 9
  fi
  WORK=$(mktemp -d "$GP_CACHE/runs/$(date +%Y%m%d-%H%M%S).XXXX")
  local t0 t1 k
  t0=$(date +%s.%N)
  build
  t1=$(date +%s.%N)
  printf 'TIME build %.1f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')"
  t0=$t1
  "$GP_REPO_ROOT/scripts/vm/fetch-kernels.sh" "${KERNELS[@]}" || fatal "fetching the kernels failed (error above)"
  # Debian's real ROCm runtimes, for the scenarios that run them (rocr-*).
  if scenarios_need rocr "$GLOB"; then
    "$GP_REPO_ROOT/scripts/vm/fetch-rocr.sh" all || fatal "fetching the real ROCm runtimes failed (error above)"
  fi
  t1=$(date +%s.%N)
  printf 'TIME fetch %.1f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')"
  t0=$t1
  build_shims
  t1=$(date +%s.%N)
  printf 'TIME shim %.1f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')"
  run_units
  if ((KEEP)); then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0 && PASSED > 0))
}

main "$@"
