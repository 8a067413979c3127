# A private apt configuration for fetching Debian packages by name without
# touching the host's apt state (sourced by fetch-kernels.sh and
# fetch-rocr.sh; not executed). Its own sources, lists, cache and an empty
# dpkg status; none of the host's apt.conf.d hooks. The archive URIs are
# copied at run time from the host's own apt sources, so no registry host
# name lives in this repository. The caller defines suites_for KEY, which
# prints "kind:suite" words ("main:trixie", "security:bookworm-security").
# shellcheck shell=bash

# Print "URI<TAB>SIGNED_BY" for the host's archive of the given kind: "main"
# (the stanza whose suites include a plain release name) or "security" (the
# one carrying *-security). Reads deb822 .sources files first, then one-line
# sources.list files. Signed-By is kept only when it is a file path.
host_uri() {
  local kind=$1 f
  local files=()
  for f in /etc/apt/sources.list.d/*.sources; do [[ -f $f ]] && files+=("$f"); done
  if ((${#files[@]})); then
    awk -v kind="$kind" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && uri != "") {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) {
            sec = (s[i] ~ /-security$/)
            plain = (s[i] !~ /-/)
            if ((kind == "security" && sec) || (kind == "main" && plain)) {
              split(uri, u, " ")
              print u[1] "\t" signed
              found = 1; exit
            }
          }
        }
        types = ""; uri = ""; suites = ""; signed = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }  # continuation line (e.g. an embedded key)
      {
        key = tolower($1); sub(/:$/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uri = val
        else if (key == "suites") suites = val
        else if (key == "enabled") enabled = tolower(val)
        else if (key == "signed-by" && val ~ /^\//) signed = val
      }
      END { if (!found) flush() }
    ' "${files[@]}" | head -n1 && return 0
  fi
  files=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [[ -f $f ]] && files+=("$f"); done
  ((${#files[@]})) || return 0
  awk -v kind="$kind" '
    $1 != "deb" { next }
    {
      opts = ""; i = 2
      if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
      uri = $i; suite = $(i + 1)
      signed = ""
      if (match(opts, /signed-by=[^ \]]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
      if ((kind == "security" && suite ~ /-security$/) || (kind == "main" && suite !~ /-/)) {
        print uri "\t" signed; exit
      }
    }
  ' "${files[@]}" | head -n1
}

# Build the private apt tree for one kernel: sources, lists, cache, an empty
# dpkg status (so resolution never depends on what the host has installed)
# and an apt.conf that does NOT read the host's apt.conf.d (its update hooks
# would touch host state), but keeps the host's network settings (proxy,
# validity checks) so the same archive is reachable the same way.
setup_private_apt() {
  local k=$1 dir=$2 entry kind suite line uri signed
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/etc/parts" "$dir/etc/prefs"
  : >"$dir/status"
  : >"$dir/etc/sources.list.tmp"
  for entry in $(suites_for "$k"); do
    kind=${entry%%:*}
    suite=${entry#*:}
    line=$(host_uri "$kind")
    [[ -n $line ]] || die "no '$kind' Debian archive in the host's /etc/apt/sources.list.d/*.sources or sources.list; cannot reach suite $suite"
    uri=${line%%$'\t'*}
    signed=${line#*$'\t'}
    if [[ -n $signed ]]; then
      echo "deb [signed-by=$signed] $uri $suite main" >>"$dir/etc/sources.list.tmp"
    else
      echo "deb $uri $suite main" >>"$dir/etc/sources.list.tmp"
    fi
  done
  mv "$dir/etc/sources.list.tmp" "$dir/etc/sources.list"
  {
    echo "Dir::Etc::Parts \"$dir/etc/parts\";"
    echo "Dir::Etc::PreferencesParts \"$dir/etc/prefs\";"
    echo "Dir::Etc::Preferences \"$dir/etc/preferences\";"
    echo "Dir::Etc::SourceList \"$dir/etc/sources.list\";"
    echo "Dir::Etc::SourceParts \"/dev/null\";"
    echo "Dir::State \"$dir\";"
    echo "Dir::State::Lists \"$dir/lists\";"
    echo "Dir::State::status \"$dir/status\";"
    echo "Dir::Cache \"$dir/cache\";"
    echo "Dir::Log \"$dir\";"
    echo "APT::Architecture \"$(dpkg --print-architecture)\";"
    echo 'Acquire::Languages "none";'
    echo 'Acquire::GzipIndexes "true";'
    echo 'Acquire::http::Timeout "30";'
    echo 'Acquire::https::Timeout "30";'
    echo 'Acquire::Retries "2";'
    # As root, apt downloads as the _apt user, which cannot write into
    # root's ~/.cache; these are plain files we only unpack, never install.
    if [[ $(id -u) == 0 ]]; then echo 'APT::Sandbox::User "root";'; fi
    # Carry over the host's network-related settings only (proxy, and the
    # validity-date checks a snapshot mirror may need switched off).
    apt-config dump 2>/dev/null | grep -E '^Acquire::(https?|ftp)::Proxy|^Acquire::Check-(Valid-Until|Date) ' || true
  } >"$dir/apt.conf"
}

# apt-get/apt-cache through the private configuration only, each call
# bounded by PAPT_TIMEOUT seconds (local look-ups: 120 s).
papt() {
  local dir=$1 tool=$2
  shift 2
  APT_CONFIG="$dir/apt.conf" timeout "${PAPT_TIMEOUT:-120}" "$tool" \
    -o Dir::Etc::SourceList="$dir/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
    -o Dir::State::status="$dir/status" "$@"
}
