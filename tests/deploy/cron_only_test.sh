#!/usr/bin/env bash
# Cron-only mode for real: the setup stages a node (real binaries from this build) into a root;
# the root then runs as / (a chroot in a private mount namespace: the host's /usr with the staged
# /usr/local/bin on top, /proc, /dev), and the command of the cron file's */5 line, run the way
# cron runs it, starts the daemon; the daemon is killed, the same command brings it back, and
# /health answers. Root only (mount namespace, chroot).
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (mount namespace and chroot)"
for tool in unshare chroot mount curl python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
unshare --mount --propagation private true 2>/dev/null || skip "cannot create a mount namespace here"

BIN=$T/bin
make_bin_dir "$BIN"
R=$T/root
mkdir -p "$R/srv/ringrift"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
unset SSH_PORT RINGRIFT_HOSTS_FILE RINGRIFT_CLUSTER_AUTH_TOKEN_FILE ADVERTISE_URL EXTRA_PEERS

step "stage a cron-only node"
RINGRIFT_DIR=/srv/ringrift P2P_PORT=$PORT BIND_HOST=127.0.0.1 \
  RINGRIFT_CLUSTER_AUTH_TOKEN=cron-$RANDOM$RANDOM \
  run_setup stage bash "$SETUP" --cron-only --root "$R" --bin-dir "$BIN" n1 http://127.0.0.1:1
expect_rc 0 "staging"
[ ! -e "$R/etc/systemd" ] || fail "cron-only mode wrote systemd files"
ok
CRON=$R/etc/cron.d/ringrift
python3 "$TESTS_DIR/check_cron.py" "$CRON" || fail "the cron file breaks cron's rules"
ok
# Test tuning, the way an operator tunes a node: keys in node.conf (the setup keeps them). No
# startup grace or backoff (this test restarts at once), no fallback selfplay.
cat >>"$R/etc/ringrift/node.conf" <<'EOF'
RINGRIFT_WATCHDOG_STARTUP_GRACE=0s
RINGRIFT_WATCHDOG_BACKOFF_INITIAL=0s
RINGRIFT_WATCHDOG_INTERVAL=500ms
RINGRIFT_WATCHDOG_FALLBACK=false
EOF

# The command of the */5 line, and the environment cron gives it (the file's SHELL and PATH).
CMD=$(sed -n 's|^\*/5 \* \* \* \* root ||p' "$CRON")
[ -n "$CMD" ] || fail "no */5 line in $CRON"
CRON_PATH=$(sed -n 's/^PATH=//p' "$CRON")
CRON_SHELL=$(sed -n 's/^SHELL=//p' "$CRON")
echo "cron command: $CMD"

# The root as / : merged-/usr links, the host's /usr with the staged /usr/local/bin over it.
for d in bin sbin lib lib64 lib32 libx32; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"; fi
done
mkdir -p "$R/proc" "$R/dev" "$R/tmp" "$T/staged-bin"
chmod 1777 "$R/tmp"
run_cron_command() {
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private bash -euc '
    R=$1 STAGED=$2
    mount --bind "$R/usr/local/bin" "$STAGED"
    mount --rbind /usr "$R/usr"
    mount --bind "$STAGED" "$R/usr/local/bin"
    mount --rbind /dev "$R/dev"
    mount -t proc proc "$R/proc"
    exec chroot "$R" /usr/bin/env -i HOME=/root LOGNAME=root SHELL="$3" PATH="$4" "$3" -c "$5"
  ' run "$R" "$T/staged-bin" "$CRON_SHELL" "$CRON_PATH" "$CMD"
}

health() { curl -fsS --max-time 3 "http://127.0.0.1:$PORT/health" 2>/dev/null; }
daemon_pid() {  # the holder recorded in the daemon's lock file
  awk '{print $1; exit}' "$R/srv/ringrift/state/p2p.lock" 2>/dev/null
}
# Stops the daemon the test leaves behind: the holder of its lock, if that is a ringrift-p2p.
stop_daemon() {
  local pid
  pid=$(daemon_pid)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ringrift-p2p ] &&
    kill -TERM "$pid" 2>/dev/null
  return 0
}
on_exit stop_daemon

# Runs the cron command (as cron would, again on its next tick) until /health answers: the
# watchdog may defer a restart; every pass is bounded, and so are the tries.
until_healthy() {
  local i
  for i in $(seq 1 20); do
    run_cron_command >>"$T/cron-runs.log" 2>&1 || echo "(run $i: exit status $?)" >>"$T/cron-runs.log"
    if health >/dev/null; then
      echo "healthy after $i run(s) of the cron command"
      return 0
    fi
    sleep 1
  done
  echo "--- cron runs:" >&2
  cat "$T/cron-runs.log" >&2
  echo "--- resilience.log:" >&2
  cat "$R/var/log/ringrift/resilience.log" >&2 || true
  echo "--- p2p.log:" >&2
  tail -n 50 "$R/var/log/ringrift/p2p.log" >&2 || true
  fail "the daemon did not come up on port $PORT"
}

step "the cron command starts the daemon"
health >/dev/null && fail "something already answers on port $PORT"
until_healthy
H=$(health)
assert_contains "$H" '"node_id":"n1"' "/health names the node"
FIRST=$(daemon_pid)
[ -n "$FIRST" ] || fail "no daemon lock record"
ok
[ -s "$R/var/log/ringrift/resilience.log" ] || fail "the cron line's log is empty"
ok
[ -s "$R/var/log/ringrift/p2p.log" ] || fail "the daemon does not log to /var/log/ringrift/p2p.log"
ok

step "kill -9 the daemon; the cron command brings it back"
kill -KILL "$FIRST"
for _ in $(seq 1 50); do
  health >/dev/null || break
  sleep 0.1
done
health >/dev/null && fail "the daemon still answers after kill -9"
until_healthy
SECOND=$(daemon_pid)
if [ -z "$SECOND" ] || [ "$SECOND" = "$FIRST" ]; then
  fail "no new daemon (pid $FIRST -> $SECOND)"
fi
ok
assert_contains "$(health)" '"node_id":"n1"' "/health after the restart"

step "a healthy daemon is left alone"
run_cron_command >>"$T/cron-runs.log" 2>&1 || true
assert_eq "$SECOND" "$(daemon_pid)" "the cron command does not restart a healthy daemon"

done_ok
