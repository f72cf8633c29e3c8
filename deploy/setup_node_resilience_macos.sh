#!/usr/bin/env bash
# Sets up this Mac as a RingRift node for the current user: node.conf and the token file in
# ~/Library/Application Support/RingRift, the LaunchAgents com.ringrift.p2p and
# com.ringrift.resilience in ~/Library/LaunchAgents (loaded with launchctl bootstrap, restarted
# with launchctl kickstart), logs in ~/Library/Logs/RingRift/p2p.log and resilience.log.
#
# Usage: setup_node_resilience_macos.sh [options] <node-id> <coordinator-url>
#        setup_node_resilience_macos.sh --uninstall [--root DIR] [--dry-run]
#
#   --dry-run       print every change it would make; change nothing
#   --root DIR      install into the staging root DIR (files land under DIR$HOME/..., their
#                   contents name the final paths; nothing is loaded). Works on Linux too.
#   --bin-dir DIR   where ringrift-p2p, ringrift-resilience and riftctl are (default: this
#                   checkout's build/{release,ci,dev}/bin, else found on PATH); the agents run them
#                   from there
#   --uninstall     unload the agents and remove every file this script installed
#                   (RINGRIFT_DIR and the logs stay)
#   -h, --help      this text
#
# Environment: the same as deploy/setup_node_resilience.sh (SSH_PORT, P2P_PORT, RINGRIFT_DIR,
# RINGRIFT_HOSTS_FILE, RINGRIFT_CLUSTER_AUTH_TOKEN, RINGRIFT_CLUSTER_AUTH_TOKEN_FILE,
# ADVERTISE_URL, BIND_HOST, EXTRA_PEERS), each else from hosts[<node-id>] in
# distributed_hosts.yaml (read with `riftctl config get`), else the default.
#
# Run it as the user who runs the node, not with sudo. Idempotent: a second run with the same
# inputs changes nothing and says so. Exit status: 0 done, 1 error, 2 usage.
set -euo pipefail
umask 077

PROG=setup_node_resilience_macos.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRC_DIR=$(cd "$HERE/.." && pwd -P)
# shellcheck source=deploy/lib/setup_common.sh
. "$HERE/lib/setup_common.sh"

LABELS="com.ringrift.p2p com.ringrift.resilience"
REQUIRED_BINS="ringrift-p2p ringrift-resilience riftctl"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"
}

ROOT="" DRY_RUN=0 UNINSTALL=0 BIN_DIR=""
ARGS=""
NARGS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --root | --bin-dir)
      if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a directory"; fi
      if [ "$1" = --root ]; then ROOT=$2; else BIN_DIR=$2; fi
      shift
      ;;
    --root=*) ROOT=${1#--root=} ;;
    --bin-dir=*) BIN_DIR=${1#--bin-dir=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      while [ $# -gt 0 ]; do
        NARGS=$((NARGS + 1))
        ARGS="$ARGS$1
"
        shift
      done
      break
      ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
      NARGS=$((NARGS + 1))
      ARGS="$ARGS$1
"
      ;;
  esac
  shift
done

if [ "$UNINSTALL" = 1 ]; then
  [ "$NARGS" -eq 0 ] || usage_error "--uninstall takes no node id or URL"
else
  [ "$NARGS" -eq 2 ] || usage_error "expected <node-id> <coordinator-url>, got $NARGS argument(s)"
  NODE_ID=$(printf '%s' "$ARGS" | sed -n 1p)
  COORDINATOR_URL=$(printf '%s' "$ARGS" | sed -n 2p)
fi

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
  ROOT=$(abs_dir "$ROOT")
  [ "$ROOT" = / ] && ROOT=""
fi
if [ -z "$ROOT" ]; then
  [ "$(uname -s)" = Darwin ] ||
    die "this is the macOS setup (use deploy/setup_node_resilience.sh on Linux, or --root DIR" \
      "to stage a Mac's files here)"
  [ "$(id -u)" -ne 0 ] ||
    die "run as the user who runs the node, not as root: LaunchAgents belong to a user"
fi
[ -n "${HOME:-}" ] || die "HOME is not set"
case "$HOME" in /*) ;; *) die "HOME must be an absolute path, got '$HOME'" ;; esac
HOME_DIR=${HOME%/}

SUPPORT_DIR="$HOME_DIR/Library/Application Support/RingRift"
NODE_CONF=$SUPPORT_DIR/node.conf
TOKEN_PATH=$SUPPORT_DIR/token
MANIFEST=$SUPPORT_DIR/setup.manifest
AGENT_DIR=$HOME_DIR/Library/LaunchAgents
LOG_DIR=$HOME_DIR/Library/Logs/RingRift

SETUP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ringrift-setup.XXXXXX")
trap 'rm -rf "$SETUP_TMP"' EXIT

live() { [ -z "$ROOT" ] && [ "$DRY_RUN" != 1 ]; }
DOMAIN=gui/$(id -u)
loaded() { launchctl print "$DOMAIN/$1" >/dev/null 2>&1; }

conf_get() {  # the value of KEY in an existing node.conf, or nothing
  local file=$1 key=$2 line value
  [ -r "$file" ] || return 0
  line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$key=" "$file" | tail -n 1) || return 0
  value=${line#*"$key"=}
  case "$value" in
    \"*\"*) value=${value#\"}; value=${value%%\"*} ;;
    \'*\'*) value=${value#\'}; value=${value%%\'*} ;;
    *) value=${value%%[[:space:]]#*} ;;
  esac
  printf '%s\n' "$value"
}

# ---- uninstall -----------------------------------------------------------------------------------

if [ "$UNINSTALL" = 1 ]; then
  say "uninstalling the RingRift LaunchAgents${ROOT:+ from $ROOT}"
  if live; then
    for label in com.ringrift.resilience com.ringrift.p2p; do
      if loaded "$label"; then run_change launchctl bootout "$DOMAIN/$label"; fi
    done
  fi
  uninstall_manifest
  summary "nothing of this setup is installed${ROOT:+ in $ROOT}"
  exit 0
fi

# ---- inputs --------------------------------------------------------------------------------------

valid_node_id "$NODE_ID" ||
  die "bad node id '$NODE_ID': use letters, digits, '.', '_' and '-' (1-64 characters)"
valid_url "$COORDINATOR_URL" ||
  die "bad coordinator URL '$COORDINATOR_URL': expected http(s)://host[:port], e.g." \
    "http://10.0.0.1:8770"
COORDINATOR_URL=${COORDINATOR_URL%/}

# shellcheck disable=SC2086  # word lists
BIN=$(find_bin_dir "$SRC_DIR" $REQUIRED_BINS) || exit 1
# shellcheck disable=SC2086
check_bins_run "$BIN" $REQUIRED_BINS
say "binaries: $BIN ($("$BIN/ringrift-p2p" --version 2>/dev/null || echo "no version"))"
RIFTCTL=$BIN/riftctl
FINAL_BIN=$BIN
if [ -n "$ROOT" ]; then
  case "$BIN/" in "$ROOT"/*) FINAL_BIN=${BIN#"$ROOT"} ;; esac
fi

DEFAULT_DIR=$SRC_DIR
[ -f "$SRC_DIR/CMakeLists.txt" ] || DEFAULT_DIR="$SUPPORT_DIR/data"
FINAL_HOSTS=${RINGRIFT_HOSTS_FILE:-${RINGRIFT_DIR:-$DEFAULT_DIR}/config/distributed_hosts.yaml}
HOSTS_FILE=$FINAL_HOSTS
if [ -n "$ROOT" ] && [ -f "$ROOT$FINAL_HOSTS" ]; then HOSTS_FILE=$ROOT$FINAL_HOSTS; fi
if [ -n "${RINGRIFT_HOSTS_FILE:-}" ] && [ ! -f "$HOSTS_FILE" ]; then
  die "RINGRIFT_HOSTS_FILE=$RINGRIFT_HOSTS_FILE: no such file"
fi
if [ -f "$HOSTS_FILE" ]; then
  say "cluster file: $HOSTS_FILE"
  if [ -z "$(yaml_get "hosts.$NODE_ID")" ]; then
    warn "node '$NODE_ID' has no entry under hosts: in $HOSTS_FILE"
  fi
else
  say "cluster file: none at $HOSTS_FILE (values from the environment or the defaults)"
  HOSTS_FILE=""
fi

y_dir=$(yaml_get "hosts.$NODE_ID.ringrift_path")
RINGRIFT_DIR_VALUE=${RINGRIFT_DIR:-${y_dir:-$DEFAULT_DIR}}
y_ssh=$(yaml_get "hosts.$NODE_ID.ssh_port")
SSH_PORT_VALUE=${SSH_PORT:-${y_ssh:-22}}
y_url=$(yaml_get "hosts.$NODE_ID.p2p_url")
y_port=""
[ -n "$y_url" ] && valid_url "$y_url" && y_port=$(url_port "$y_url")
P2P_PORT_VALUE=${P2P_PORT:-${y_port:-8770}}
valid_port "$SSH_PORT_VALUE" || die "bad SSH_PORT '$SSH_PORT_VALUE': expected 1-65535"
valid_port "$P2P_PORT_VALUE" || die "bad P2P_PORT '$P2P_PORT_VALUE': expected 1-65535"
case "$RINGRIFT_DIR_VALUE" in
  /*) RINGRIFT_DIR_VALUE=${RINGRIFT_DIR_VALUE%/} ;;
  *) die "RINGRIFT_DIR must be an absolute path, got '$RINGRIFT_DIR_VALUE'" ;;
esac

OLD_CONF=$ROOT$NODE_CONF
TOKEN_VALUE="" TOKEN_FILE_REF=""
if [ -n "${RINGRIFT_CLUSTER_AUTH_TOKEN:-}" ]; then
  TOKEN_VALUE=$RINGRIFT_CLUSTER_AUTH_TOKEN
  say "token: from RINGRIFT_CLUSTER_AUTH_TOKEN, stored in $TOKEN_PATH (0600)"
elif [ -n "${RINGRIFT_CLUSTER_AUTH_TOKEN_FILE:-}" ]; then
  TOKEN_FILE_REF=$RINGRIFT_CLUSTER_AUTH_TOKEN_FILE
  tf=$TOKEN_FILE_REF
  [ -n "$ROOT" ] && [ -e "$ROOT$tf" ] && tf=$ROOT$tf
  [ -f "$tf" ] || die "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=$TOKEN_FILE_REF: no such file"
  has_mode "$tf" 0600 || has_mode "$tf" 0400 ||
    die "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=$TOKEN_FILE_REF must be readable by its owner only" \
      "(chmod 600 '$TOKEN_FILE_REF')"
elif [ -f "$ROOT$TOKEN_PATH" ] && [ -n "$(conf_get "$OLD_CONF" RINGRIFT_CLUSTER_AUTH_TOKEN_FILE)" ]
then
  TOKEN_VALUE=$(cat "$ROOT$TOKEN_PATH")
  say "token: keeping $TOKEN_PATH"
else
  warn "no RINGRIFT_CLUSTER_AUTH_TOKEN exported: this node's API will be unauthenticated" \
    "(export the cluster's token and re-run)"
fi
case "$TOKEN_VALUE" in
  *[[:space:]]*) die "the token contains whitespace; a cluster token is one word" ;;
esac
[ -n "$TOKEN_VALUE" ] && TOKEN_FILE_REF=$TOKEN_PATH

check_coordinator "$COORDINATOR_URL"
say "node $NODE_ID: RINGRIFT_DIR=$RINGRIFT_DIR_VALUE, P2P_PORT=$P2P_PORT_VALUE," \
  "SSH_PORT=$SSH_PORT_VALUE${ROOT:+, staging root $ROOT}"
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"

# ---- files --------------------------------------------------------------------------------------

conf_line() {
  local q
  q=$(conf_value "$2") || die "$1: the value '$2' holds a quote or a newline"
  printf '%s=%s\n' "$1" "$q"
}

write_node_conf() {
  cat <<EOF
# This node's settings, read by ringrift-p2p and ringrift-resilience (the LaunchAgents pass
# this file with --config). Written by $PROG: re-run it to change them.
# Every key is described in config/node.conf.example.
EOF
  conf_line NODE_ID "$NODE_ID"
  conf_line COORDINATOR_URL "$COORDINATOR_URL"
  conf_line RINGRIFT_DIR "$RINGRIFT_DIR_VALUE"
  conf_line P2P_PORT "$P2P_PORT_VALUE"
  conf_line SSH_PORT "$SSH_PORT_VALUE"
  if [ -n "$TOKEN_FILE_REF" ]; then conf_line RINGRIFT_CLUSTER_AUTH_TOKEN_FILE "$TOKEN_FILE_REF"; fi
  if [ "$FINAL_HOSTS" != "$RINGRIFT_DIR_VALUE/config/distributed_hosts.yaml" ] &&
    [ -n "$HOSTS_FILE" ]; then
    conf_line RINGRIFT_HOSTS_FILE "$FINAL_HOSTS"
  fi
  local key v
  for key in ADVERTISE_URL BIND_HOST EXTRA_PEERS; do
    eval "v=\${$key:-}"
    if [ -n "$v" ]; then conf_line "$key" "$v"; fi
  done
}

ensure_dir "$SUPPORT_DIR" 0700
ensure_dir "$AGENT_DIR" 0755
ensure_dir "$LOG_DIR" 0755
ensure_dir "$RINGRIFT_DIR_VALUE" 0755

if [ -n "$TOKEN_VALUE" ]; then
  printf '%s\n' "$TOKEN_VALUE" >"$SETUP_TMP/token"
  put_file "$TOKEN_PATH" 0600 <"$SETUP_TMP/token"
fi
write_node_conf >"$SETUP_TMP/node.conf" || exit 1
put_file "$NODE_CONF" 0600 <"$SETUP_TMP/node.conf"
CONF_CHANGES=$SETUP_CHANGES

CHANGED_AGENTS=""
for label in $LABELS; do
  before=$SETUP_CHANGES
  render "$SRC_DIR/launchd/$label.plist.in" \
    "BINDIR=$(xml_escape "$FINAL_BIN")" \
    "NODE_CONF=$(xml_escape "$NODE_CONF")" \
    "RINGRIFT_DIR=$(xml_escape "$RINGRIFT_DIR_VALUE")" \
    "LOG_DIR=$(xml_escape "$LOG_DIR")" >"$SETUP_TMP/$label.plist" || exit 1
  put_file "$AGENT_DIR/$label.plist" 0644 <"$SETUP_TMP/$label.plist"
  if [ "$SETUP_CHANGES" -ne "$before" ]; then CHANGED_AGENTS="$CHANGED_AGENTS $label"; fi
done

finish_manifest

# ---- launchd ------------------------------------------------------------------------------------

if live; then
  for label in $LABELS; do
    plist=$AGENT_DIR/$label.plist
    case " $CHANGED_AGENTS " in
      *" $label "*)
        # A changed plist is only read again by a fresh bootstrap.
        if loaded "$label"; then run_change launchctl bootout "$DOMAIN/$label"; fi
        run_change launchctl bootstrap "$DOMAIN" "$plist"
        ;;
      *)
        if ! loaded "$label"; then
          run_change launchctl bootstrap "$DOMAIN" "$plist"
        elif [ "$CONF_CHANGES" -gt 0 ]; then
          # Same plist, new node.conf: restart so it is read.
          run_change launchctl kickstart -k "$DOMAIN/$label"
        fi
        ;;
    esac
    if launchctl print-disabled "$DOMAIN" 2>/dev/null | grep -Eq "\"$label\" => (true|disabled)"
    then
      run_change launchctl enable "$DOMAIN/$label"
      run_change launchctl kickstart "$DOMAIN/$label"
    fi
  done
fi

summary "this node is already set up as requested"
if [ "$DRY_RUN" != 1 ] && [ -z "$ROOT" ]; then
  say "verify: curl http://localhost:$P2P_PORT_VALUE/health; tail -f $LOG_DIR/p2p.log" \
    "$LOG_DIR/resilience.log"
fi
