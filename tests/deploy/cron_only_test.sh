#!/usr/bin/env bash
# Cron-only mode for real: the setup stages a node (real binaries from this build) into a root;
# the root then runs as / (a chroot in a private mount namespace: the host's /usr with the staged
# /usr/local/bin on top, /proc, /dev), and the command of the cron file's */5 line, run the way
# cron runs it, starts the daemon; the daemon is killed, the same command brings it back, and
# /health answers. Root only (mount namespace, chroot).
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

need_root_tools

BIN=$T/bin
make_bin_dir "$BIN"
R=$T/root
mkdir -p "$R/srv/ringrift"
PORT=$(free_port)
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

# The root as / (the host's /usr with the staged /usr/local/bin over it), the command run the
# way cron runs it.
prepare_root "$R"
mkdir "$T/staged-bin"
cp -a "$R/usr/local/bin/." "$T/staged-bin/"
run_cron_command() {
  in_root "$R" "$T/staged-bin" /usr/bin/env -i HOME=/root LOGNAME=root SHELL="$CRON_SHELL" \
    PATH="$CRON_PATH" "$CRON_SHELL" -c "$CMD"
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
stop_daemon

# ---- the live path: the setup script itself runs inside a root (as / and as root) -------------
step "a live cron-only setup inside a root: the node is up when it returns"
L=$T/live
prepare_root "$L"
mkdir -p "$L/bins" "$L/srv" "$T/live-usr-local-bin"
for name in ringrift-p2p ringrift-resilience riftctl; do cp -L "$BIN/$name" "$L/bins/$name"; done
LPORT=$(free_port)
# As root inside the root, with an empty /usr/local/bin of the test's (nothing reaches the host).
in_live_root() { in_root "$L" "$T/live-usr-local-bin" "$@"; }
live_pid() { awk '{print $1; exit}' "$L/srv/ringrift/state/p2p.lock" 2>/dev/null; }
stop_live() {
  local pid
  pid=$(live_pid)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ringrift-p2p ] &&
    kill -TERM "$pid" 2>/dev/null
  return 0
}
on_exit stop_live
lhealth() { curl -fsS --max-time 3 "http://127.0.0.1:$LPORT/health" 2>/dev/null; }

run_setup live in_live_root env RINGRIFT_DIR=/srv/ringrift P2P_PORT="$LPORT" BIND_HOST=127.0.0.1 \
  RINGRIFT_CLUSTER_AUTH_TOKEN=live-token bash /src/deploy/setup_node_resilience.sh --cron-only \
  --bin-dir /bins n2 http://127.0.0.1:1
expect_rc 0 "live cron-only setup"
# Installed binaries (not in a build tree) are used where they are.
assert_contains "$OUT" "ran: sh -c /bins/ringrift-resilience --config /etc/ringrift/node.conf --once" \
  "the setup runs one watchdog pass"
assert_contains "$ERR" "cron does not seem to be running" "a missing cron daemon is reported"
for _ in $(seq 1 100); do
  lhealth >/dev/null && break
  sleep 0.1
done
assert_contains "$(lhealth)" '"node_id":"n2"' "the node answers /health when the setup returns"
assert_line "$L/etc/cron.d/ringrift" "@reboot root /bins/ringrift-resilience --config \
/etc/ringrift/node.conf --once >>/var/log/ringrift/resilience.log 2>&1"
assert_mode "$L/etc/ringrift/node.conf" 600
assert_mode "$L/etc/ringrift/token" 600

step "a second live run changes nothing and leaves the daemon alone"
LPID=$(live_pid)
run_setup live2 in_live_root env RINGRIFT_DIR=/srv/ringrift P2P_PORT="$LPORT" \
  BIND_HOST=127.0.0.1 RINGRIFT_CLUSTER_AUTH_TOKEN=live-token \
  bash /src/deploy/setup_node_resilience.sh --cron-only --bin-dir /bins n2 http://127.0.0.1:1
expect_rc 0 "second live run"
assert_contains "$OUT" "no changes: this node is already set up as requested" "second live run"
assert_eq "$LPID" "$(live_pid)" "the daemon was not restarted"

step "a configuration the daemon refuses stops the setup"
run_setup badconf in_live_root env RINGRIFT_DIR=/srv/ringrift P2P_PORT="$LPORT" \
  BIND_HOST=127.0.0.1 EXTRA_PEERS=not-a-url RINGRIFT_CLUSTER_AUTH_TOKEN=live-token \
  bash /src/deploy/setup_node_resilience.sh --cron-only --bin-dir /bins n2 http://127.0.0.1:1
expect_rc 1 "a refused configuration"
assert_contains "$ERR" "EXTRA_PEERS" "the daemon's problem is shown"
assert_contains "$ERR" "the daemon refuses this configuration" "the setup says why it stopped"

step "live --uninstall: cron file first, then the daemon, then every file"
run_setup liveun in_live_root bash /src/deploy/setup_node_resilience.sh --uninstall
expect_rc 0 "live uninstall"
assert_contains "$OUT" "removed /etc/cron.d/ringrift" "the cron file goes"
assert_contains "$OUT" "ran: kill -TERM $LPID" "the daemon is stopped"
for _ in $(seq 1 100); do
  lhealth >/dev/null || break
  sleep 0.1
done
lhealth >/dev/null && fail "the daemon still answers after --uninstall"
ok
[ ! -e "$L/etc/ringrift" ] || fail "/etc/ringrift is still there: $(ls -la "$L/etc/ringrift")"
ok
[ -z "$(ls -A "$T/live-usr-local-bin")" ] || fail "the live setup wrote into /usr/local/bin"
ok

done_ok
