#!/usr/bin/env bash
# Build the initramfs one VM test boot runs from: a static busybox userland,
# amdgpu.ko and every module it depends on (decompressed, in load order), the
# binaries under test with their shared libraries and the dynamic loader, the
# scenario scripts, scripts/hw-validate.sh and /init (scripts/vm/guest-init.sh).
#
# Usage: scripts/vm/mkinitramfs.sh KERNEL OUTPUT.cpio [SCENARIO_GLOB]
#   KERNEL         6.1 | 6.12 | 7.2 | 7.3 (fetched by fetch-kernels.sh)
#   SCENARIO_GLOB  which tests/vm/scenarios/*.sh to include (default: *)
# Scenarios with the header "# gp-needs: rocr" also get Debian's real ROCm
# runtimes (scripts/vm/fetch-rocr.sh) and hsa-probe: see stage_rocr.
# Env: GP_BUILD_DIR (default build/), GP_VM_EXTRA_BINS (more host binaries to
#      copy into /usr/bin, e.g. bpftool for diagnostics), GP_VM_SCENARIO_DIR
#      (take the scenarios from another directory, for ad-hoc experiments),
#      GP_SCENARIO_TIMEOUT (seconds one scenario may take in the guest, default 120),
#      GP_VM_SHIM_KO (a "+shim" VM: the TEST-ONLY kfd_open_shim.ko built by
#      tests/vm/kfd-open-shim/build.sh for this kernel; loaded right after
#      amdgpu with test_only=1, and the "# gp-shim:" scenarios are selected).
# Prints the names of the included scenarios, one per line, on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Decompressed modules, in load order, are cached per kernel release:
# finding and decompressing ~20 modules costs seconds we need not pay twice.
stage_modules() {
  local k=$1 kdir kver moddir out stage lock
  kdir=$(kernel_dir "$k")
  [[ -f $kdir/complete ]] || die "kernel $k is not fetched; run scripts/vm/fetch-kernels.sh $k"
  kver=$(cat "$kdir/kver")
  out=$GP_CACHE/modstage/$k/$kver
  # The shards of one kernel build their initramfs at the same time: the
  # first stages (into a fresh directory, renamed when whole), the others
  # wait for it and reuse it. (Called in $(...): the lock ends with it.)
  mkdir -p "$GP_CACHE/modstage/$k"
  exec {lock}>"$GP_CACHE/modstage/$k/.lock"
  flock "$lock"
  # Same release string, other upload (a Debian rebuild): stage again.
  if [[ -f $out/complete ]] && cmp -s "$out/packages" "$kdir/packages"; then
    echo "$out"
    return 0
  fi
  # The module tree is lib/modules (6.x) or usr/lib/modules (merged /usr, 7.x).
  moddir=$kdir/root/lib/modules/$kver
  [[ -d $moddir ]] || moddir=$kdir/root/usr/lib/modules/$kver
  [[ -d $moddir ]] || die "no lib/modules/$kver under $kdir/root"
  stage=$(mktemp -d "$GP_CACHE/modstage/$k/.stage.XXXXXX")
  : >"$stage/order"
  stage_closure "$moddir" "$stage" amdgpu
  tail -n1 "$stage/order" | grep -q '^amdgpu\.ko$' || die "amdgpu.ko is not the last module in the load order for $kver"
  cp "$kdir/packages" "$stage/packages"
  touch "$stage/complete"
  rm -rf "$out"
  mv "$stage" "$out"
  echo "$out"
}

# Decompress module $3 and every module it needs into $2, and append their
# file names to $2/order, dependencies first (the order insmod needs). What a
# module needs is its own modinfo "depends" (modpost's record of the modules
# whose symbols it uses) and "softdep" pre:/post: entries: what modprobe
# --show-depends reports, without the depmod over the whole tree it needs
# (depmod decompresses all ~4,000 modules: 18 s on 2 busy cores).
stage_closure() {
  local moddir=$1 stage=$2 f n
  local -A path=() state=()
  # Module names treat - and _ alike; files keep either.
  while IFS= read -r f; do
    n=${f##*/}
    n=${n%%.ko*}
    path[${n//-/_}]=$f
  done < <(find "$moddir" -type f -name '*.ko*')
  stage_visit "$3" ""
}

# $1 a module name, $2 the module that needs it ("" for the root); uses
# stage_closure's path, state, moddir and stage.
stage_visit() {
  local n=${1//-/_} p file dep info pre=() post=() where=pre
  case ${state[$n]:-} in
    ok) return 0 ;;
    busy) die "modules depend on each other in a cycle at $1 (in $moddir)" ;;
  esac
  p=${path[$n]:-}
  if [[ -z $p ]]; then
    # A softdep may name a module this kernel does not ship; modprobe skips it too.
    [[ $2 == softdep ]] && return 0
    die "module $1${2:+ (needed by $2)} is not in $moddir"
  fi
  state[$n]=busy
  file=${p##*/}
  file=${file%.xz}
  file=${file%.zst}
  file=${file%.gz}
  case $p in
    *.xz) xz -dc "$p" >"$stage/$file" ;;
    *.zst) zstd -qdc "$p" >"$stage/$file" ;;
    *.gz) gzip -dc "$p" >"$stage/$file" ;;
    *) cp "$p" "$stage/$file" ;;
  esac || die "decompressing $p failed"
  info=$(modinfo -F depends "$stage/$file") || die "modinfo $stage/$file failed"
  for dep in ${info//,/ }; do
    stage_visit "$dep" "$1"
  done
  for dep in $(modinfo -F softdep "$stage/$file"); do
    case $dep in
      pre:) where=pre ;;
      post:) where=post ;;
      *) if [[ $where == pre ]]; then pre+=("$dep"); else post+=("$dep"); fi ;;
    esac
  done
  for dep in "${pre[@]}"; do stage_visit "$dep" softdep; done
  echo "$file" >>"$stage/order"
  state[$n]=ok
  for dep in "${post[@]}"; do stage_visit "$dep" softdep; done
}

# Copy a host executable and everything ldd says it loads (including the
# dynamic loader) to the same paths inside the initramfs.
copy_with_libs() {
  local bin=$1 dest=$2 stage=$3 lib
  [[ -x $bin ]] || die "$bin is not an executable"
  install -D -m 0755 "$bin" "$stage$dest"
  # Debug info is most of a RelWithDebInfo binary (50 MB for gpreempt-bpf);
  # the guest never reads it, and every byte is copied on every boot.
  strip --strip-debug "$stage$dest" 2>/dev/null || true
  if ldd "$bin" 2>&1 | grep -q 'not a dynamic executable'; then
    return 0
  fi
  ldd "$bin" | grep -q 'not found' && die "$bin: shared libraries not found: $(ldd "$bin" | grep 'not found' | xargs)"
  while read -r lib; do
    [[ -n $lib && -e $lib ]] || continue
    [[ -e $stage$lib ]] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done < <(ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}')
}

# A newc cpio entry for /dev/console: the kernel opens it for init's stdio
# before anything is mounted, and making the node with mknod would need root.
console_cpio() {
  local name=dev/console namesize hdr pad
  namesize=$((${#name} + 1))
  # magic ino mode uid gid nlink mtime size devmaj devmin rdevmaj rdevmin namesize check
  hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    1 $((0020000 | 0600)) 0 0 1 0 0 0 0 5 1 "$namesize" 0)
  printf '%s%s\0' "$hdr" "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  head -c "$pad" /dev/zero
}

find_build_binary() {
  local name=$1 p
  for p in "$GP_BUILD_DIR/$name" "$GP_BUILD_DIR/controller/$name" "$GP_BUILD_DIR/tests/vm/$name"; do
    [[ -x $p && -f $p ]] && { echo "$p"; return 0; }
  done
  find "$GP_BUILD_DIR" -maxdepth 4 -type f -name "$name" -perm -u+x -print -quit 2>/dev/null
}

# Real ROCm runtimes (scripts/vm/fetch-rocr.sh) for the scenarios that say
# "# gp-needs: rocr": per label, only the loader and the objects libhsa loads
# (runtime-files), at their root-relative paths under /gp/rocr/LABEL/, a file
# identical to one of another label hard-linked to it (cpio stores it once),
# /gp/rocr/LABEL/run (PROG under that label's loader and libraries) and
# /gp/rocr/labels ("label version" per line); hsa-probe in /usr/bin.
# The tree is built once per fixture state under $GP_CACHE/rocrstage/ (the
# shards of a run share it) and copied in with its hard links.
build_rocr_tree() {
  local out=$1 label kdir rel dest sum libpath
  local -A staged=()
  mkdir -p "$out/gp/rocr"
  : >"$out/gp/rocr/labels"
  for label in bookworm trixie sid experimental; do
    kdir=$GP_CACHE/rocr/$label
    while read -r rel; do
      dest=$out/gp/rocr/$label/$rel
      mkdir -p "$(dirname "$dest")"
      if [[ -L $kdir/root/$rel ]]; then
        cp -P "$kdir/root/$rel" "$dest"
        continue
      fi
      sum=$(sha256sum "$kdir/root/$rel" | cut -d' ' -f1)
      if [[ -n ${staged[$sum]:-} ]]; then
        ln "$out/${staged[$sum]}" "$dest"
      else
        cp "$kdir/root/$rel" "$dest"
        staged[$sum]=gp/rocr/$label/$rel
      fi
    done <"$kdir/runtime-files"
    cp "$kdir/version" "$kdir/libhsa" "$kdir/loader" "$kdir/libpath" "$out/gp/rocr/$label/"
    libpath=$(sed "s|[^:]*|/gp/rocr/$label/&|g" "$kdir/libpath")
    {
      echo '#!/bin/sh'
      echo "# ROCr $(cat "$kdir/version") ($label): PROG under its suite's own loader and libraries."
      echo "export HSA_PROBE_LIB=/gp/rocr/$label/$(cat "$kdir/libhsa")"
      echo "exec /gp/rocr/$label/$(cat "$kdir/loader") --library-path $libpath \"\$@\""
    } >"$out/gp/rocr/$label/run"
    chmod +x "$out/gp/rocr/$label/run"
    echo "$label $(cat "$kdir/version")" >>"$out/gp/rocr/labels"
  done
}

stage_rocr() {
  local stage=$1 k=$2 label bin key dir tmp lock t0
  t0=$(date +%s.%N)
  bin=$(find_build_binary hsa-probe)
  [[ -n $bin ]] || die "hsa-probe not built in $GP_BUILD_DIR (cmake --build $GP_BUILD_DIR --target hsa-probe)"
  copy_with_libs "$bin" /usr/bin/hsa-probe "$stage"
  for label in bookworm trixie sid experimental; do
    [[ -f $GP_CACHE/rocr/$label/complete ]] ||
      die "the ROCr fixture '$label' is not fetched; run scripts/vm/fetch-rocr.sh $label"
  done
  key=$(for label in bookworm trixie sid experimental; do
    cat "$GP_CACHE/rocr/$label/complete" "$GP_CACHE/rocr/$label/packages" "$GP_CACHE/rocr/$label/runtime-files"
  done | cat - "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
  dir=$GP_CACHE/rocrstage/$key
  mkdir -p "$GP_CACHE/rocrstage"
  exec {lock}>"$GP_CACHE/rocrstage/.lock"
  flock "$lock"
  if [[ ! -f $dir/complete ]]; then
    tmp=$(mktemp -d "$GP_CACHE/rocrstage/.build.XXXXXX")
    build_rocr_tree "$tmp"
    du -sb "$tmp/gp" | cut -f1 >"$tmp/bytes"
    touch "$tmp/complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    # Older trees (another fixture state) are dead weight.
    find "$GP_CACHE/rocrstage" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  fi
  exec {lock}>&-
  cp -a "$dir/gp/rocr" "$stage/gp/"
  # A runtime file identical to a host library already here (bookworm's libc,
  # libstdc++... are Debian 12's, copied for gpreempt-bpf): one copy.
  local sum path f
  local -A host=()
  while read -r sum path; do host[$sum]=$path; done < <(find "$stage/lib" "$stage/usr/lib" -path "$stage/gp" -prune \
    -o -type f -name '*.so*' -print0 2>/dev/null | xargs -0 -r cksum | awk '{ print $1 "-" $2, $3 }')
  while read -r sum f; do
    if [[ -n ${host[$sum]:-} ]] && cmp -s "${host[$sum]}" "$f"; then ln -f "${host[$sum]}" "$f"; fi
  done < <(find "$stage/gp/rocr" -type f -name '*.so*' -print0 | xargs -0 -r cksum | awk '{ print $1 "-" $2, $3 }')
  # What they add: the files whose data nothing outside /gp/rocr already holds.
  local added
  added=$(find "$stage" -type f -printf '%i %s %p\n' | awk -v r="$stage/gp/rocr/" '
    index($3, r) == 1 { size[$1] = $2; next } { outside[$1] = 1 }
    END { for (i in size) if (!(i in outside)) s += size[i]; print int(s / 1024) }')
  log "$k: real ROCm runtimes: +$added KiB in the initramfs (each file stored once)," \
    "staged in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

main() {
  (($# >= 2)) || die "usage: mkinitramfs.sh KERNEL OUTPUT.cpio [SCENARIO_GLOB]"
  local k=$1 output=$2 glob=${3:-*} mods bb bin name
  expand_kernels "$k" >/dev/null
  require_tools modinfo cpio xz zstd ldd jq strip
  mods=$(stage_modules "$k")
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gp-initramfs.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
  local stage=$STAGE

  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,gp/scenarios,gp/modules}
  bb=$(busybox_static)
  cp "$bb" "$stage/bin/busybox"
  # One symlink per applet, made by one process: a fork of ln for each of
  # ~270 applets took 4.5 s on 2 busy cores. (perl-base is Essential in Debian.)
  # shellcheck disable=SC2016 # perl's variables, not the shell's
  "$bb" --list | perl -e '$d = shift; chomp, -e "$d/$_" || symlink("busybox", "$d/$_") || die "symlink $d/$_: $!\n" for <STDIN>' "$stage/bin" ||
    die "making the busybox applet links failed"
  install -m 0755 "$GP_REPO_ROOT/scripts/vm/guest-init.sh" "$stage/init"
  install -m 0644 "$GP_REPO_ROOT/tests/vm/lib.sh" "$stage/gp/lib.sh"
  # The hardware validation kit, run as a user would (scenario hw-validate-*).
  install -D -m 0755 "$GP_REPO_ROOT/scripts/hw-validate.sh" "$stage/gp/scripts/hw-validate.sh"
  echo "$k" >"$stage/gp/kernel"
  echo "${GP_SCENARIO_TIMEOUT:-120}" >"$stage/gp/scenario-timeout"
  cp "$mods"/*.ko "$mods/order" "$stage/gp/modules/"
  local vm=plain
  if [[ -n ${GP_VM_SHIM_KO:-} ]]; then
    # TEST ONLY, never outside a test guest: kfd_gpu_node_num() returns 1
    # instead of 0, so /dev/kfd opens without a GPU (tests/vm/kfd-open-shim).
    # Loaded as part of the load-amdgpu case; /gp/shim tells lib.sh that this
    # VM must have it (a scenario then never falls back to a refusal branch).
    [[ -f $GP_VM_SHIM_KO && $(basename "$GP_VM_SHIM_KO") == kfd_open_shim.ko ]] ||
      die "GP_VM_SHIM_KO=$GP_VM_SHIM_KO is not a kfd_open_shim.ko"
    cp "$GP_VM_SHIM_KO" "$stage/gp/modules/kfd_open_shim.ko"
    echo "kfd_open_shim.ko test_only=1" >>"$stage/gp/modules/order"
    echo "$GP_VM_SHIM_KO" >"$stage/gp/shim"
    vm=shim
  fi

  # Binaries under test. kfd-client is part of this tier and must exist;
  # gpreempt-bpf missing is recorded so the scenarios fail saying so.
  bin=$(find_build_binary kfd-client)
  [[ -n $bin ]] || die "kfd-client not built in $GP_BUILD_DIR (cmake --build $GP_BUILD_DIR --target kfd-client)"
  copy_with_libs "$bin" /usr/bin/kfd-client "$stage"
  # kfd-client online-target's stand-in ROCm runtime: what the doorbell
  # uprobes attach to in the guest (built with kfd-client).
  bin=$GP_BUILD_DIR/tests/native/fake-rocm/libhsa-runtime64.so.1
  [[ -e $bin ]] || die "$bin not built (cmake --build $GP_BUILD_DIR --target gp_fake_hsa_runtime)"
  install -D -m 0755 "$(readlink -f "$bin")" "$stage/opt/rocm/lib/libhsa-runtime64.so.1"
  bin=$(find_build_binary gpreempt-bpf)
  if [[ -n $bin ]]; then
    copy_with_libs "$bin" /usr/bin/gpreempt-bpf "$stage"
  else
    echo "gpreempt-bpf: not built in $GP_BUILD_DIR" >>"$stage/gp/missing"
    log "WARNING: $GP_BUILD_DIR has no gpreempt-bpf: scenarios that need it will FAIL"
  fi
  copy_with_libs "$(command -v jq)" /usr/bin/jq "$stage"
  for bin in ${GP_VM_EXTRA_BINS:-}; do
    copy_with_libs "$bin" "/usr/bin/$(basename "$bin")" "$stage"
  done

  local dir selected rocr=0
  dir=$(scenario_dir)
  selected=$(select_scenarios "$k" "$glob" "$vm") || exit 1
  while read -r name _; do
    [[ -n $name ]] || continue
    install -m 0755 "$dir/$name.sh" "$stage/gp/scenarios/$name.sh"
    grep -q '^# gp-needs:.*\brocr\b' "$dir/$name.sh" && rocr=1
    echo "$name"
  done <<<"$selected"
  ((rocr == 0)) || stage_rocr "$stage" "$k"

  mkdir -p "$(dirname "$output")"
  # Uncompressed: unpacking is a memcpy, decompressing under TCG is not.
  {
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0)
    console_cpio
    # The last archive of a concatenation needs its own trailer.
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
      0 0 0 0 1 0 0 0 0 0 0 11 0 'TRAILER!!!'
    head -c 3 /dev/zero  # pad 110 + 11 bytes to a multiple of 4
  } >"$output.tmp"
  mv "$output.tmp" "$output"
}

main "$@"
