#!/usr/bin/env bash
# Build the initramfs one VM test boot runs from: a static busybox userland,
# amdgpu.ko and every module it depends on (decompressed, in load order), the
# binaries under test with their shared libraries and the dynamic loader, the
# scenario scripts, scripts/hw-validate.sh and /init (scripts/vm/guest-init.sh).
#
# Usage: scripts/vm/mkinitramfs.sh KERNEL OUTPUT.cpio [SCENARIO_GLOB]
#   KERNEL         6.1 | 6.12 | 7.2 | 7.3 (fetched by fetch-kernels.sh)
#   SCENARIO_GLOB  which tests/vm/scenarios/*.sh to include (default: *)
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
# depmod + modprobe + xz on ~20 modules costs seconds we need not pay twice.
stage_modules() {
  local k=$1 kdir kver base out stage lock line path name params
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
  # depmod/modprobe -b/-d want BASE/lib/modules/KVER; merged-/usr packages
  # (7.x) ship usr/lib/modules.
  if [[ -d $kdir/root/lib/modules/$kver ]]; then
    base=$kdir/root
  elif [[ -d $kdir/root/usr/lib/modules/$kver ]]; then
    base=$kdir/root/usr
  else
    die "no lib/modules/$kver under $kdir/root"
  fi
  # The .debs ship no modules.dep (it is made at install time).
  depmod -b "$base" "$kver" || die "depmod -b $base $kver failed"
  stage=$(mktemp -d "$GP_CACHE/modstage/$k/.stage.XXXXXX")
  : >"$stage/order"
  # -C /dev/null: the host's /etc/modprobe.d must not add options.
  while read -r line; do
    case $line in
      insmod\ *)
        read -r _ path params <<<"$line"
        name=$(basename "$path")
        name=${name%.xz}
        name=${name%.zst}
        name=${name%.gz}
        case $path in
          *.xz) xz -dc "$path" >"$stage/$name" ;;
          *.zst) zstd -qdc "$path" >"$stage/$name" ;;
          *.gz) gzip -dc "$path" >"$stage/$name" ;;
          *) cp "$path" "$stage/$name" ;;
        esac
        echo "$name${params:+ $params}" >>"$stage/order"
        ;;
      builtin\ *) ;;
      *) die "unexpected modprobe output for $k: $line" ;;
    esac
  done < <(modprobe -C /dev/null -d "$base" -S "$kver" --show-depends amdgpu ||
    die "modprobe --show-depends amdgpu failed for $kver")
  tail -n1 "$stage/order" | grep -q '^amdgpu\.ko' || die "amdgpu.ko is not the last module in the load order for $kver"
  cp "$kdir/packages" "$stage/packages"
  touch "$stage/complete"
  rm -rf "$out"
  mv "$stage" "$out"
  echo "$out"
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

main() {
  (($# >= 2)) || die "usage: mkinitramfs.sh KERNEL OUTPUT.cpio [SCENARIO_GLOB]"
  local k=$1 output=$2 glob=${3:-*} mods bb applet bin name
  expand_kernels "$k" >/dev/null
  require_tools depmod modprobe cpio xz zstd ldd jq strip
  mods=$(stage_modules "$k")
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gp-initramfs.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
  local stage=$STAGE

  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,gp/scenarios,gp/modules}
  bb=$(busybox_static)
  cp "$bb" "$stage/bin/busybox"
  for applet in $("$bb" --list); do
    [[ -e $stage/bin/$applet ]] || ln -s busybox "$stage/bin/$applet"
  done
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

  local dir selected
  dir=$(scenario_dir)
  selected=$(select_scenarios "$k" "$glob" "$vm") || exit 1
  while read -r name _; do
    [[ -n $name ]] || continue
    install -m 0755 "$dir/$name.sh" "$stage/gp/scenarios/$name.sh"
    echo "$name"
  done <<<"$selected"

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
