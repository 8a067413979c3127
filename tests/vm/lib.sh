# Helpers for the VM scenarios (sourced by tests/vm/scenarios/*.sh inside the
# guest, busybox ash). Contract of a scenario: exit 0 = PASS; otherwise FAIL
# and the last line printed is the reason.
# shellcheck shell=sh

set -u
: "${GP_KVER:?GP_KVER must be 6.1, 6.12, 7.2 or 7.3}"
GP_NAME=$(basename "$0" .sh)
GP_TMP=/tmp/$GP_NAME
mkdir -p "$GP_TMP"
WATCH_OUT=$GP_TMP/watch.jsonl
WATCH_PID=""
GP_BG_PIDS=""

GP_T0=$(cut -d' ' -f1 /proc/uptime)

# Seconds since the scenario started (for "what took how long" lines).
since() {
  awk -v a="$GP_T0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }'
}

fail() {
  echo "$*"
  exit 1
}

# Per-kernel facts the scenarios assert (measured in this tier; docs/kernels.md):
# KFD ioctl version, debug API presence, whether open(/dev/kfd) works
# without a GPU (7.x refuses: "no gpu node! Cannot create KFD process").
expected_kfd_version() {
  case $GP_KVER in
    6.1) echo 1.11 ;;
    6.12) echo 1.17 ;;
    7.2 | 7.3) echo 1.23 ;;
    *) fail "unknown GP_KVER $GP_KVER" ;;
  esac
}
has_debug_api() { [ "$GP_KVER" != 6.1 ]; }
# The 7.x "+shim" VMs load kfd_open_shim, a TEST-ONLY module
# (tests/vm/kfd-open-shim) that makes kfd_gpu_node_num() return 1 instead of
# 0: there /dev/kfd opens without a GPU, as on 6.12, and the scenarios take
# their real paths. Without it 7.x refuses, and the scenarios assert that.
shim_loaded() { [ -d /sys/module/kfd_open_shim ]; }
kfd_open_works() {
  case $GP_KVER in
    7.*) shim_loaded ;;
    *) true ;;
  esac
}

need() {
  for b in "$@"; do
    command -v "$b" >/dev/null 2>&1 && continue
    if [ -s /gp/missing ]; then
      fail "$b is not in the initramfs ($(grep "^$b:" /gp/missing || echo 'not built'))"
    fi
    fail "$b is not in the initramfs"
  done
}

# Kill what this scenario started, on any exit.
cleanup() {
  for p in $GP_BG_PIDS $WATCH_PID; do
    kill -TERM "$p" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# A "+shim" VM (/gp/shim) without the shim loaded would take the refusal
# branches and pass for the wrong reason: fail instead.
if [ -e /gp/shim ] && ! shim_loaded; then
  fail "this VM must have the test module kfd_open_shim loaded (see its load-amdgpu case), and it is not"
fi

last_line() {
  grep -v '^[[:space:]]*$' "$1" | tail -n1
}

bg_track() {
  GP_BG_PIDS="$GP_BG_PIDS $1"
}

# jq -e is true on EMPTY input (jq 1.6), so never use it bare. These helpers
# make "no output at all" a failure:
# jtest FILE EXPR [jq args]: FILE ("-" = stdin) holds exactly one JSON value
# and EXPR is true for it.
jtest() {
  _f=$1 _e=$2
  shift 2
  jq -e -s "$@" "length == 1 and (.[0] | ($_e))" "$_f" >/dev/null 2>&1
}
# jany FILE EXPR [jq args]: some JSON line of FILE satisfies EXPR.
jany() {
  _f=$1 _e=$2
  shift 2
  jq -e -s "$@" "any(.[]; ($_e))" "$_f" >/dev/null 2>&1
}
# jall FILE EXPR [jq args]: FILE has at least one JSON line and all satisfy EXPR.
jall() {
  _f=$1 _e=$2
  shift 2
  jq -e -s "$@" "length > 0 and all(.[]; ($_e))" "$_f" >/dev/null 2>&1
}

# Read one field of the first JSON line with op == $2 in file $1.
op_field() {
  jq -r --arg op "$2" "select(.op == \$op) | $3" "$1" | head -n1
}

# The pause between two looks of a wait loop: 0.1, 0.2, ... 0.5 s, then
# 0.5 s each. A look forks (grep, jq, head, kill), and under TCG ten of them
# a second cost the guest more CPU than most of what it waits for: a
# 4-scenario 6.12 run took 72-80 s of qemu CPU with them, 65 s with this.
# backoff_start, then `while [ "$_waited" -lt TENTHS ]; do ...; backoff_sleep; done`.
backoff_start() {
  _waited=0 _step=1
}
backoff_sleep() {
  sleep "0.$_step"
  _waited=$((_waited + _step))
  [ "$_step" -lt 5 ] && _step=$((_step + 1))
}

# Wait up to $2 seconds until file $1 has a line matching the ERE $3.
wait_line() {
  _f=$1 _t=$2 _re=$3
  backoff_start
  while [ "$_waited" -lt $((_t * 10)) ]; do
    grep -qE "$_re" "$_f" 2>/dev/null && return 0
    backoff_sleep
  done
  grep -qE "$_re" "$_f" 2>/dev/null
}

# `gpreempt-bpf doctor --json`, run once per boot: its answer depends only
# on the kernel and the loaded modules, and it costs seconds under TCG.
# Prints the path of the saved output; the exit status is doctor's.
doctor_json() {
  need gpreempt-bpf
  _d=/tmp/gp-shared/doctor
  mkdir -p /tmp/gp-shared
  if [ ! -f "$_d.rc" ]; then
    gpreempt-bpf doctor --json >"$_d.json" 2>"$_d.err"
    echo $? >"$_d.rc"
  fi
  echo "$_d.json"
  return "$(cat "$_d.rc")"
}

# Start `gpreempt-bpf watch ARGS` in the background, its output in $WATCH_OUT
# (with GP_WATCH_ECHO=1 also on stdout as it comes: the demo shows it), and
# wait until it has attached. Its first line is that signal in both formats:
# watch writes it once every program is attached. Fails if watch exits first.
watch_spawn() {
  need gpreempt-bpf
  # Emptied here, not by the redirection below: that one happens in the
  # child, and until it runs the loop would read the previous watch's lines.
  : >"$WATCH_OUT"
  if [ "${GP_WATCH_ECHO:-0}" = 1 ]; then
    rm -f "$GP_TMP/watch.fifo"
    mkfifo "$GP_TMP/watch.fifo" || fail "mkfifo $GP_TMP/watch.fifo failed"
    tee -a "$WATCH_OUT" <"$GP_TMP/watch.fifo" &
    bg_track $!
    gpreempt-bpf watch "$@" >"$GP_TMP/watch.fifo" 2>"$WATCH_OUT.err" &
  else
    gpreempt-bpf watch "$@" >>"$WATCH_OUT" 2>"$WATCH_OUT.err" &
  fi
  WATCH_PID=$!
  backoff_start
  while [ "$_waited" -lt 600 ]; do
    if [ -s "$WATCH_OUT" ] && head -n1 "$WATCH_OUT" | grep -q .; then
      return 0
    fi
    if ! kill -0 "$WATCH_PID" 2>/dev/null; then
      wait "$WATCH_PID"
      _rc=$?
      WATCH_PID=""
      cat "$WATCH_OUT.err"
      fail "gpreempt-bpf watch exited with $_rc before attaching: $(last_line "$WATCH_OUT.err")"
    fi
    backoff_sleep
  done
  fail "gpreempt-bpf watch printed nothing within 60 s of starting: $(last_line "$WATCH_OUT.err")"
}

# Start `gpreempt-bpf watch --json` in the background and wait until it has
# attached (first line type=attach). Extra arguments go to watch.
watch_start() {
  need gpreempt-bpf jq
  _ws=$(since)
  watch_spawn --json "$@"
  _type=$(head -n1 "$WATCH_OUT" | jq -r '.type' 2>/dev/null)
  [ "$_type" = attach ] || fail "watch: first line is not {\"type\":\"attach\"...} but: $(head -c 300 "$WATCH_OUT")"
  echo "[$(since)s] watch attached (started at ${_ws}s): $(head -n1 "$WATCH_OUT" | jq -c '{attached: (.attached | length), missing_optional: [.missing_optional[]?.symbol]}')"
}

# Stop watch with SIGINT and check it ended cleanly with a summary line.
watch_stop() {
  [ -n "$WATCH_PID" ] || fail "watch_stop without watch_start"
  kill -INT "$WATCH_PID" 2>/dev/null
  backoff_start
  while kill -0 "$WATCH_PID" 2>/dev/null && [ "$_waited" -lt 300 ]; do
    backoff_sleep
  done
  if kill -0 "$WATCH_PID" 2>/dev/null; then
    kill -KILL "$WATCH_PID"
    fail "watch did not exit within 30 s of SIGINT"
  fi
  wait "$WATCH_PID"
  _rc=$?
  WATCH_PID=""
  echo "[$(since)s] watch stopped: $(tail -n1 "$WATCH_OUT" | head -c 200)"
  [ "$_rc" -eq 0 ] || { tail -n5 "$WATCH_OUT.err"; fail "watch exited with status $_rc after SIGINT"; }
  tail -n1 "$WATCH_OUT" | jtest - '.type == "summary"' ||
    fail "watch: last line is not a summary: $(tail -n1 "$WATCH_OUT" | head -c 300)"
  jq -s length "$WATCH_OUT" >/dev/null 2>&1 || fail "watch output is not valid JSON Lines"
}

# Lines of the watch output that look like events of kind $1 owned by pid $2.
# A cheap grep pre-filter: jq is slow under TCG (seconds on 16,000 lines), and
# every use below re-checks the lines it keeps with jq.
_event_lines() {
  grep -E "\"kind\": ?\"$1\"" "$WATCH_OUT" | grep -E "[{,]\"pid\": ?$2[,}]"
}

# Events of kind $1 whose owner pid is $2, as compact JSON lines.
events_of() {
  _event_lines "$1" "$2" | jq -c --arg k "$1" --argjson pid "$2" 'select(.type == "event" and .kind == $k and .pid == $pid)'
}

count_events() {
  events_of "$1" "$2" | wc -l
}

# Wait up to $3 seconds for at least one event of kind $1 for pid $2.
wait_event() {
  backoff_start
  while [ "$_waited" -lt $(($3 * 10)) ]; do
    if _event_lines "$1" "$2" >/dev/null; then
      [ "$(count_events "$1" "$2")" -gt 0 ] && return 0
    fi
    backoff_sleep
  done
  return 1
}

summary_field() {
  tail -n1 "$WATCH_OUT" | jq -r "$1"
}

# The kernel's answer of a kfd-client line, e.g. "EINVAL" or "OK".
client_errname() {
  op_field "$1" "$2" 'if .rc < 0 then .errname else "OK" end'
}

# ---- Debian's real ROCm runtimes (scenarios with "# gp-needs: rocr") ----
# scripts/vm/mkinitramfs.sh stages each fetched ROCr (scripts/vm/fetch-rocr.sh)
# under /gp/rocr/LABEL/ with its suite's loader and libraries, and hsa-probe
# (tests/vm/hsa_probe.c) in /usr/bin. docs/rocm-runtime.md has what each did.

# The labels, one per line: bookworm (ROCr 5.2.3), trixie, sid, experimental.
rocr_labels() {
  [ -s /gp/rocr/labels ] ||
    fail "no real ROCm runtime in this initramfs: the scenario needs the header '# gp-needs: rocr' (and scripts/vm/fetch-rocr.sh must have fetched them)"
  cut -d' ' -f1 /gp/rocr/labels
}
rocr_version() { cat "/gp/rocr/$1/version"; }
# libhsa as the probe's maps show it (the loader opens the soname link, maps
# names the file).
rocr_libhsa() { readlink -f "/gp/rocr/$1/$(cat "/gp/rocr/$1/libhsa")"; }

# rocr_start FD LABEL OUT [hsa-probe ARGS...]: hsa-probe under LABEL's runtime
# in the background (stdout to OUT, stderr to OUT.err), its stdin a FIFO this
# shell keeps open as fd FD (3..9): `echo store >&FD`; rocr_end FD tells it to
# stop holding. Sets ROCR_PID.
rocr_start() {
  _fd=$1 _label=$2 _out=$3
  shift 3
  rm -f "$_out.in"
  mkfifo "$_out.in"
  eval "exec $_fd<>\"$_out.in\""
  "/gp/rocr/$_label/run" /usr/bin/hsa-probe "$@" <"$_out.in" >"$_out" 2>"$_out.err" &
  ROCR_PID=$!
  bg_track $ROCR_PID
}
rocr_end() {
  echo end >&"$1"
}

# The probe's JSON line for step $2 in file $1 (the first one).
probe_step() {
  grep -F "\"step\":\"$2\"" "$1" | head -n1
}

# Wait up to $2 s for process $1 to end; false if it did not.
wait_gone() {
  backoff_start
  while kill -0 "$1" 2>/dev/null && [ "$_waited" -lt $(($2 * 10)) ]; do
    backoff_sleep
  done
  ! kill -0 "$1" 2>/dev/null
}
