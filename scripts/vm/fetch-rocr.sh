#!/usr/bin/env bash
# Fetch Debian's real ROCm runtime (ROCr, package libhsa-runtime64-1) as a test
# fixture, one per Debian suite, by package name, through the same PRIVATE apt
# configuration as fetch-kernels.sh (private-apt.sh: its own sources, lists,
# cache and empty dpkg status; the archive URIs are copied at run time from the
# host's apt sources). Nothing is installed: packages are `apt-get download`ed
# and `dpkg -x`ed into the cache.
#
# Usage: scripts/vm/fetch-rocr.sh [--refresh] [bookworm|trixie|sid|experimental|all]...
#   --refresh  re-resolve even when a label is cached
# Labels: bookworm (ROCr 5.2.3), trixie (6.1.2), sid (6.4.3 today), experimental
# (the newest ROCr of experimental and sid: 7.2.4 today).
# Env: GP_APT_TIMEOUT (seconds for one apt-get update, default 300),
#      GP_DOWNLOAD_TIMEOUT (seconds for one package download, default 900).
# Result per label, under ${XDG_CACHE_HOME:-~/.cache}/gpreempt-bpf/rocr/LABEL/:
#   root/          the unpacked packages (dpkg -x): ROCr and its whole run-time
#                  closure from the same suite, the suite's libc and loader
#                  included, so nothing is taken from the host
#   packages       "name version" of every package unpacked into root/
#   version        the upstream ROCr version ("6.4.3")
#   libhsa         libhsa-runtime64.so.1, relative to root/
#   loader         the suite's ld.so, relative to root/
#   libpath        the library directories, relative to root/, ':'-separated
#   runtime-files  the loader and every object libhsa loads (NEEDED, transitively),
#                  relative to root/: each soname symlink and the file it names
#                  (what a guest or a minimal chroot needs; copy with cp -P)
#   run            wrapper: `run PROG ARGS...` runs PROG under the suite's
#                  loader and libraries with HSA_PROBE_LIB set
#   elfcheck       every NEEDED soname found in root/ with the symbol versions used
#   fetch.info     download bytes and seconds
#   complete       stamp with the layout version, written last: a half-done or
#                  older-layout fetch is redone
#
# Why the whole closure: 6.1.2 and later need glibc >= 2.38 and libstdc++ from
# GCC >= 14, newer than Debian 12's, and a program can only use another libc
# through that libc's own loader. Taking every library from the suite makes
# all four labels run the same way (under their own loader) and the fixture
# independent of what the host has installed. The closure is resolved by
# `apt-get -s install libhsa-runtime64-1=VER` against the empty private status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

APT_TIMEOUT=${GP_APT_TIMEOUT:-300}
DOWNLOAD_TIMEOUT=${GP_DOWNLOAD_TIMEOUT:-900}
ROOT_PKG=libhsa-runtime64-1
ALL_LABELS=(bookworm trixie sid experimental)
LAYOUT=3
REFRESH=0

log() {
  echo "[rocr] $*" >&2
}

# Debian suites per label; "security" means the security archive's URI.
suites_for() {
  case $1 in
    bookworm) echo "main:bookworm security:bookworm-security" ;;
    trixie) echo "main:trixie security:trixie-security" ;;
    sid) echo "main:sid" ;;
    # experimental holds only what was uploaded there; the rest of the
    # closure comes from sid, as on a real sid + experimental system.
    experimental) echo "main:sid main:experimental" ;;
  esac
}

# The suites whose ROCr a label may take (the highest version wins).
rocr_suites_for() {
  case $1 in
    experimental) echo "experimental sid" ;;
    *) echo "$1" ;;
  esac
}

# Highest version of PKG published in any of the SUITES (apt-cache madison).
suite_version() {
  local dir=$1 pkg=$2 v best="" s
  shift 2
  for s in "$@"; do
    while read -r v; do
      if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done < <(papt "$dir" apt-cache madison "$pkg" 2>/dev/null |
      awk -F'|' -v s="$s" '{ gsub(/ /, "", $2); split($3, a, " "); if (a[2] ~ "^" s "/") print $2 }')
  done
  echo "$best"
}

# The full closure of PKG=VER: "name version" lines, from a simulated install
# against the private (empty) dpkg status. PKG=VER pins ROCr alone; the rest
# takes the default candidates (for experimental: sid's, so experimental's
# own, newer glibc is not pulled in unless ROCr needs it).
resolve_closure() {
  local dir=$1 pkg=$2 ver=$3
  papt "$dir" apt-get -s -q -o Debug::NoLocking=1 \
    --no-install-recommends install "$pkg=$ver" 2>"$dir/closure.err" |
    awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2, v }' | sort -u
}

# The library directories of root/ (relative), in search order.
lib_dirs() {
  local root=$1 d
  for d in usr/lib/x86_64-linux-gnu lib/x86_64-linux-gnu; do
    if [[ -d $root/$d ]]; then echo "$d"; fi
  done
}

# Where SONAME is in root/ (relative path, first library directory wins).
find_soname() {
  local root=$1 so=$2 d
  for d in $(lib_dirs "$root"); do
    if [[ -e $root/$d/$so ]]; then
      echo "$d/$so"
      return 0
    fi
  done
  return 1
}

# The file a root-relative path names once its symlinks are followed inside
# root/ (absolute symlinks are taken relative to root/), relative to root/.
resolve_in_root() {
  local root=$1 rel=$2 target n=0
  while [[ -L $root/$rel ]]; do
    target=$(readlink "$root/$rel")
    if [[ $target == /* ]]; then rel=${target#/}; else rel=$(dirname "$rel")/$target; fi
    rel=$(realpath -m -s --relative-to=/ "/$rel")  # lexical: never the host's symlinks
    ((++n < 16)) || die "symlink loop at $root/$rel"
  done
  echo "$rel"
}

# The ELF check of root/: every NEEDED soname of every object in the library
# directories must be found there (never on the host), and every symbol
# version it needs must be defined by the object found. One line per
# (object, soname); fails if any is missing.
elf_check() {
  local root=$1 f so ver found rf missing bad=0
  local -A defs=() needs=()
  while read -r f; do
    # One readelf per object: its NEEDED sonames and the versions it needs from each.
    needs=()
    while read -r so ver; do needs[$so]+=" $ver"; done < <(readelf -d -V -W "$f" 2>/dev/null | awk '
      /\(NEEDED\)/ { n = $0; sub(/.*\[/, "", n); sub(/\].*/, "", n); print n; next }
      /^Version needs section/ { inneed = 1; next }
      /^Version (definition|symbols) section/ { inneed = 0 }
      inneed && /File: / { cur = $0; sub(/.*File: /, "", cur); sub(/ .*/, "", cur); next }
      inneed && /Name: / { n = $0; sub(/.*Name: /, "", n); sub(/ .*/, "", n); print cur, n }')
    for so in "${!needs[@]}"; do
      if ! found=$(find_soname "$root" "$so"); then
        echo "MISSING ${f#"$root"/} -> $so"
        bad=1
        continue
      fi
      rf=$(resolve_in_root "$root" "$found")
      if [[ -z ${defs[$rf]+set} ]]; then
        defs[$rf]=" $(readelf -V -W "$root/$rf" 2>/dev/null | awk '
          /^Version definition section/ { indef = 1; next }
          /^Version (needs|symbols) section/ { indef = 0 }
          indef && /Name: / { n = $0; sub(/.*Name: /, "", n); sub(/ .*/, "", n); printf "%s ", n }')"
      fi
      missing=""
      for ver in ${needs[$so]}; do
        [[ ${defs[$rf]} == *" $ver "* ]] || missing+=" $ver"
      done
      if [[ -n $missing ]]; then
        echo "BADVER ${f#"$root"/} -> $so ($found) lacks:$missing"
        bad=1
      else
        echo "ok ${f#"$root"/} -> $so ($found)"
      fi
    done
  done < <(for d in $(lib_dirs "$root"); do
    # Objects directly in the lib dirs (gconv/ and other plugin dirs find
    # their helpers through RUNPATH and are never loaded by ROCr).
    find "$root/$d" -maxdepth 1 -type f \( -name '*.so' -o -name '*.so.*' \)
  done | sort | while read -r f; do
    readelf -h "$f" 2>/dev/null | grep -q 'Type: *DYN' && echo "$f"
  done)
  return $bad
}

# The loader and every object libhsa loads at start-up (NEEDED, transitively),
# root-relative, one per line: each path as the loader looks it up (a soname
# symlink) and the file it resolves to, so a copy made with cp -P runs.
runtime_files() {
  local root=$1 libhsa=$2 loader=$3 p f so rel target
  local -A seen=()
  local queue=("$loader" "$libhsa")
  while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    # The path, then every link of its symlink chain.
    while echo "$p" && [[ -L $root/$p ]]; do
      target=$(readlink "$root/$p")
      if [[ $target == /* ]]; then p=${target#/}; else p=$(dirname "$p")/$target; fi
      p=$(realpath -m -s --relative-to=/ "/$p")
    done
    f=$p
    [[ -z ${seen[$f]:-} ]] || continue
    seen[$f]=1
    while read -r so; do
      rel=$(find_soname "$root" "$so") || die "$so (needed by $f) is not in $root"
      queue+=("$rel")
    done < <(readelf -d -W "$root/$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  done | awk '!seen[$0]++'
}

label_dir() {
  echo "$GP_CACHE/rocr/$1"
}

is_complete() {
  [[ -f $1/complete ]] && grep -qx "layout $LAYOUT" "$1/complete"
}

fetch_one() {
  local k=$1 kdir apt_dir debs rver t0 t1 bytes p ver deb libhsa loader libpath
  kdir=$(label_dir "$k")
  if is_complete "$kdir" && ((REFRESH == 0)); then
    log "$k: cached (ROCr $(cat "$kdir/version"))"
    return 0
  fi
  apt_dir=$GP_CACHE/apt/rocr-$k
  debs=$GP_CACHE/debs/rocr-$k
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
  # shellcheck disable=SC2046 # one word per suite
  rver=$(suite_version "$apt_dir" "$ROOT_PKG" $(rocr_suites_for "$k"))
  [[ -n $rver ]] || die "$k: no $ROOT_PKG in suite(s) $(rocr_suites_for "$k"); Debian may have removed it (cached labels keep working)"
  log "$k: $ROOT_PKG $rver"
  resolve_closure "$apt_dir" "$ROOT_PKG" "$rver" >"$debs/.want"
  if ! grep -q "^$ROOT_PKG " "$debs/.want" || ! grep -q '^libc6 ' "$debs/.want"; then
    cat "$apt_dir/closure.err" >&2
    die "$k: could not resolve the dependency closure of $ROOT_PKG=$rver (apt-get -s install: see above)"
  fi
  log "$k: closure: $(awk '{ printf "%s%s=%s", sep, $1, $2; sep = " " }' "$debs/.want")"
  while read -r p ver; do
    # apt-get download names the file NAME_VERSION_ARCH.deb with ':' as %3a.
    if compgen -G "$debs/${p}_${ver//:/%3a}_*.deb" >/dev/null; then continue; fi
    log "$k: downloading $p $ver"
    if ! (cd "$debs" && PAPT_TIMEOUT=$DOWNLOAD_TIMEOUT papt "$apt_dir" apt-get -q download "$p=$ver" >"$apt_dir/download.log" 2>&1); then
      tail -n 20 "$apt_dir/download.log" >&2
      die "$k: download of $p $ver failed or timed out after ${DOWNLOAD_TIMEOUT}s"
    fi
  done <"$debs/.want"
  t1=$(date +%s.%N)
  bytes=0
  rm -rf "$kdir"
  mkdir -p "$kdir/root"
  while read -r p ver; do
    deb=$(compgen -G "$debs/${p}_${ver//:/%3a}_*.deb" | head -n1)
    [[ -n $deb ]] || die "$k: $p $ver was not downloaded"
    bytes=$((bytes + $(stat -c %s "$deb")))
    dpkg -x "$deb" "$kdir/root" || die "$k: dpkg -x $deb failed"
  done <"$debs/.want"
  cp "$debs/.want" "$kdir/packages"
  # 6.4.3+dfsg-5 -> 6.4.3; 7.2.4+dfsg-1~exp1 -> 7.2.4
  sed -E 's/^[0-9]+://; s/[-+~].*//' <<<"$rver" >"$kdir/version"
  libhsa=$(cd "$kdir/root" && find . -name 'libhsa-runtime64.so.1' | sed 's|^\./||' | head -n1)
  [[ -n $libhsa ]] || die "$k: no libhsa-runtime64.so.1 in $ROOT_PKG $rver"
  loader=$(cd "$kdir/root" && find . -path '*x86_64-linux-gnu/ld-linux-x86-64.so.2' | sed 's|^\./||' | sort | head -n1)
  [[ -n $loader ]] || die "$k: libc6 has no x86_64-linux-gnu/ld-linux-x86-64.so.2"
  libpath=$(lib_dirs "$kdir/root" | paste -sd:)
  echo "$libhsa" >"$kdir/libhsa"
  echo "$loader" >"$kdir/loader"
  echo "$libpath" >"$kdir/libpath"
  if ! elf_check "$kdir/root" >"$kdir/elfcheck"; then
    grep -v '^ok ' "$kdir/elfcheck" >&2
    die "$k: ELF check failed (see $kdir/elfcheck)"
  fi
  runtime_files "$kdir/root" "$libhsa" "$loader" >"$kdir/runtime-files"
  {
    echo '#!/bin/sh'
    echo "# Run PROG under $k's ROCr $rver: the suite's own loader and libraries."
    echo "export HSA_PROBE_LIB='$kdir/root/$libhsa'"
    echo "exec '$kdir/root/$loader' --library-path '$(sed "s|[^:]*|$kdir/root/&|g" <<<"$libpath")' \"\$@\""
  } >"$kdir/run"
  chmod +x "$kdir/run"
  printf 'download_bytes %s\ndownload_seconds %.1f\n' "$bytes" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" >"$kdir/fetch.info"
  echo "layout $LAYOUT" >"$kdir/complete"
  log "$k: ROCr $(cat "$kdir/version") ready ($((bytes / 1024)) KiB of packages, resolved and fetched in $(awk '/seconds/{print $2}' "$kdir/fetch.info") s)"
  # Keep only the .debs of the current closure.
  (cd "$debs" && for f in *.deb; do
    grep -qF "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)" .want || rm -f "$f"
  done)
}

# One fetch of a label at a time per cache (ctest's fixture and a VM run may
# both ask for it): each rm -rf's and unpacks the same directory.
fetch_locked() {
  local lock
  mkdir -p "$GP_CACHE/rocr"
  exec {lock}>"$GP_CACHE/rocr/.$1.lock"
  flock "$lock"
  fetch_one "$1"
  exec {lock}>&-
}

expand_labels() {
  local k
  for k in "$@"; do
    case $k in
      all) printf '%s\n' "${ALL_LABELS[@]}" ;;
      bookworm | trixie | sid | experimental) echo "$k" ;;
      *) die "unknown ROCr label '$k' (use bookworm, trixie, sid, experimental or all)" ;;
    esac
  done
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
  require_tools apt-get apt-cache dpkg dpkg-deb timeout readelf flock realpath
  local labels
  labels=$(expand_labels "${args[@]}") || exit 1
  for k in $(awk '!seen[$0]++' <<<"$labels"); do
    fetch_locked "$k"
  done
}

main "$@"
