#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, builds, then runs
# every tier of the testing ladder. No tier is skipped: one that cannot run
# fails, loudly.
#   1. unit     GoogleTest on logic, fakes where a device would be (ctest, not labelled native)
#   2. native   real BPF on this machine's kernel: uprobes, ring buffer, ptrace (ctest -L native;
#               its rocr_fixture test fetches Debian's real ROCm runtimes first, scripts/vm/fetch-rocr.sh)
#   3. vm       qemu boots Debian 6.1 / 6.12 / 7.2 with the real amdgpu.ko (scripts/vm-test.sh)
# Usage: sudo scripts/test.sh [--tier unit|native|vm]...   (default: all three)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GP_BUILD_DIR:-$REPO/build}
TIERS=()
while (($#)); do
  case $1 in
    --tier) TIERS+=("${2:?--tier needs unit, native or vm}"); shift ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 64 ;;
  esac
  shift
done
((${#TIERS[@]})) || TIERS=(unit native vm)

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ctest prints "NN% tests passed, F tests failed out of T"; a run that found no
# test at all is a failure of the tier, not a pass.
run_ctest() {
  local name=$1
  shift
  local log
  log=$(mktemp)
  local start=$SECONDS rc=0
  (cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 "$@") 2>&1 | tee "$log" || rc=$?
  local line total failed
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [[ -z $line ]]; then
    SUMMARY+=("FAIL tier $name: ctest ran no test (rc=$rc)")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    rm -f "$log"
    return
  fi
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  TOTAL_PASS=$((TOTAL_PASS + total - failed))
  TOTAL_FAIL=$((TOTAL_FAIL + failed))
  SUMMARY+=("tier $name: $((total - failed)) passed, $failed failed ($((SECONDS - start)) s)")
  rm -f "$log"
}

run_vm() {
  local log start=$SECONDS rc=0
  log=$(mktemp)
  "$REPO/scripts/vm-test.sh" --no-build --kernel all 2>&1 | tee "$log" || rc=$?
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
  if [[ -z $line ]]; then
    SUMMARY+=("FAIL tier vm: scripts/vm-test.sh did not finish (rc=$rc); see its output above")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
  else
    local p f
    p=${line%% passed*}
    f=$(sed -E 's/.*passed, ([0-9]+) failed/\1/' <<<"$line")
    TOTAL_PASS=$((TOTAL_PASS + p))
    TOTAL_FAIL=$((TOTAL_FAIL + f))
    if ((rc != 0 && f == 0)); then
      TOTAL_FAIL=$((TOTAL_FAIL + 1))
      SUMMARY+=("FAIL tier vm: exit code $rc although no case failed")
    fi
    SUMMARY+=("tier vm: $p passed, $f failed ($((SECONDS - start)) s)")
  fi
  rm -f "$log"
}

say "set-up: dependencies and build"
"$REPO/scripts/setup.sh"

for tier in "${TIERS[@]}"; do
  case $tier in
    # Unit tests are independent processes (most of their time is starting
    # one): all cores. The native tier stays serial: it times real BPF.
    unit) say "tier 1: unit tests"; run_ctest unit -LE native -j"$(nproc)" ;;
    native)
      say "tier 2: native BPF tests on $(uname -r)"
      if [[ $(id -u) -ne 0 ]]; then
        SUMMARY+=("FAIL tier native: needs root (BPF programs, uprobes, ptrace): run scripts/test.sh with sudo")
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
      else
        run_ctest native -L native
      fi
      ;;
    vm) say "tier 3: VM, real amdgpu on Debian 6.1 / 6.12 / 7.2"; run_vm ;;
    *) echo "test.sh: unknown tier $tier" >&2; exit 64 ;;
  esac
done

echo
say "summary"
printf '  %s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
((TOTAL_FAIL == 0))
