#!/bin/sh
# Generates the gpreempt-bpf(8) man page from the binary's own --help (and each
# subcommand's), with help2man, so the page never drifts from the options.
# Run by the build (target gp_manpage); needs help2man (Debian package).
# Usage: scripts/gen-manpage.sh BINARY VERSION OUTPUT.8
set -eu
[ $# -eq 3 ] || { echo "usage: gen-manpage.sh BINARY VERSION OUTPUT.8" >&2; exit 64; }
bin=$1 version=$2 out=$3
command -v help2man >/dev/null 2>&1 || { echo "gen-manpage.sh: help2man is not installed (apt-get install help2man)" >&2; exit 1; }
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT

# Subcommand names: the first word of each line of the "Subcommands:" block.
subs=$("$bin" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$subs" ] || { echo "gen-manpage.sh: $bin --help lists no subcommand" >&2; exit 1; }
{
  echo "[COMMANDS]"
  for s in $subs; do
    echo ".SS $s"
    echo ".nf"
    # roff: escape backslashes; a line starting with . or ' would be a request.
    "$bin" "$s" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo ".fi"
  done
  cat <<'ROFF'
[EXIT STATUS]
0 on success. Otherwise non-zero, with one line on standard error that says
what to do. \fBdoctor\fR exits 0 only if \fBwatch\fR can run;
\fBqueues \-\-verify\fR and \fBqueues \-\-snapshot\-check\fR exit 1 on any
difference; \fBrecord\fR with a workload exits with the workload's status.
[FILES]
.TP
.I /usr/share/gpreempt-bpf/hw-validate.sh
the hardware validation kit: runs every command against a GPU workload and
bundles the results into one archive.
.TP
.I /usr/share/gpreempt-bpf/colocate.sh
the online/offline colocation experiment (latency and throughput with and
without preemption).
[SEE ALSO]
.BR bpftool (8),
.BR rocgdb (1),
/usr/share/doc/gpreempt-bpf/README.md and the pages it links, in /usr/share/doc/gpreempt-bpf/docs
ROFF
} >"$inc"

help2man --no-info --section 8 --version-string "$version" \
  --name "eBPF tracing and preemption controller for AMD GPU queues (KFD)" \
  --include "$inc" --output "$out.tmp" "$bin"
mv "$out.tmp" "$out"
