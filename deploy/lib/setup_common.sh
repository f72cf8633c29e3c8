# shellcheck shell=bash
# Shared by deploy/setup_node_resilience.sh (Linux) and deploy/setup_node_resilience_macos.sh.
# Sourced, never run. Written for bash 3.2 as well (macOS): no associative arrays, no mapfile, no
# ${x,,}, and no empty-array expansions under `set -u`.
#
# The callers set, before using the file helpers:
#   ROOT      staging root ("" = the live system); every path below is a final path, written
#             under $ROOT
#   DRY_RUN   1 = report what would change, change nothing
#   MANIFEST  final path of the manifest (every file, link and directory this setup wrote)

# Bash 5.2 would otherwise treat '&' in ${var//pattern/replacement} as the matched text.
shopt -u patsub_replacement 2>/dev/null || true

SETUP_CHANGES=0
SETUP_WRITTEN=""   # newline-separated manifest entries of this run ("file P", "dir P")
SETUP_WARNINGS=0

say() { printf '%s\n' "$*"; }
warn() {
  SETUP_WARNINGS=$((SETUP_WARNINGS + 1))
  printf '%s: warning: %s\n' "$PROG" "$*" >&2
}
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  printf "Run '%s --help' for usage.\n" "$PROG" >&2
  exit 2
}

# One change made (or, with --dry-run, one that would be made).
changed() {
  SETUP_CHANGES=$((SETUP_CHANGES + 1))
  if [ "$DRY_RUN" = 1 ]; then say "  would $1"; else say "  $2"; fi
}

# Runs a command that changes the system (or prints it under --dry-run).
run_change() {
  if [ "$DRY_RUN" = 1 ]; then
    SETUP_CHANGES=$((SETUP_CHANGES + 1))
    say "  would run: $*"
    return 0
  fi
  SETUP_CHANGES=$((SETUP_CHANGES + 1))
  say "  ran: $*"
  "$@"
}

# ---- validation -------------------------------------------------------------------------------

valid_node_id() {  # the daemon's rule: [A-Za-z0-9._-], 1-64 characters
  case "$1" in
    '' | *[!A-Za-z0-9._-]*) return 1 ;;
  esac
  [ "${#1}" -le 64 ]
}

valid_port() {
  case "$1" in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "${#1}" -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

valid_url() {  # http(s)://host[:port][/path], host non-empty, no whitespace or quotes
  case "$1" in
    *[[:space:]]* | *\"* | *\'* | *\\*) return 1 ;;
    http://?* | https://?*) ;;
    *) return 1 ;;
  esac
  local rest=${1#*://} host
  rest=${rest%%/*}
  case "$rest" in
    \[*\]) host=$rest ;;
    \[*\]:*) host=${rest%:*} ;;
    \[* | *\]*) return 1 ;;
    *:*) host=${rest%:*} ;;
    *) host=$rest ;;
  esac
  if [ "$host" != "$rest" ]; then
    valid_port "${rest##*:}" || return 1
  fi
  case "$host" in '' | *@* | *:*[!\]]) return 1 ;; esac
}

# Port of an http(s) URL (explicit, else 80/443).
url_port() {
  local rest=${1#*://}
  rest=${rest%%/*}
  case "$rest" in
    *\]:* | [!\[]*:*) printf '%s\n' "${rest##*:}" ;;
    *) case "$1" in https://*) echo 443 ;; *) echo 80 ;; esac ;;
  esac
}

url_host() {
  local rest=${1#*://}
  rest=${rest%%/*}
  case "$rest" in
    \[*) rest=${rest#\[}; printf '%s\n' "${rest%%\]*}" ;;
    *) printf '%s\n' "${rest%:*}" ;;
  esac
}

# Warns (never fails) when the coordinator does not answer GET /health within 5 s.
check_coordinator() {
  local url=${1%/} code why
  if command -v curl >/dev/null 2>&1; then
    if code=$(curl -sS -o /dev/null --connect-timeout 5 --max-time 5 -w '%{http_code}' \
      "$url/health" 2>"$SETUP_TMP/curl.err"); then
      case "$code" in
        200) say "coordinator $url answers /health" ;;
        *) warn "coordinator $url answered /health with HTTP $code; continuing" ;;
      esac
    else
      why=$(tail -n 1 "$SETUP_TMP/curl.err")
      warn "coordinator $url is not reachable (${why#curl: }); continuing: the daemon keeps" \
        "retrying its seeds, but check the URL and the firewall"
    fi
    return 0
  fi
  # No curl: at least a TCP connect, with bash's /dev/tcp.
  local host port
  host=$(url_host "$url")
  port=$(url_port "$url")
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    say "coordinator $url accepts connections (curl not installed: /health not checked)"
  else
    warn "coordinator $url is not reachable (no TCP connection to $host:$port); continuing"
  fi
}

# ---- values -----------------------------------------------------------------------------------

# A value as node.conf writes it: bare when safe for both the shell and systemd's
# EnvironmentFile=, else single-quoted. Values holding a single quote or a newline are refused.
conf_value() {
  case "$1" in
    *"'"* | *"
"*) return 1 ;;
    *[!A-Za-z0-9._:/@,+=%-]*) printf "'%s'" "$1" ;;
    *) printf '%s' "$1" ;;
  esac
}

# XML text escaping for plist strings.
xml_escape() {
  local s=$1
  s=${s//&/&amp;}
  s=${s//</&lt;}
  s=${s//>/&gt;}
  printf '%s' "$s"
}

# render TEMPLATE NAME=VALUE... : the template with every @NAME@ replaced by VALUE; fails when a
# placeholder is left over (a template and its script out of step).
render() {
  local template=$1 content pair name value
  shift
  [ -f "$template" ] || die "template $template is missing (incomplete checkout or package?)"
  content=$(cat "$template") || die "cannot read $template"
  for pair in "$@"; do
    name=${pair%%=*}
    value=${pair#*=}
    content=${content//@$name@/$value}
  done
  case "$content" in
    *@[A-Z_]*@*)
      local left=${content#*@}
      left=${left%%@*}
      die "template $template: placeholder @$left@ has no value"
      ;;
  esac
  printf '%s\n' "$content"
}

# ---- files ------------------------------------------------------------------------------------

# Exact permission bits, portable between GNU and BSD find.
has_mode() { [ -n "$(find "$1" -prune -perm "$2" 2>/dev/null)" ]; }

record() { SETUP_WRITTEN="$SETUP_WRITTEN$1
"; }

# ensure_dir FINAL_PATH MODE: creates the directory (and records it) when missing; fixes the mode
# of a directory this setup created before.
ensure_dir() {
  local final=$1 mode=$2 path="$ROOT$1"
  if [ -d "$path" ]; then
    # Parents this setup created on an earlier run stay ours.
    local up
    up=$(dirname "$final")
    while [ "$up" != / ] && [ "$up" != . ]; do
      if manifest_has "dir $up"; then record "dir $up"; fi
      up=$(dirname "$up")
    done
    if manifest_has "dir $final"; then
      record "dir $final"
      if ! has_mode "$path" "$mode"; then
        changed "chmod $mode $final" "chmod $mode $final"
        [ "$DRY_RUN" = 1 ] || chmod "$mode" "$path"
      fi
    fi
    return 0
  fi
  [ -e "$path" ] && die "$path exists and is not a directory"
  # Parents first, so each directory created is recorded (and removed by --uninstall).
  local parent
  parent=$(dirname "$final")
  if [ "$parent" != "$final" ] && [ ! -d "$ROOT$parent" ]; then
    ensure_dir "$parent" 0755
  fi
  record "dir $final"
  changed "create directory $final ($mode)" "created directory $final ($mode)"
  if [ "$DRY_RUN" != 1 ]; then
    mkdir "$path" || die "cannot create $path"
    chmod "$mode" "$path" || die "cannot chmod $path"
  fi
}

# put_file FINAL_PATH MODE < CONTENT: writes the file atomically when its content or mode
# differ; records it either way (it is ours). Never call it at the end of a pipeline: it must run
# in the script's shell to count and record (generate into a file under $SETUP_TMP first).
put_file() {
  local final=$1 mode=$2 path="$ROOT$1" new tmp
  record "file $final"
  # Compare first, from our own temp directory: a run that changes nothing touches nothing (not
  # even a directory's mtime).
  new=$(mktemp "$SETUP_TMP/put.XXXXXX")
  cat >"$new" || die "cannot buffer the content of $final"
  if [ -f "$path" ] && [ ! -L "$path" ] && cmp -s "$new" "$path" && has_mode "$path" "$mode"; then
    rm -f "$new"
    return 0
  fi
  local verb=write
  [ -e "$path" ] && verb=update
  if [ "$DRY_RUN" = 1 ]; then
    rm -f "$new"
    changed "$verb $final ($mode)" ""
    return 0
  fi
  # Atomic: a temp file next to the target, renamed over it.
  tmp=$(mktemp "$(dirname "$path")/.ringrift-setup.XXXXXX") ||
    die "cannot write in $(dirname "$path")"
  if ! cat "$new" >"$tmp" || ! chmod "$mode" "$tmp" || ! mv -f "$tmp" "$path"; then
    rm -f "$tmp" "$new"
    die "cannot write $path"
  fi
  rm -f "$new"
  if [ "$verb" = write ]; then verb=wrote; else verb=updated; fi
  changed "" "$verb $final ($mode)"
}

# put_link FINAL_PATH TARGET: a symbolic link (as `systemctl enable` makes them).
put_link() {
  local final=$1 target=$2 path="$ROOT$1"
  record "link $final"
  if [ -L "$path" ] && [ "$(readlink "$path")" = "$target" ]; then return 0; fi
  [ -e "$path" ] && [ ! -L "$path" ] && die "$path exists and is not a symbolic link"
  changed "link $final -> $target" "linked $final -> $target"
  if [ "$DRY_RUN" != 1 ]; then
    rm -f "$path"
    ln -s "$target" "$path" || die "cannot create the link $path"
  fi
}

# The manifest of the previous run (empty when there was none).
manifest_has() {
  [ -f "$ROOT$MANIFEST" ] && grep -qxF -- "$1" "$ROOT$MANIFEST"
}

# Manifest entries of a file (comments and blank lines dropped), paths deepest first: a reverse
# sort on the path puts every path before its parent directory.
manifest_entries() {
  grep -v -e '^#' -e '^$' "$1" | LC_ALL=C sort -u | LC_ALL=C sort -r -k2
}

# Writes the manifest (this run's entries), and removes what an earlier run wrote that this run
# no longer writes (for example units after switching to cron-only mode).
finish_manifest() {
  local line
  record "file $MANIFEST"
  printf '%s' "$SETUP_WRITTEN" | LC_ALL=C sort -u >"$SETUP_TMP/manifest.new"
  if [ -f "$ROOT$MANIFEST" ]; then
    manifest_entries "$ROOT$MANIFEST" >"$SETUP_TMP/manifest.old"
    # No pipeline into the loop: it must run in this shell to count its changes.
    while IFS= read -r line; do
      grep -qxF -- "$line" "$SETUP_TMP/manifest.new" && continue
      remove_entry "${line%% *}" "${line#* }"
    done <"$SETUP_TMP/manifest.old"
  fi
  {
    printf '%s\n' "# Written by $PROG: every file, link and directory it installed" \
      "# ($PROG --uninstall removes them). Do not edit."
    cat "$SETUP_TMP/manifest.new"
  } >"$SETUP_TMP/manifest"
  put_file "$MANIFEST" 0600 <"$SETUP_TMP/manifest"
}

# remove_entry KIND FINAL_PATH: removes one manifest entry (directories only when empty).
remove_entry() {
  local kind=$1 final=$2 path="$ROOT$2"
  case "$kind" in
    file | link)
      if [ -e "$path" ] || [ -L "$path" ]; then
        changed "remove $final" "removed $final"
        [ "$DRY_RUN" = 1 ] || rm -f "$path"
      fi
      ;;
    dir)
      if [ -d "$path" ]; then
        if [ -z "$(ls -A "$path" 2>/dev/null)" ]; then
          changed "remove directory $final" "removed directory $final"
          [ "$DRY_RUN" = 1 ] || rmdir "$path"
        else
          say "  kept $final (not empty)"
        fi
      fi
      ;;
  esac
}

# Removes everything the manifest lists, deepest paths first (directories only when empty).
uninstall_manifest() {
  local line
  if [ ! -f "$ROOT$MANIFEST" ]; then
    say "nothing to remove: no $MANIFEST (this setup was never run here)"
    return 0
  fi
  manifest_entries "$ROOT$MANIFEST" >"$SETUP_TMP/manifest.old"
  while IFS= read -r line; do
    remove_entry "${line%% *}" "${line#* }"
  done <"$SETUP_TMP/manifest.old"
}

# ---- binaries and the cluster file ---------------------------------------------------------------

# Absolute, physical path of a directory.
abs_dir() { (cd "$1" 2>/dev/null && pwd -P); }

# find_bin_dir SRC_DIR NAME...: --bin-dir (BIN_DIR) if given, else the first that holds every
# NAME of SRC_DIR/build/{release,ci,dev}/bin (a checkout's fresh build wins over copies that an
# earlier setup installed) and the directory of NAME on PATH; fails listing what is missing.
find_bin_dir() {
  local src=$1 candidates="" d name missing found
  shift
  if [ -n "${BIN_DIR:-}" ]; then
    candidates=$BIN_DIR
  else
    for d in release ci dev; do candidates="$candidates
$src/build/$d/bin"; done
    if command -v "$1" >/dev/null 2>&1; then
      candidates="$candidates
$(dirname "$(command -v "$1")")"
    fi
  fi
  local tried=""
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    tried="$tried $d"
    missing=""
    for name in "$@"; do
      [ -x "$d/$name" ] && [ -f "$d/$name" ] || missing="$missing $name"
    done
    if [ -z "$missing" ]; then
      found=$(abs_dir "$d") && {
        printf '%s\n' "$found"
        return 0
      }
    fi
    if [ -n "${BIN_DIR:-}" ]; then
      die "missing binaries in $d:$missing (build them: cmake --build <build-dir> --target" \
        "$* ; or install the package)"
    fi
  done <<EOF
$candidates
EOF
  die "missing binaries: none of [$tried ] holds all of: $* (build them with" \
    "\`deploy/bootstrap.sh build\`, install the ringrift package, or pass --bin-dir DIR)"
}

# Each binary must run here (the original's nodes failed on missing shared libraries).
check_bins_run() {
  local dir=$1 name out
  shift
  local status
  for name in "$@"; do
    status=0
    out=$("$dir/$name" --help 2>&1 >/dev/null) || status=$?
    if [ "$status" -ne 0 ]; then
      die "$dir/$name does not run (exit status $status): $out"
    fi
  done
}

# yaml_get KEY: the value of KEY in $HOSTS_FILE via `riftctl config get`; prints nothing when
# unset or when there is no cluster file; dies on a broken file.
yaml_get() {
  [ -n "${HOSTS_FILE:-}" ] && [ -f "$HOSTS_FILE" ] || return 0
  local out status=0
  out=$("$RIFTCTL" config get "$1" --hosts-file "$HOSTS_FILE" 2>"$SETUP_TMP/yaml.err") || status=$?
  case "$status" in
    0) printf '%s\n' "$out" ;;
    1) ;;
    *) die "cannot read $1 from $HOSTS_FILE: $(cat "$SETUP_TMP/yaml.err")" ;;
  esac
}

summary() {
  if [ "$SETUP_CHANGES" -eq 0 ]; then
    say "no changes: $1"
  elif [ "$DRY_RUN" = 1 ]; then
    say "dry run: $SETUP_CHANGES change(s) would be made; nothing was changed"
  else
    say "done: $SETUP_CHANGES change(s)"
  fi
  if [ "$SETUP_WARNINGS" -gt 0 ]; then say "($SETUP_WARNINGS warning(s) above)"; fi
}
