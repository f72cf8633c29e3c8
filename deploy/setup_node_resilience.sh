#!/usr/bin/env bash
# Sets up this Linux machine as a RingRift node: node.conf and the token file in /etc/ringrift,
# the ringrift-p2p and ringrift-resilience systemd services (enabled), a cron backup in
# /etc/cron.d/ringrift, log rotation for /var/log/ringrift. Without systemd: cron only.
#
# Usage: setup_node_resilience.sh [options] <node-id> <coordinator-url>
#        setup_node_resilience.sh --uninstall [--root DIR] [--dry-run]
#
#   --dry-run       print every change it would make; change nothing
#   --root DIR      install into the staging root DIR (files land under DIR, their contents name
#                   the final paths; services are enabled by links, nothing is started)
#   --cron-only     no systemd units: cron runs the watchdog (default where systemd is not
#                   running; with --root the default is systemd)
#   --bin-dir DIR   where ringrift-p2p, ringrift-resilience and riftctl are (default: this
#                   checkout's build/{release,ci,dev}/bin, else found on PATH). Binaries from
#                   a build tree are installed into /usr/local/bin.
#   --start         start the services (the runbook starts them by hand: systemctl start ...)
#   --uninstall     stop and disable the services and remove every file this script installed
#                   (RINGRIFT_DIR and the logs stay)
#   -h, --help      this text
#
# Environment (each optional; otherwise from hosts[<node-id>] in distributed_hosts.yaml, read with
# `riftctl config get`, else the default):
#   SSH_PORT                          hosts[id].ssh_port, else 22
#   P2P_PORT                          the port of hosts[id].p2p_url, else 8770
#   RINGRIFT_DIR                      hosts[id].ringrift_path, else this checkout (or
#                                     /var/lib/ringrift when run from an installed package)
#   RINGRIFT_HOSTS_FILE               $RINGRIFT_DIR/config/distributed_hosts.yaml
#   RINGRIFT_CLUSTER_AUTH_TOKEN       stored in /etc/ringrift/token (0600), referenced from
#                                     node.conf (0600); never written into node.conf
#   RINGRIFT_CLUSTER_AUTH_TOKEN_FILE  use this existing token file instead (must be 0600)
#   ADVERTISE_URL, BIND_HOST, EXTRA_PEERS   copied into node.conf when set
#
# Idempotent: a second run with the same inputs changes nothing and says so. Exit status: 0 done,
# 1 error, 2 usage.
set -euo pipefail
umask 077

PROG=setup_node_resilience.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRC_DIR=$(cd "$HERE/.." && pwd -P)
# shellcheck source=deploy/lib/setup_common.sh
. "$HERE/lib/setup_common.sh"

CONF_DIR=/etc/ringrift
NODE_CONF=$CONF_DIR/node.conf
TOKEN_PATH=$CONF_DIR/token
MANIFEST=$CONF_DIR/setup.manifest
LOG_DIR=/var/log/ringrift
UNIT_DIR=/etc/systemd/system
CRON_FILE=/etc/cron.d/ringrift
LOGROTATE_FILE=/etc/logrotate.d/ringrift
INSTALL_BIN=/usr/local/bin
UNITS="ringrift-p2p ringrift-resilience"
REQUIRED_BINS="ringrift-p2p ringrift-resilience riftctl"
OPTIONAL_BINS="ringrift-job-shim rift-c4"  # copied beside the others when built
LOG_CAP=256M   # the cron size cap, between logrotate runs

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"
}

ROOT="" DRY_RUN=0 UNINSTALL=0 MODE=auto BIN_DIR="" START=0
ARGS=""
NARGS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --cron-only) MODE=cron ;;
    --start) START=1 ;;
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
if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root (sudo $PROG ...); only --root DIR (a staging root) works without root"
fi

SETUP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ringrift-setup.XXXXXX")
trap 'rm -rf "$SETUP_TMP"' EXIT

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
live() { [ -z "$ROOT" ] && [ "$DRY_RUN" != 1 ]; }

# The value of KEY in an existing node.conf (last assignment wins, quotes removed), or nothing.
conf_get() {
  local file=$1 key=$2 line value
  [ -r "$file" ] || return 0
  line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$key=" "$file" | tail -n 1) || return 0
  value=${line#*"$key"=}
  case "$value" in
    \"*\"*) value=${value#\"}; value=${value%%\"*} ;;
    \'*\'*) value=${value#\'}; value=${value%%\'*} ;;
    *) value=${value%%[[:space:]]#*}; value=${value%"${value##*[![:space:]]}"} ;;
  esac
  printf '%s\n' "$value"
}

# Stops a daemon that runs without a service manager (cron-only mode): the process holding the
# daemon's lock ($RINGRIFT_DIR/state/p2p.lock records "pid start-time"), only if it still holds
# the lock and runs our binary. Never matches processes by name.
stop_direct_daemon() {
  local dir=$1 exe=$2 lock pid
  lock=$dir/state/p2p.lock
  [ -f "$lock" ] || return 0
  if command -v flock >/dev/null 2>&1 && flock -n "$lock" true 2>/dev/null; then
    return 0  # nobody holds it: no daemon running
  fi
  pid=""
  read -r pid _ <"$lock" || true
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  # Same executable file (device and inode: works across mount namespaces), or the path of one
  # that has since been replaced.
  local running
  running=$(readlink "/proc/$pid/exe" 2>/dev/null) || true
  if [ "/proc/$pid/exe" -ef "$exe" ] || [ "$running" = "$exe (deleted)" ]; then
    run_change kill -TERM "$pid"
  else
    say "  (pid $pid from $lock is not $exe: left alone)"
  fi
}

# ---- uninstall -----------------------------------------------------------------------------------

if [ "$UNINSTALL" = 1 ]; then
  say "uninstalling the RingRift node setup${ROOT:+ from $ROOT}"
  if live && systemd_running; then
    for unit in ringrift-resilience ringrift-p2p; do
      if systemctl cat "$unit.service" >/dev/null 2>&1; then
        if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
          run_change systemctl disable --quiet "$unit"
        fi
        if systemctl is-active --quiet "$unit"; then run_change systemctl stop "$unit"; fi
      fi
    done
  elif live; then
    # Cron-only mode: the cron file goes first so cron cannot restart what we stop.
    old_dir=$(conf_get "$NODE_CONF" RINGRIFT_DIR)
    old_bin=$(grep -m1 ' root .*/ringrift-resilience ' "$CRON_FILE" 2>/dev/null |
      sed -n 's|.* root \(/[^ ]*\)/ringrift-resilience .*|\1/ringrift-p2p|p') || true
    if [ -n "$old_dir" ] && [ -n "$old_bin" ]; then
      remove_entry file "$CRON_FILE"
      stop_direct_daemon "$old_dir" "$old_bin"
    fi
  fi
  uninstall_manifest
  if live && systemd_running; then run_change systemctl daemon-reload; fi
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

if [ "$MODE" = auto ]; then
  if [ -n "$ROOT" ] || systemd_running; then MODE=systemd; else MODE=cron; fi
fi

# The binaries: where they are now, and where the services will run them from.
# shellcheck disable=SC2086  # word lists
SRC_BIN=$(find_bin_dir "$SRC_DIR" $REQUIRED_BINS) || exit 1
# shellcheck disable=SC2086
check_bins_run "$SRC_BIN" $REQUIRED_BINS
say "binaries: $SRC_BIN ($("$SRC_BIN/ringrift-p2p" --version 2>/dev/null || echo "no version"))"
RIFTCTL=$SRC_BIN/riftctl
COPY_BINS=0
if [ -n "$ROOT" ]; then
  case "$SRC_BIN/" in
    "$ROOT"/*) FINAL_BIN=${SRC_BIN#"$ROOT"} ;;
    *) FINAL_BIN=$INSTALL_BIN COPY_BINS=1 ;;
  esac
else
  case "$SRC_BIN/" in
    "$SRC_DIR"/*) FINAL_BIN=$INSTALL_BIN COPY_BINS=1 ;;
    *) FINAL_BIN=$SRC_BIN ;;
  esac
fi

# RINGRIFT_DIR and the cluster file: env, else the host's entry, else the default.
if [ -f "$SRC_DIR/CMakeLists.txt" ] && [ -d "$SRC_DIR/deploy" ]; then
  DEFAULT_DIR=$SRC_DIR
else
  DEFAULT_DIR=/var/lib/ringrift
fi
FINAL_HOSTS=${RINGRIFT_HOSTS_FILE:-${RINGRIFT_DIR:-$DEFAULT_DIR}/config/distributed_hosts.yaml}
HOSTS_FILE=$FINAL_HOSTS
if [ -n "$ROOT" ] && [ -f "$ROOT$FINAL_HOSTS" ]; then HOSTS_FILE=$ROOT$FINAL_HOSTS; fi
if [ -n "${RINGRIFT_HOSTS_FILE:-}" ] && [ ! -f "$HOSTS_FILE" ]; then
  die "RINGRIFT_HOSTS_FILE=$RINGRIFT_HOSTS_FILE: no such file"
fi
if [ -f "$HOSTS_FILE" ]; then
  say "cluster file: $HOSTS_FILE"
  if [ -z "$(yaml_get "hosts.$NODE_ID")" ]; then
    warn "node '$NODE_ID' has no entry under hosts: in $HOSTS_FILE (the SSH pipeline will not" \
      "know it; SSH_PORT and the rest come from the environment or the defaults)"
  fi
else
  say "cluster file: none at $HOSTS_FILE (values from the environment or the defaults)"
  HOSTS_FILE=""
fi

source_of() {  # for the report: where a value came from
  if [ -n "$2" ]; then echo "environment"; elif [ -n "$3" ]; then echo "$4"; else echo "default"; fi
}

y_dir=$(yaml_get "hosts.$NODE_ID.ringrift_path")
RINGRIFT_DIR_VALUE=${RINGRIFT_DIR:-${y_dir:-$DEFAULT_DIR}}
src_dir=$(source_of x "${RINGRIFT_DIR:-}" "$y_dir" "hosts.$NODE_ID.ringrift_path")

y_ssh=$(yaml_get "hosts.$NODE_ID.ssh_port")
SSH_PORT_VALUE=${SSH_PORT:-${y_ssh:-22}}
src_ssh=$(source_of x "${SSH_PORT:-}" "$y_ssh" "hosts.$NODE_ID.ssh_port")

y_url=$(yaml_get "hosts.$NODE_ID.p2p_url")
y_port=""
[ -n "$y_url" ] && valid_url "$y_url" && y_port=$(url_port "$y_url")
P2P_PORT_VALUE=${P2P_PORT:-${y_port:-8770}}
src_p2p=$(source_of x "${P2P_PORT:-}" "$y_port" "hosts.$NODE_ID.p2p_url")

valid_port "$SSH_PORT_VALUE" || die "bad SSH_PORT '$SSH_PORT_VALUE' ($src_ssh): expected 1-65535"
valid_port "$P2P_PORT_VALUE" || die "bad P2P_PORT '$P2P_PORT_VALUE' ($src_p2p): expected 1-65535"
case "$RINGRIFT_DIR_VALUE" in
  /*) ;;
  *) die "RINGRIFT_DIR must be an absolute path, got '$RINGRIFT_DIR_VALUE' ($src_dir)" ;;
esac
RINGRIFT_DIR_VALUE=${RINGRIFT_DIR_VALUE%/}
if [ "$MODE" = systemd ]; then
  case "$RINGRIFT_DIR_VALUE/" in
    /usr/* | /etc/* | /boot/* | /efi/*)
      die "RINGRIFT_DIR=$RINGRIFT_DIR_VALUE ($src_dir) is under a directory the services see" \
        "read-only (ProtectSystem=full): use /opt, /srv, /var/lib or a home directory"
      ;;
  esac
fi

# The token: exported value > exported file > what the previous node.conf referenced (or held in
# plaintext, which moves into the token file) > none.
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
      "(chmod 600 $TOKEN_FILE_REF)"
  say "token: the file $TOKEN_FILE_REF"
else
  old_ref=$(conf_get "$OLD_CONF" RINGRIFT_CLUSTER_AUTH_TOKEN_FILE)
  old_token=$(conf_get "$OLD_CONF" RINGRIFT_CLUSTER_AUTH_TOKEN)
  if [ -n "$old_ref" ] && [ "$old_ref" != "$TOKEN_PATH" ] && [ -e "$ROOT$old_ref" ]; then
    TOKEN_FILE_REF=$old_ref
    say "token: keeping the file $old_ref named by the existing node.conf"
  elif [ -n "$old_ref" ] && [ -f "$ROOT$TOKEN_PATH" ]; then
    TOKEN_VALUE=$(cat "$ROOT$TOKEN_PATH")
    say "token: keeping $TOKEN_PATH"
  elif [ -n "$old_token" ]; then
    TOKEN_VALUE=$old_token
    say "token: moving the plaintext token out of the existing node.conf into $TOKEN_PATH"
  else
    warn "no RINGRIFT_CLUSTER_AUTH_TOKEN exported: this node's API will be unauthenticated" \
      "(export the cluster's token and re-run)"
  fi
fi
case "$TOKEN_VALUE" in
  *[[:space:]]*) die "the token contains whitespace; a cluster token is one word" ;;
esac
[ -n "$TOKEN_VALUE" ] && TOKEN_FILE_REF=$TOKEN_PATH

check_coordinator "$COORDINATOR_URL"

say "node $NODE_ID: RINGRIFT_DIR=$RINGRIFT_DIR_VALUE ($src_dir), P2P_PORT=$P2P_PORT_VALUE" \
  "($src_p2p), SSH_PORT=$SSH_PORT_VALUE ($src_ssh), mode: $MODE${ROOT:+, staging root $ROOT}"
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"

# ---- node.conf ----------------------------------------------------------------------------------

MANAGED="NODE_ID COORDINATOR_URL RINGRIFT_DIR P2P_PORT SSH_PORT RINGRIFT_CLUSTER_AUTH_TOKEN_FILE
RINGRIFT_CLUSTER_AUTH_TOKEN RINGRIFT_HOSTS_FILE"
for key in ADVERTISE_URL BIND_HOST EXTRA_PEERS; do
  eval "v=\${$key:-}"
  [ -n "$v" ] && MANAGED="$MANAGED $key"
done
is_managed() {
  case " $(printf '%s' "$MANAGED" | tr '\n' ' ') " in *" $1 "*) return 0 ;; esac
  return 1
}

conf_line() {  # KEY VALUE
  local q
  q=$(conf_value "$2") || die "$1: the value '$2' holds a quote or a newline; node.conf cannot" \
    "carry it"
  printf '%s=%s\n' "$1" "$q"
}

write_node_conf() {
  cat <<EOF
# $NODE_CONF: this node's settings, read by ringrift-p2p and ringrift-resilience
# (systemd also passes them as their environment). Written by $PROG: re-run it
# to change the values it manages; other keys are kept, at the end. Every key is described in
# config/node.conf.example.
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
  # Keys this script does not manage, kept as they were.
  if [ -r "$OLD_CONF" ]; then
    local line k kept=0
    while IFS= read -r line || [ -n "$line" ]; do
      k=$(printf '%s' "$line" |
        sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)=.*/\2/p')
      [ -n "$k" ] || continue
      is_managed "$k" && continue
      if [ "$kept" = 0 ]; then
        printf '%s\n' "# Kept from the previous node.conf:"
        kept=1
      fi
      printf '%s\n' "$line"
    done <"$OLD_CONF"
  fi
}

# ---- files --------------------------------------------------------------------------------------

ensure_dir $CONF_DIR 0755
ensure_dir $LOG_DIR 0750
ensure_dir "$RINGRIFT_DIR_VALUE" 0755

if [ "$COPY_BINS" = 1 ]; then
  ensure_dir $INSTALL_BIN 0755
  for name in $REQUIRED_BINS $OPTIONAL_BINS; do
    [ -f "$SRC_BIN/$name" ] || continue
    put_file "$INSTALL_BIN/$name" 0755 <"$SRC_BIN/$name"
  done
fi


if [ -n "$TOKEN_VALUE" ]; then
  printf '%s\n' "$TOKEN_VALUE" >"$SETUP_TMP/token"
  put_file "$TOKEN_PATH" 0600 <"$SETUP_TMP/token"
fi
write_node_conf >"$SETUP_TMP/node.conf" || exit 1
put_file "$NODE_CONF" 0600 <"$SETUP_TMP/node.conf"
CONF_CHANGES=$SETUP_CHANGES

if [ "$MODE" = systemd ]; then
  ensure_dir /etc/systemd 0755
  ensure_dir $UNIT_DIR 0755
  for unit in $UNITS; do
    render "$SRC_DIR/systemd/$unit.service.in" "BINDIR=$FINAL_BIN" >"$SETUP_TMP/$unit" || exit 1
    put_file "$UNIT_DIR/$unit.service" 0644 <"$SETUP_TMP/$unit"
  done
fi
UNIT_CHANGES=$((SETUP_CHANGES - CONF_CHANGES))
# What a running service must be restarted for: binaries, token, node.conf, units.
RESTART_CHANGES=$SETUP_CHANGES

write_cron() {
  local cmd="$FINAL_BIN/ringrift-resilience --config $NODE_CONF"
  echo "# $CRON_FILE: written by $PROG; re-run it to change this file."
  if [ "$MODE" = systemd ]; then
    cat <<EOF
# A backup for systemd: every 5 minutes one watchdog pass brings the daemon back if it is down
# (the pass does nothing while ringrift-resilience.service holds the watchdog lock).
EOF
  else
    cat <<EOF
# Cron-only mode (no systemd): one watchdog pass every 5 minutes and at boot starts the daemon
# when it is down, and runs fallback selfplay while the node is cut off.
EOF
  fi
  cat <<EOF
# Hourly, logs over $LOG_CAP are truncated (logrotate rotates them daily; this caps them between).
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
*/5 * * * * root $cmd --once >>$LOG_DIR/resilience.log 2>&1
EOF
  if [ "$MODE" = cron ]; then
    echo "@reboot root $cmd --once >>$LOG_DIR/resilience.log 2>&1"
  fi
  echo "17 * * * * root find $LOG_DIR -maxdepth 1 -type f -name '*.log' -size +$LOG_CAP" \
    "-exec truncate -s 0 {} +"
}
ensure_dir /etc/cron.d 0755
write_cron >"$SETUP_TMP/cron"
put_file $CRON_FILE 0644 <"$SETUP_TMP/cron"

ensure_dir /etc/logrotate.d 0755
cat >"$SETUP_TMP/logrotate" <<EOF
# $LOGROTATE_FILE: written by $PROG.
# The daemon and the watchdog keep their logs open in append mode: copytruncate rotates them in
# place, so \`tail -f\` keeps working.
$LOG_DIR/*.log {
    daily
    maxsize 64M
    rotate 7
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
EOF
put_file $LOGROTATE_FILE 0644 <"$SETUP_TMP/logrotate"

if [ "$MODE" = systemd ] && [ -n "$ROOT" ]; then
  # What `systemctl enable` does, without a running systemd.
  ensure_dir $UNIT_DIR/multi-user.target.wants 0755
  for unit in $UNITS; do
    put_link "$UNIT_DIR/multi-user.target.wants/$unit.service" "$UNIT_DIR/$unit.service"
  done
fi

finish_manifest

# ---- the live system: check, enable, (re)start ------------------------------------------------

FILE_CHANGES=$SETUP_CHANGES
if live; then
  # The settings exactly as the daemon will load them (P2P_PORT=0 only skips the bind test, which
  # a daemon already running on the port would fail).
  check_out=$SETUP_TMP/check.out
  if ! env -i PATH="$PATH" P2P_PORT=0 "$FINAL_BIN/ringrift-p2p" --check-config \
    --config "$NODE_CONF" >"$check_out" 2>&1; then
    sed 's/^/  /' "$check_out" >&2
    die "the daemon refuses this configuration (above); fix it and re-run"
  fi
  grep -v 'P2P_PORT: warning: 0 picks' "$check_out" | grep ': warning: ' |
    while IFS= read -r line; do printf '%s: warning: %s\n' "$PROG" "$line" >&2; done || true
fi

if live && [ "$MODE" = systemd ]; then
  if ! systemd_running; then
    die "systemd is not running here: re-run with --cron-only"
  fi
  if [ "$UNIT_CHANGES" -gt 0 ]; then run_change systemctl daemon-reload; fi
  for unit in $UNITS; do
    systemctl is-enabled --quiet "$unit" 2>/dev/null || run_change systemctl enable --quiet "$unit"
  done
  for unit in $UNITS; do
    if systemctl is-active --quiet "$unit"; then
      # New settings take effect now; jobs survive the daemon's restart (KillMode=process).
      if [ "$RESTART_CHANGES" -gt 0 ]; then run_change systemctl restart "$unit"; fi
    elif [ "$START" = 1 ]; then
      run_change systemctl start "$unit"
    fi
  done
elif live && [ "$MODE" = cron ]; then
  health_ok() {
    command -v curl >/dev/null 2>&1 &&
      curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$P2P_PORT_VALUE/health"
  }
  if [ "$START" = 1 ] || [ "$FILE_CHANGES" -gt 0 ]; then
    if ! health_ok; then
      # One watchdog pass now, instead of waiting up to 5 minutes for cron.
      run_change sh -c "$FINAL_BIN/ringrift-resilience --config $NODE_CONF --once \
>>$LOG_DIR/resilience.log 2>&1"
    fi
  fi
  if [ ! -e /run/crond.pid ] && [ ! -e /var/run/crond.pid ]; then
    warn "cron does not seem to be running: start it (service cron start) so the watchdog runs"
  fi
fi

summary "this node is already set up as requested"
if [ "$DRY_RUN" != 1 ] && [ -z "$ROOT" ]; then
  if [ "$MODE" = systemd ]; then
    say "next: systemctl start ringrift-p2p; systemctl start ringrift-resilience"
  fi
  say "verify: curl http://localhost:$P2P_PORT_VALUE/health; tail -f $LOG_DIR/p2p.log" \
    "$LOG_DIR/resilience.log"
fi
