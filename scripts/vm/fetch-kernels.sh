#!/usr/bin/env bash
# Fetch the stock Debian kernels the VM tier boots (6.1 from bookworm, 6.12
# from trixie, 7.2 from sid; opt-in 7.3 from trixie-backports), by package name, through a PRIVATE apt
# configuration: its own sources, lists, cache and (empty) dpkg status, and
# none of the host's apt.conf.d hooks. The host's apt state is never read for
# resolution and never written; nothing is installed. The archive URIs are
# copied at run time from the host's own apt sources, so no registry host name
# lives in this repository.
#
# Usage: scripts/vm/fetch-kernels.sh [--refresh] [6.1|6.12|7.2|7.3|all]...
#   --refresh  re-resolve package names even when a kernel is cached
# Result per kernel, under ${XDG_CACHE_HOME:-~/.cache}/gpreempt-bpf/kernels/K/:
#   root/      the unpacked packages (dpkg -x)
#   kver       the kernel release (uname -r inside the guest)
#   vmlinuz    path of the kernel image
#   packages   "name version" of every package unpacked
#   complete   stamp: written last, so a half-done fetch is redone
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

APT_TIMEOUT=${GP_APT_TIMEOUT:-300}        # seconds for one apt-get update
DOWNLOAD_TIMEOUT=${GP_DOWNLOAD_TIMEOUT:-900} # seconds for one package download
REFRESH=0

# Debian suites per kernel; "security" means the security archive's URI.
suites_for() {
  case $1 in
    6.1) echo "main:bookworm security:bookworm-security" ;;
    6.12) echo "main:trixie" ;;
    7.2) echo "main:sid" ;;
    # trixie-backports' newest line (opt-in, not in "all": docs/kernels.md).
    7.3) echo "main:trixie main:trixie-backports" ;;
  esac
}

# Name of the package that carries the kernel image, as an ERE. The ABI
# number moves with every Debian upload, so it is resolved at run time.
image_regex_for() {
  case $1 in
    6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
    # 6.12 (trixie) ships one image package; 7.x (sid) splits the image
    # (linux-binary-unsigned-*) from the modules (linux-modules-*).
    6.12) echo '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$' ;;
    7.2) echo '^linux-binary-unsigned-7\.2\.[0-9]+\+deb[0-9]+-amd64$' ;;
    7.3) echo '^linux-binary-unsigned-7\.3\.[0-9]+\+deb[0-9]+-amd64$' ;;
  esac
}

candidate_version() {
  papt "$1" apt-cache show --no-all-versions "$2" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# Highest-versioned package whose name matches the ERE.
resolve_image() {
  local dir=$1 re=$2 name ver best="" bestver=""
  while read -r name; do
    ver=$(candidate_version "$dir" "$name")
    [[ -n $ver ]] || continue
    if [[ -z $best ]] || dpkg --compare-versions "$ver" gt "$bestver"; then
      best=$name
      bestver=$ver
    fi
  done < <(papt "$dir" apt-cache pkgnames linux- | grep -E "$re" | sort)
  echo "$best"
}

# The image package, its direct dependencies built for the same ABI
# (7.x: linux-base-ABI) and, where the modules are split out (7.x), the
# linux-modules-ABI package, which nothing but the metapackage depends on.
packages_for() {
  local dir=$1 image=$2 abi dep
  abi=${image#linux-image-}
  abi=${abi#linux-binary-unsigned-}
  abi=${abi%-unsigned}
  {
    echo "$image"
    papt "$dir" apt-cache depends --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "$image" 2>/dev/null |
      sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p' | tr -d '<>' | while read -r dep; do
      if [[ $dep == *"-$abi" && $dep == linux-* ]]; then echo "$dep"; fi
    done
    if [[ $image == linux-binary-* ]]; then
      [[ -n $(candidate_version "$dir" "linux-modules-$abi") ]] ||
        die "$k: $image has no linux-modules-$abi package to go with it"
      echo "linux-modules-$abi"
    fi
  } | awk '!seen[$0]++'
}

fetch_one() {
  local k=$1 kdir apt_dir debs image pkgs p ver t0 t1 bytes kver vmlinuz
  kdir=$(kernel_dir "$k")
  if [[ -f $kdir/complete && $REFRESH == 0 ]]; then
    log "$k: cached ($(cat "$kdir/kver"))"
    return 0
  fi
  apt_dir=$GP_CACHE/apt/$k
  debs=$GP_CACHE/debs/$k
  mkdir -p "$debs"
  setup_private_apt "$k" "$apt_dir"
  t0=$(date +%s.%N)
  log "$k: apt-get update (private lists: $(awk '{print $(NF-1)}' "$apt_dir/etc/sources.list" | xargs))"
  if ! PAPT_TIMEOUT=$APT_TIMEOUT papt "$apt_dir" apt-get -q update >"$apt_dir/update.log" 2>&1; then
    tail -n 20 "$apt_dir/update.log" >&2
    die "$k: apt-get update of the private lists failed or timed out after ${APT_TIMEOUT}s (log: $apt_dir/update.log); check the network and the host's apt sources"
  fi
  if grep -qE '^(W|E): ' "$apt_dir/update.log"; then
    grep -E '^(W|E): ' "$apt_dir/update.log" >&2
  fi
  image=$(resolve_image "$apt_dir" "$(image_regex_for "$k")")
  [[ -n $image ]] || die "$k: no package matching $(image_regex_for "$k") in $(suites_for "$k"); Debian may have moved to another kernel version (cached kernels keep working)"
  mapfile -t pkgs < <(packages_for "$apt_dir" "$image")
  log "$k: packages: ${pkgs[*]}"
  : >"$debs/.want"
  for p in "${pkgs[@]}"; do
    ver=$(candidate_version "$apt_dir" "$p")
    [[ -n $ver ]] || die "$k: package $p has no candidate version"
    echo "$p $ver" >>"$debs/.want"
    # apt-get download names the file NAME_VERSION_ARCH.deb with ':' as %3a.
    if compgen -G "$debs/${p}_${ver//:/%3a}_*.deb" >/dev/null; then
      continue
    fi
    log "$k: downloading $p $ver"
    if ! (cd "$debs" && PAPT_TIMEOUT=$DOWNLOAD_TIMEOUT papt "$apt_dir" apt-get -q download "$p=$ver" >"$apt_dir/download.log" 2>&1); then
      tail -n 20 "$apt_dir/download.log" >&2
      die "$k: download of $p $ver failed or timed out after ${DOWNLOAD_TIMEOUT}s"
    fi
  done
  t1=$(date +%s.%N)
  bytes=0
  rm -rf "$kdir"
  mkdir -p "$kdir/root"
  while read -r p ver; do
    local deb
    deb=$(compgen -G "$debs/${p}_${ver//:/%3a}_*.deb" | head -n1)
    [[ -n $deb ]] || die "$k: $p $ver was not downloaded"
    bytes=$((bytes + $(stat -c %s "$deb")))
    dpkg -x "$deb" "$kdir/root" || die "$k: dpkg -x $deb failed"
  done <"$debs/.want"
  cp "$debs/.want" "$kdir/packages"
  # The module tree is /lib/modules (6.x) or /usr/lib/modules (merged /usr).
  kver=$(find "$kdir/root" -maxdepth 4 -path '*/lib/modules/*' -type d -name '[0-9]*' -printf '%f\n' | head -n1)
  [[ -n $kver ]] || die "$k: no lib/modules/<release> directory in ${pkgs[*]}"
  for vmlinuz in "$kdir/root/boot/vmlinuz-$kver" "$kdir/root/usr/lib/modules/$kver/vmlinuz.unsigned" \
    "$kdir/root/usr/lib/modules/$kver/vmlinuz" "$kdir/root/lib/modules/$kver/vmlinuz"; do
    [[ -f $vmlinuz ]] && break
  done
  [[ -f $vmlinuz ]] || die "$k: no kernel image (vmlinuz) found for $kver in ${pkgs[*]}"
  [[ -n $(find "$kdir/root" -path "*/modules/$kver/*" -name 'amdgpu.ko*' -print -quit) ]] ||
    die "$k: amdgpu.ko is not in ${pkgs[*]}"
  echo "$kver" >"$kdir/kver"
  echo "$vmlinuz" >"$kdir/vmlinuz"
  printf 'download_bytes %s\ndownload_seconds %.1f\n' "$bytes" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" >"$kdir/fetch.info"
  touch "$kdir/complete"
  log "$k: $kver ready ($((bytes / 1048576)) MiB of packages, fetched in $(awk '/seconds/{print $2}' "$kdir/fetch.info") s)"
  # Keep only the .debs of the current version: old ones are dead weight.
  (cd "$debs" && for f in *.deb; do
    grep -qF "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)" .want || rm -f "$f"
  done)
}

# One fetch of a kernel at a time per cache: scripts/setup.sh --run fetches
# the demo's kernel beside the build, outside vm.lock, and a VM test run may
# fetch the same one; both rm -rf and unpack the same directory.
fetch_locked() {
  local lock
  mkdir -p "$GP_CACHE/kernels"
  exec {lock}>"$GP_CACHE/kernels/.$1.lock"
  flock "$lock"
  fetch_one "$1"
  exec {lock}>&-
}

main() {
  local args=() k
  while (($#)); do
    case $1 in
      --refresh) REFRESH=1 ;;
      -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  ((${#args[@]})) || args=(all)
  require_tools apt-get apt-cache dpkg dpkg-deb timeout
  for k in $(expand_kernels "${args[@]}"); do
    fetch_locked "$k"
  done
}

main "$@"
