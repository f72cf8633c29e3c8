#!/usr/bin/env bash
# The live systemd path of deploy/setup_node_resilience.sh: the script runs as root inside a root
# that looks like a systemd machine (/run/systemd/system), with a recording `systemctl` first on
# PATH (this machine has no running systemd to drive). Checks the exact systemctl commands: reload
# only when a unit changed, enable once, restart running services only when their inputs
# changed, nothing on a second run, --start, and --uninstall (disable, stop, reload). The daemon's
# own --check-config runs for real. Root only (mount namespace, chroot).
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

need_root_tools
unset SSH_PORT
BIN=$T/bin
make_bin_dir "$BIN"
L=$T/root
prepare_root "$L"
mkdir -p "$L/bins" "$L/fake/state" "$L/fakebin" "$L/run/systemd/system" "$T/usr-local-bin"
for name in ringrift-p2p ringrift-resilience riftctl; do cp -L "$BIN/$name" "$L/bins/$name"; done
# The recording systemctl: every call appended to /fake/calls; is-enabled / is-active answered
# from /fake/state, which enable / disable / start / restart / stop update.
cat >"$L/fakebin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>/fake/calls
for last; do :; done
unit=${last%.service}
case "$1" in
  is-enabled) [ -e "/fake/state/enabled.$unit" ] ;;
  is-active) [ -e "/fake/state/active.$unit" ] ;;
  enable) touch "/fake/state/enabled.$unit" ;;
  disable) rm -f "/fake/state/enabled.$unit" ;;
  start | restart) touch "/fake/state/active.$unit" ;;
  stop) rm -f "/fake/state/active.$unit" ;;
  cat) [ -e "/etc/systemd/system/$unit.service" ] ;;
  daemon-reload) ;;
  *) echo "unexpected systemctl call: $*" >&2; exit 1 ;;
esac
EOF
chmod +x "$L/fakebin/systemctl"
PORT=$(free_port)

setup() {  # NAME ARGS...: the setup script, live, inside the root (SSH_PORT passed on if set)
  local name=$1 extra=()
  shift
  if [ -n "${SSH_PORT:-}" ]; then extra=("SSH_PORT=$SSH_PORT"); fi
  : >"$L/fake/calls"
  run_setup "$name" in_root "$L" "$T/usr-local-bin" env \
    PATH=/fakebin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RINGRIFT_DIR=/srv/ringrift P2P_PORT="$PORT" BIND_HOST=127.0.0.1 \
    RINGRIFT_CLUSTER_AUTH_TOKEN=live-token "${extra[@]}" \
    bash /src/deploy/setup_node_resilience.sh --bin-dir /bins "$@"
}
# The state-changing calls (queries left out), one per line.
mutations() { grep -v -e ' is-enabled ' -e ' is-active ' -e ' cat ' "$L/fake/calls" || true; }

step "first run: units written, reloaded, enabled; nothing started"
setup first n1 http://127.0.0.1:1
expect_rc 0 "first live run"
assert_contains "$OUT" "mode: systemd" "systemd is detected"
assert_eq "systemctl daemon-reload
systemctl enable --quiet ringrift-p2p
systemctl enable --quiet ringrift-resilience" "$(mutations)" "systemctl calls of a first run"
assert_contains "$OUT" "next: systemctl start ringrift-p2p; systemctl start ringrift-resilience" \
  "the runbook's next step"
assert_line "$L/etc/systemd/system/ringrift-p2p.service" \
  "ExecStart=/bins/ringrift-p2p --config /etc/ringrift/node.conf"
[ ! -e "$L/etc/systemd/system/multi-user.target.wants" ] ||
  fail "a live run made enable links itself (systemctl enable does that)"
ok

step "the operator starts the services; a second run changes nothing"
in_root "$L" "$T/usr-local-bin" /fakebin/systemctl start ringrift-p2p
in_root "$L" "$T/usr-local-bin" /fakebin/systemctl start ringrift-resilience
setup second n1 http://127.0.0.1:1
expect_rc 0 "second live run"
assert_contains "$OUT" "no changes: this node is already set up as requested" "second run"
assert_eq "" "$(mutations)" "no systemctl changes on a second run"

step "a new SSH_PORT: node.conf changes, running services restart, no reload"
SSH_PORT=2022 setup port n1 http://127.0.0.1:1
expect_rc 0 "changed SSH_PORT"
assert_eq "systemctl restart ringrift-p2p
systemctl restart ringrift-resilience" "$(mutations)" "restart on a changed node.conf"
assert_line "$L/etc/ringrift/node.conf" "SSH_PORT=2022"

step "--start starts a stopped service"
in_root "$L" "$T/usr-local-bin" /fakebin/systemctl stop ringrift-resilience
SSH_PORT=2022 setup start --start n1 http://127.0.0.1:1
expect_rc 0 "--start"
assert_eq "systemctl start ringrift-resilience" "$(mutations)" "only the stopped service starts"

step "--dry-run runs nothing"
setup dry --dry-run n1 http://127.0.0.1:1
expect_rc 0 "dry run"
assert_eq "" "$(mutations)" "a dry run calls no systemctl command"
assert_line "$L/etc/ringrift/node.conf" "SSH_PORT=2022"

step "--uninstall: disable, stop, remove, reload"
setup uninstall --uninstall
expect_rc 0 "live uninstall"
assert_eq "systemctl disable --quiet ringrift-resilience
systemctl stop ringrift-resilience
systemctl disable --quiet ringrift-p2p
systemctl stop ringrift-p2p
systemctl daemon-reload" "$(mutations)" "systemctl calls of --uninstall"
for f in /etc/ringrift /etc/systemd/system/ringrift-p2p.service /etc/cron.d/ringrift \
  /etc/logrotate.d/ringrift; do
  [ ! -e "$L$f" ] || fail "$f is still there after --uninstall"
  ok
done
[ -z "$(ls -A "$T/usr-local-bin")" ] || fail "the setup wrote into /usr/local/bin"
ok

done_ok
