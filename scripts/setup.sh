#!/usr/bin/env bash
# Installs every dependency from Debian packages and builds into build/.
# Running it again is harmless: installed packages are skipped, the build is
# incremental.
#
# Usage: sudo scripts/setup.sh [--run] [--no-install]
#   --run         build only what the main job needs, then run it:
#                 `gpreempt-bpf watch` on a host with amdgpu; on a host without
#                 an AMD GPU, say so and show watch against the real driver
#                 inside a VM (scripts/vm/demo.sh). Without --run everything
#                 is built, tests included (scripts/test.sh runs it so).
#   --no-install  only build (dependencies already present)
# Env: GP_BUILD_DIR (default build/)
set -euo pipefail

T0=${EPOCHREALTIME//[!0-9]/}  # microseconds: the demo counts its first event from here
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GP_BUILD_DIR:-$REPO/build}
RUN=0
INSTALL=1

for arg in "$@"; do
  case $arg in
    --run) RUN=1 ;;
    --no-install) INSTALL=0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg (see --help)" >&2; exit 64 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

# Package lists: the build's, and the VM tier's (qemu, busybox, kmod...).
wanted_packages() {
  grep -hv '^\s*\(#\|$\)' "$REPO/scripts/deps.txt" "$REPO/scripts/vm/deps.txt" 2>/dev/null | sort -u
}

install_packages() {
  local missing=()
  local pkg
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < <(wanted_packages)
  if ((${#missing[@]} == 0)); then
    say "all $(wanted_packages | wc -l) Debian packages already installed"
    return
  fi
  [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}): run as root (sudo) so apt-get can install them"
  say "installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
  timeout 1200 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install failed for: ${missing[*]}"
}

# What the main job runs: the binary; without amdgpu also the demo's
# kfd-client, which brings the stand-in ROCm runtime the guest gets too
# (scripts/vm/mkinitramfs.sh). Building every test first cost minutes.
main_job_targets() {
  echo gpreempt-bpf
  [[ -d /sys/module/amdgpu ]] || echo kfd-client
}

build() {
  local targets=() t0=${EPOCHREALTIME//[!0-9]/} t1
  if ((RUN)); then
    mapfile -t targets < <(main_job_targets)
    say "building ${targets[*]} into $BUILD_DIR (the tests are built by scripts/test.sh)"
    targets=(--target "${targets[@]}")
  else
    say "building into $BUILD_DIR"
  fi
  # Ninja for a new build directory: it keeps both cores busy to the end
  # (make builds its goals one after the other). An existing one keeps its
  # generator: cmake refuses to switch.
  local generator=()
  [[ ! -f $BUILD_DIR/CMakeCache.txt ]] && command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$REPO" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" "${targets[@]}"
  t1=${EPOCHREALTIME//[!0-9]/}
  BUILD_SECONDS=$(secs "$t0" "$t1")
  say "built $BUILD_DIR/gpreempt-bpf ($BUILD_SECONDS s)"
}

# Without amdgpu the main job boots Debian's 6.12 kernel (scripts/vm/demo.sh):
# download and unpack it while the build runs, the network beside the
# compiler. fetch-kernels.sh locks the kernel's cache entry, so this cannot
# collide with a VM test run fetching the same kernel.
start_prefetch() {
  [[ -d /sys/module/amdgpu ]] && return 0
  PREFETCH_LOG=$(mktemp "${TMPDIR:-/tmp}/gp-prefetch.XXXXXX")
  PREFETCH_T0=${EPOCHREALTIME//[!0-9]/}
  say "fetching the demo's 6.12 kernel beside the build (log: $PREFETCH_LOG)"
  (
    rc=0
    "$REPO/scripts/vm/fetch-kernels.sh" 6.12 || rc=$?
    echo "${EPOCHREALTIME//[!0-9]/}" >"$PREFETCH_LOG.end"  # when it finished
    exit "$rc"
  ) >"$PREFETCH_LOG" 2>&1 &
  PREFETCH_PID=$!
  trap '[[ -z ${PREFETCH_PID:-} ]] || kill "$PREFETCH_PID" 2>/dev/null; rm -f "$PREFETCH_LOG" "$PREFETCH_LOG.end"' EXIT
}

# Wait for that fetch; its time, and how much of it came after the build, go
# into the demo's breakdown of the time to the first event.
finish_prefetch() {
  [[ -n ${PREFETCH_PID:-} ]] || return 0
  local rc=0 t_wait t_end
  t_wait=${EPOCHREALTIME//[!0-9]/}
  wait "$PREFETCH_PID" || rc=$?
  PREFETCH_PID=""
  cat "$PREFETCH_LOG" >&2
  t_end=$(cat "$PREFETCH_LOG.end" 2>/dev/null || echo "$t_wait")
  rm -f "$PREFETCH_LOG" "$PREFETCH_LOG.end"
  ((rc == 0)) || die "fetching the 6.12 kernel failed (its output is above)"
  export GP_PREFETCH_NOTE
  GP_PREFETCH_NOTE="kernel fetch $(secs "$PREFETCH_T0" "$t_end") s beside the build"
  ((t_end <= t_wait)) || GP_PREFETCH_NOTE+=" ($(secs "$t_wait" "$t_end") s of it after the build)"
}

secs() { printf '%d.%d' $((($2 - $1) / 1000000)) $((($2 - $1) % 1000000 / 100000)); }

run_main_job() {
  if [[ -d /sys/module/amdgpu ]]; then
    say "amdgpu is loaded: running gpreempt-bpf watch (Ctrl-C to stop)"
    exec "$BUILD_DIR/gpreempt-bpf" watch
  fi
  cat >&2 <<'MSG'

  *** This host has no AMD GPU driver (no /sys/module/amdgpu): there is nothing
  *** to trace here. Instead, gpreempt-bpf now runs against the REAL amdgpu/KFD
  *** driver of a stock Debian 6.12 kernel booted under qemu (no GPU in the VM
  *** either: KFD processes, ioctls and the debugger API run for real; queues
  *** themselves need a GPU). The first run downloads the kernel (~100 MB),
  *** beside the build.

MSG
  finish_prefetch
  # The demo's first-event line counts from this script's start.
  GP_FIRST_RUN_T0=$T0 GP_BUILD_SECONDS=$BUILD_SECONDS exec "$REPO/scripts/vm/demo.sh"
}

((INSTALL)) && install_packages
((RUN)) && start_prefetch
build
((RUN)) && run_main_job
exit 0
