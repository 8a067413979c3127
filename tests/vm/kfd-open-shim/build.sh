#!/usr/bin/env bash
# Build kfd_open_shim.ko - a TEST-ONLY module for the VM tier's GPU-less qemu
# guests (see kfd_open_shim.c: it makes kfd_gpu_node_num() return 1 instead
# of 0, so open("/dev/kfd") works on 7.x without a GPU; it taints the kernel
# and refuses to load without test_only=1) - against EXACTLY the Debian 7.x
# kernel the VM tier boots, on a Debian 12 host whose gcc 12 / glibc 2.36 are
# older than the ones that kernel and its kbuild tools were built with.
# Nothing is installed on the host; the module only ever goes into a test
# guest's initramfs (scripts/vm-test.sh, the "K+shim" VM).
#
# Usage: tests/vm/kfd-open-shim/build.sh [--refresh] 7.2|7.3
#   The kernel must have been fetched by scripts/vm/fetch-kernels.sh: its
#   release and package version are read from $GP_CACHE/kernels/K/.
#   --refresh  download and unpack the headers again even if cached
# Prints the path of the built .ko as the LAST line on stdout; everything else
# (including what the gcc wrapper mapped) goes to stderr. Cached under
# $GP_CACHE/kbuild/<release>/ and reused while the inputs are unchanged
# (a cached run takes about a second and needs no network).
#
# What it does, and why:
#  1. A PRIVATE apt configuration (scripts/vm/private-apt.sh, the same one
#     fetch-kernels.sh uses: URIs copied at run time from the host's apt
#     sources, own lists/cache/empty dpkg status) resolves and downloads
#     linux-headers-<release>, linux-headers-<ver>-common and
#     linux-kbuild-<ver> of the SAME package version as the booted kernel,
#     and the suite's libc6, libelf1t64, zlib1g and libzstd1. Nothing is
#     installed: apt-get download + dpkg -x into the cache only.
#  2. The kbuild tools (modpost, objtool, ...) ship as binaries only (no
#     sources in linux-kbuild or linux-headers-common) and need glibc >= 2.38.
#     Each one the host's glibc cannot run is replaced by a two-line wrapper
#     that runs it with the suite's own dynamic loader and libraries
#     (ld-linux-x86-64.so.2 --library-path <suite libs> --argv0 ...), so the
#     module is checked by the same modpost and objtool as Debian's modules.
#  3. The kernel was built with a newer gcc (CONFIG_CC_VERSION_TEXT: gcc 16
#     for 7.2, gcc 14 for 7.3). A gcc wrapper ("kcc") MAPS
#     -fmin-function-alignment=N (gcc >= 14) to -falign-functions=N, which is
#     Kbuild's own fallback for compilers without it (the difference: gcc < 14
#     leaves __cold functions, here init/exit, unaligned), in compiles AND in
#     Kbuild's cc-option probes (otherwise every later probe fails on it).
#     Probes otherwise get the host gcc's true answer, so flags it lacks are
#     simply not used (Kbuild's own behaviour with an older gcc). In real
#     compiles an option the host gcc rejects as unrecognized is DROPPED and
#     recorded (none is, for 7.2.13 and 7.3.4). The script prints what it
#     mapped, what it dropped and which probes failed.
#  4. Module BTF is off (CONFIG_DEBUG_INFO_BTF_MODULES= on the make command
#     line): it needs pahole >= the kernel's, and the module needs no BTF.
#  5. Checks that the module's vermagic equals the kernel's own amdgpu.ko's,
#     that kfd_gpu_node_num is a function symbol there (the kretprobe's
#     target), that CONFIG_KRETPROBES is on and CONFIG_MODULE_SIG_FORCE off
#     (an unsigned module then loads, tainting 'E').
# Env: GP_CACHE, GP_SHIM_CC (host compiler, default gcc), GP_APT_TIMEOUT,
#      GP_DOWNLOAD_TIMEOUT.
set -euo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$SRC_DIR/../../../scripts/vm/common.sh"
source "$SRC_DIR/../../../scripts/vm/private-apt.sh"

APT_TIMEOUT=${GP_APT_TIMEOUT:-300}
DOWNLOAD_TIMEOUT=${GP_DOWNLOAD_TIMEOUT:-900}
HOST_CC=${GP_SHIM_CC:-gcc}
REFRESH=0
LIB_PKGS=(libc6 libelf1t64 zlib1g libzstd1)

log() {
  echo "[shim] $*" >&2
}

# The suites a kernel's headers come from: the same as its image
# (scripts/vm/fetch-kernels.sh's suites_for).
suites_for() {
  case $1 in
    7.2) echo "main:sid" ;;
    7.3) echo "main:trixie main:trixie-backports" ;;
    *) die "no suites for '$1'" ;;
  esac
}

candidate_version() {
  papt "$1" apt-cache show --no-all-versions "$2" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# Max GLIBC_x.y symbol version an ELF file needs (empty if none).
glibc_need() {
  objdump -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1
}

is_elf() {
  [[ $(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ') == '177ELF' ]]
}

# Download + unpack headers, kbuild and the suite's libraries into $top;
# wrap the tools the host glibc cannot run.
prepare_tree() {
  local top=$1 apt headers hver dep p ver deb f need host_glibc loader libdir missing stage
  apt=$GP_CACHE/kbuild/apt/$K
  setup_private_apt "$K" "$apt"
  log "apt-get update (private lists: $(awk '{print $(NF-1)}' "$apt/etc/sources.list" | xargs))"
  if ! PAPT_TIMEOUT=$APT_TIMEOUT papt "$apt" apt-get -q update >"$apt/update.log" 2>&1; then
    tail -n 20 "$apt/update.log" >&2
    die "apt-get update of the private lists failed or timed out after ${APT_TIMEOUT}s (log: $apt/update.log)"
  fi
  headers=linux-headers-$KVER
  hver=$(candidate_version "$apt" "$headers")
  [[ -n $hver ]] || die "$headers is not in $(suites_for "$K") (any more?): the archive has moved on from $KVER; run scripts/vm/fetch-kernels.sh --refresh $K"
  [[ $hver == "$WANT_VERSION" ]] ||
    die "$headers is $hver in the archive but the booted kernel is $WANT_VERSION: refusing to build against other headers; run scripts/vm/fetch-kernels.sh --refresh $K"
  local pkgs=("$headers")
  while read -r dep; do
    case $dep in
      linux-headers-*-common* | linux-kbuild-*) pkgs+=("$dep") ;;
    esac
  done < <(papt "$apt" apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$headers" 2>/dev/null | sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p' | tr -d '<>')
  ((${#pkgs[@]} >= 3)) || die "$headers does not depend on a linux-headers-*-common and a linux-kbuild-* package (got: ${pkgs[*]})"
  pkgs+=("${LIB_PKGS[@]}")
  mkdir -p "$top/debs"
  : >"$top/packages.tmp"
  for p in "${pkgs[@]}"; do
    ver=$(candidate_version "$apt" "$p")
    [[ -n $ver ]] || die "package $p has no candidate version in $(suites_for "$K")"
    case $p in
      linux-*) [[ $ver == "$hver" ]] || die "$p is $ver, not $hver like $headers" ;;
    esac
    echo "$p $ver" >>"$top/packages.tmp"
    compgen -G "$top/debs/${p}_${ver//:/%3a}_*.deb" >/dev/null && continue
    log "downloading $p $ver"
    if ! (cd "$top/debs" && PAPT_TIMEOUT=$DOWNLOAD_TIMEOUT papt "$apt" apt-get -q download "$p=$ver" >"$top/download.log" 2>&1); then
      tail -n 20 "$top/download.log" >&2
      die "download of $p $ver failed or timed out after ${DOWNLOAD_TIMEOUT}s"
    fi
  done
  stage=$top/root.tmp
  rm -rf "$stage" "$top/libroot.tmp"
  mkdir -p "$stage" "$top/libroot.tmp"
  while read -r p ver; do
    deb=$(compgen -G "$top/debs/${p}_${ver//:/%3a}_*.deb" | head -n1)
    [[ -n $deb ]] || die "$p $ver was not downloaded"
    case $p in
      linux-*) dpkg -x "$deb" "$stage" || die "dpkg -x $deb failed" ;;
      *) dpkg -x "$deb" "$top/libroot.tmp" || die "dpkg -x $deb failed" ;;
    esac
  done <"$top/packages.tmp"
  local hdir=$stage/usr/src/linux-headers-$KVER
  [[ -f $hdir/Makefile && -f $hdir/.config ]] || die "$headers has no usr/src/linux-headers-$KVER/{Makefile,.config}"
  # The arch Makefile includes the common tree by its absolute install path.
  sed -i "s#/usr/src/#$top/root/usr/src/#g" "$hdir/Makefile"
  if grep -rlsF '/usr/src/linux-headers' "$stage/usr/src" --include='Makefile*' | grep -v "^$hdir/Makefile$" | grep -q .; then
    die "other absolute /usr/src paths in the headers: $(grep -rlsF '/usr/src/linux-headers' "$stage/usr/src" --include='Makefile*' | xargs)"
  fi
  # Wrap every kbuild binary the host glibc cannot run.
  libdir=$top/libroot/usr/lib/x86_64-linux-gnu
  loader=$libdir/ld-linux-x86-64.so.2
  [[ -x $top/libroot.tmp/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]] || die "libc6 of $(suites_for "$K") has no usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
  host_glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  : >"$top/wrapped.tmp"
  while read -r f; do
    is_elf "$f" || continue
    need=$(glibc_need "$f")
    [[ -n $need ]] || continue
    [[ $(printf '%s\n%s\n' "$need" "$host_glibc" | sort -V | tail -n1) == "$host_glibc" ]] && continue
    mv "$f" "$f.suite-elf"
    # --argv0 keeps argv[0] = the wrapper's path, so the tools' own messages
    # and any argv[0]-relative lookups stay as they were.
    printf '#!/bin/sh\n# kfd-open-shim/build.sh: %s needs glibc %s (host: %s); run it with its suite'"'"'s loader + libs\nexec %s --library-path %s --argv0 "$0" "$0.suite-elf" "$@"\n' \
      "${f##*/}" "$need" "$host_glibc" "$loader" "$libdir" >"$f"
    chmod 0755 "$f"
    echo "${f#"$stage"/} (needs GLIBC_$need)" >>"$top/wrapped.tmp"
    # Every library it needs must resolve in the suite's lib dir.
    missing=$("$top/libroot.tmp/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$top/libroot.tmp/usr/lib/x86_64-linux-gnu" --list "$f.suite-elf" 2>&1 | grep 'not found' || true)
    [[ -z $missing ]] || die "${f##*/} needs libraries not in ${LIB_PKGS[*]}: $missing"
  done < <(find "$stage/usr/lib" -path '*/linux-kbuild-*' -type f -perm -u+x)
  rm -rf "$top/root" "$top/libroot"
  mv "$stage" "$top/root"
  mv "$top/libroot.tmp" "$top/libroot"
  [[ -n $(find "$top/root/usr/lib" -path '*/scripts/mod/modpost' -type f | head -n1) ]] || die "no scripts/mod/modpost in the kbuild package"
  mv "$top/wrapped.tmp" "$top/wrapped"
  mv "$top/packages.tmp" "$top/packages"
  date -u +%FT%TZ >"$top/complete"
}

# The gcc wrapper (see the header comment, point 3).
write_kcc() {
  local top=$1
  mkdir -p "$top/bin"
  {
    cat <<EOF
#!/bin/bash
# kfd-open-shim/build.sh's gcc wrapper for $KVER (kernel: $CC_TEXT; host: $HOST_CC_TEXT).
real=$HOST_CC
EOF
    cat <<'EOF'
state=${KCC_STATE:?KCC_STATE not set}
probe=0
args=()
for a in "$@"; do
  [[ $a == /dev/null ]] && probe=1
  case $a in
    # gcc >= 14 only; Kbuild itself uses -falign-functions=N when the
    # compiler lacks it (only __cold functions then stay unaligned).
    -fmin-function-alignment=*)
      args+=("-falign-functions=${a#*=}")
      echo "$a -> -falign-functions=${a#*=}" >"$state/mapped.${a#*=}"
      continue ;;
  esac
  args+=("$a")
done
if ((probe)); then
  # A Kbuild probe (cc-option, cc-disable-warning, ...): the host gcc's true
  # answer. The probed flag is the last argument before "-c".
  LC_ALL=C "$real" "${args[@]}" 2>"$state/probe.err.$$"
  rc=$?
  if ((rc != 0)); then
    for ((i = 0; i < ${#args[@]}; i++)); do
      [[ ${args[i]} == -c ]] && { echo "${args[i-1]}" >>"$state/probes.failed"; break; }
    done
  fi
  cat "$state/probe.err.$$" >&2
  rm -f "$state/probe.err.$$"
  exit $rc
fi
touch "$state/dropped"
for try in 1 2 3 4 5 6 7 8; do
  mapfile -t known <"$state/dropped"
  if ((${#known[@]})); then
    new=()
    for a in "${args[@]}"; do printf '%s\n' "${known[@]}" | grep -qxF -- "$a" || new+=("$a"); done
    args=("${new[@]}")
  fi
  err=$(mktemp "$state/err.XXXXXX")
  LC_ALL=C "$real" "${args[@]}" 2>"$err"
  rc=$?
  if ((rc == 0)); then cat "$err" >&2; rm -f "$err"; exit 0; fi
  mapfile -t bad < <(sed -n "s/.*error: unrecognized command-line option '\([^']*\)'.*/\1/p; s/.*error: unrecognized argument in option '\([^']*\)'.*/\1/p" "$err" | sort -u)
  if ((${#bad[@]} == 0)); then cat "$err" >&2; rm -f "$err"; exit $rc; fi
  rm -f "$err"
  for b in "${bad[@]}"; do grep -qxF -- "$b" "$state/dropped" || echo "$b" >>"$state/dropped"; done
done
echo "kcc: still failing after dropping $(paste -sd' ' "$state/dropped")" >&2
exit 1
EOF
  } >"$top/bin/kcc.tmp"
  chmod 0755 "$top/bin/kcc.tmp"
  # Rewritten only when it changed, so its mtime does not rebuild anything.
  if cmp -s "$top/bin/kcc.tmp" "$top/bin/kcc"; then rm -f "$top/bin/kcc.tmp"; else mv "$top/bin/kcc.tmp" "$top/bin/kcc"; fi
}

# vermagic and the probe target, checked against the kernel's own amdgpu.ko
# (decompressing it costs seconds under load: the result is kept per input).
check_against_kernel() {
  local top=$1 ko=$2 amdgpu ver key tmp want
  amdgpu=$(find "$KDIR/root" -path "*/modules/$KVER/*" -name 'amdgpu.ko*' -print -quit)
  [[ -n $amdgpu ]] || die "no amdgpu.ko for $KVER in $KDIR/root"
  ver=$(modinfo -F vermagic "$ko")
  key=$(cat "$ko" "$KDIR/packages" | sha256sum | cut -c1-16)
  if [[ -f $top/build/checked && $(cat "$top/build/checked") == "$key" ]]; then
    echo "   vermagic: '$ver' (= amdgpu.ko's; kfd_gpu_node_num is a function in amdgpu.ko; checked before)" >&2
    return 0
  fi
  tmp=$(mktemp --suffix=.ko)
  case $amdgpu in
    *.xz) xz -dc "$amdgpu" >"$tmp" ;;
    *.zst) zstd -qdc "$amdgpu" >"$tmp" ;;
    *) cp "$amdgpu" "$tmp" ;;
  esac
  want=$(modinfo -F vermagic "$tmp")
  if [[ -z $(nm "$tmp" 2>/dev/null | awk '$3 == "kfd_gpu_node_num" && ($2 == "T" || $2 == "t")') ]]; then
    rm -f "$tmp"
    die "amdgpu.ko of $KVER has no function symbol kfd_gpu_node_num: the kretprobe cannot attach (did the 7.x gate move?)"
  fi
  rm -f "$tmp"
  [[ $ver == "$want" ]] || die "vermagic mismatch: module '$ver', kernel's amdgpu.ko '$want'"
  echo "$key" >"$top/build/checked"
  echo "   vermagic: '$ver' (= amdgpu.ko's; kfd_gpu_node_num is a function in amdgpu.ko)" >&2
}

main() {
  local top hdir t0 t1 ko cfg key
  K=""
  while (($#)); do
    case $1 in
      --refresh) REFRESH=1 ;;
      -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      -*) die "unknown option $1" ;;
      *) [[ -z $K ]] || die "one KERNEL only"; K=$1 ;;
    esac
    shift
  done
  case $K in
    7.2 | 7.3) ;;
    6.*) die "$K has no 'no gpu node' check (open(/dev/kfd) works there): no shim needed" ;;
    *) die "usage: build.sh [--refresh] 7.2|7.3" ;;
  esac
  require_tools apt-get apt-cache dpkg dpkg-deb timeout make objdump nm modinfo flock sha256sum xz zstd "$HOST_CC"
  KDIR=$(kernel_dir "$K")
  [[ -f $KDIR/complete && -f $KDIR/kver ]] || die "kernel $K is not fetched; run scripts/vm/fetch-kernels.sh $K"
  KVER=$(cat "$KDIR/kver")
  # The image/modules package's version, e.g. 7.2.13-1: the headers must match it.
  WANT_VERSION=$(awk -v r="$KVER" '$1 == "linux-binary-unsigned-" r || $1 == "linux-image-" r "-unsigned" || $1 == "linux-modules-" r { print $2; exit }' "$KDIR/packages")
  [[ -n $WANT_VERSION ]] || die "no image/modules package for $KVER in $KDIR/packages"
  top=$GP_CACHE/kbuild/$KVER
  mkdir -p "$top"
  exec 8>"$top/.lock"
  flock 8
  log "$K: $KVER, package version $WANT_VERSION"
  if [[ ! -f $top/complete || $REFRESH == 1 ]] || ! grep -qxF "linux-headers-$KVER $WANT_VERSION" "$top/packages"; then
    rm -f "$top/complete"
    t0=$(date +%s.%N)
    prepare_tree "$top"
    log "headers, kbuild and libraries ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  fi
  hdir=$top/root/usr/src/linux-headers-$KVER
  cfg=$hdir/.config
  grep -q '^CONFIG_KRETPROBES=y' "$cfg" || die "$KVER has no CONFIG_KRETPROBES"
  if grep -q '^CONFIG_MODULE_SIG_FORCE=y' "$cfg"; then
    die "$KVER enforces module signatures (CONFIG_MODULE_SIG_FORCE=y): an unsigned test module cannot load"
  fi
  CC_TEXT=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"/\1/p' "$cfg")
  HOST_CC_TEXT=$("$HOST_CC" --version | head -n1)
  write_kcc "$top"

  # Rebuild only when the module source, this script, the tree or the
  # compiler changed.
  key=$(cat "$SRC_DIR/kfd_open_shim.c" "$SRC_DIR/Kbuild" "$0" "$top/complete" "$top/bin/kcc" | sha256sum | cut -c1-16)
  ko=$top/build/kfd_open_shim.ko
  if [[ -f $ko && -f $top/build/.key && $(cat "$top/build/.key") == "$key" ]]; then
    log "module cached (inputs unchanged)"
  else
    rm -rf "$top/build"
    mkdir -p "$top/build/kcc"
    cp "$SRC_DIR/kfd_open_shim.c" "$SRC_DIR/Kbuild" "$top/build/"
    log "building with $HOST_CC_TEXT (kernel built with $CC_TEXT)"
    t0=$(date +%s.%N)
    if ! KCC_STATE=$top/build/kcc make -C "$hdir" M="$top/build" CC="$top/bin/kcc" \
      CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$top/build/make.log" 2>&1; then
      tail -n 40 "$top/build/make.log" >&2
      die "module build failed (log: $top/build/make.log)"
    fi
    t1=$(date +%s.%N)
    [[ -f $ko ]] || die "make succeeded but $ko is missing (log: $top/build/make.log)"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$top/build/seconds"
    echo "$key" >"$top/build/.key"
  fi

  # What differs from the kernel's own toolchain, every time (cached or not).
  {
    echo "== kfd_open_shim (TEST ONLY) for $KVER: built in $(cat "$top/build/seconds") s"
    echo "   kernel compiler: $CC_TEXT"
    echo "   host compiler:   $HOST_CC_TEXT"
    echo "   packages:"
    sed 's/^/     /' "$top/packages"
    echo "   kbuild tools run through the suite's loader (host glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}')):"
    sed 's/^/     /' "$top/wrapped"
    echo "   flags MAPPED by the gcc wrapper:"
    if compgen -G "$top/build/kcc/mapped.*" >/dev/null; then cat "$top/build/kcc"/mapped.* | sort -u | sed 's/^/     /'; else echo "     (none)"; fi
    echo "   flags DROPPED by the gcc wrapper (unrecognized by the host gcc in a real compile):"
    if [[ -s $top/build/kcc/dropped ]]; then sed 's/^/     /' "$top/build/kcc/dropped"; else echo "     (none)"; fi
    echo "   cc-option probes the host gcc failed (so these flags are NOT used):"
    if [[ -s $top/build/kcc/probes.failed ]]; then sort -u "$top/build/kcc/probes.failed" | sed 's/^/     /'; else echo "     (none)"; fi
    echo "   module BTF: off (CONFIG_DEBUG_INFO_BTF_MODULES= on the make command line)"
    echo "   warnings (count, message):"
    grep -o 'warning: .*' "$top/build/make.log" | sort | uniq -c | sort -rn | sed 's/^ */     /' || echo "     (none)"
  } >&2
  check_against_kernel "$top" "$ko"
  echo "$ko"
}

main "$@"
