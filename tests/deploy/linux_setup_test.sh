#!/usr/bin/env bash
# deploy/setup_node_resilience.sh into staging roots: every file it writes (content and mode),
# the units under `systemd-analyze verify`, the cron file under cron's rules, the logrotate file
# under logrotate, idempotency, --dry-run, --uninstall, the errors, and values taken from
# distributed_hosts.yaml through `riftctl config get`.
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

BIN=$T/bin
make_bin_dir "$BIN"
URL=http://127.0.0.1:1  # nothing listens there: the coordinator check warns
TOKEN=tok-$RANDOM$RANDOM-secret
unset SSH_PORT P2P_PORT RINGRIFT_DIR RINGRIFT_HOSTS_FILE RINGRIFT_CLUSTER_AUTH_TOKEN \
  RINGRIFT_CLUSTER_AUTH_TOKEN_FILE ADVERTISE_URL BIND_HOST EXTRA_PEERS

# A staging root with a checkout-like RINGRIFT_DIR holding the cluster file.
R=$T/root
mkdir -p "$R/srv/ringrift/config"
cat >"$R/srv/ringrift/config/distributed_hosts.yaml" <<'EOF'
hosts:
  gpu-1:
    ssh_host: gpu-1.example.org
    ssh_port: 2222
    p2p_url: http://gpu-1.example.org:8771
    p2p_voter: true
  cpu.2:
    ssh_host: cpu-2.example.org
p2p_voters: [gpu-1]
EOF
BEFORE=$(inventory "$R")

step "errors"
run_setup usage bash "$SETUP"
expect_rc 2 "no arguments"
assert_contains "$ERR" "expected <node-id> <coordinator-url>" "usage message"
run_setup badopt bash "$SETUP" --frobnicate n1 "$URL"
expect_rc 2 "unknown option"
assert_contains "$ERR" "unknown option '--frobnicate'" "unknown option message"
run_setup badid bash "$SETUP" --root "$R" --bin-dir "$BIN" 'bad/id' "$URL"
expect_rc 1 "bad node id"
assert_contains "$ERR" "bad node id 'bad/id'" "bad node id message"
run_setup longid bash "$SETUP" --root "$R" --bin-dir "$BIN" "$(printf 'a%.0s' $(seq 65))" "$URL"
expect_rc 1 "65-character node id"
run_setup badurl bash "$SETUP" --root "$R" --bin-dir "$BIN" n1 ftp://x
expect_rc 1 "bad URL"
assert_contains "$ERR" "bad coordinator URL 'ftp://x'" "bad URL message"
mkdir "$T/empty"
run_setup nobins bash "$SETUP" --root "$R" --bin-dir "$T/empty" n1 "$URL"
expect_rc 1 "missing binaries"
assert_contains "$ERR" "missing binaries in $T/empty: ringrift-p2p ringrift-resilience riftctl" \
  "missing binaries message"
mkdir "$T/broken"
cp -P "$BIN"/* "$T/broken/"
rm "$T/broken/ringrift-p2p"
head -c 4096 "$RIFT_P2P" >"$T/broken/ringrift-p2p"  # a truncated (corrupt) binary
chmod +x "$T/broken/ringrift-p2p"
run_setup broken bash "$SETUP" --root "$R" --bin-dir "$T/broken" n1 "$URL"
expect_rc 1 "a binary that does not run"
assert_contains "$ERR" "$T/broken/ringrift-p2p does not run" "corrupt binary message"
if [ "$(id -u)" -eq 0 ]; then
  run_setup notroot setpriv --reuid=65534 --regid=65534 --clear-groups bash "$SETUP" n1 "$URL"
else
  run_setup notroot bash "$SETUP" n1 "$URL"
fi
expect_rc 1 "not root"
assert_contains "$ERR" "must run as root" "not root message"
RINGRIFT_DIR=/usr/local/ringrift run_setup protected bash "$SETUP" --root "$R" --bin-dir "$BIN" \
  gpu-1 "$URL"
expect_rc 1 "RINGRIFT_DIR under /usr"
assert_contains "$ERR" "read-only (ProtectSystem=full)" "ProtectSystem message"
assert_eq "$BEFORE" "$(inventory "$R")" "failed runs leave the root untouched"

step "dry run: prints the plan, writes nothing"
export RINGRIFT_DIR=/srv/ringrift RINGRIFT_CLUSTER_AUTH_TOKEN=$TOKEN
run_setup dry bash "$SETUP" --dry-run --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
expect_rc 0 "dry run"
assert_eq "$BEFORE" "$(inventory "$R")" "a dry run writes nothing"
for f in /etc/ringrift/node.conf /etc/ringrift/token /etc/systemd/system/ringrift-p2p.service \
  /etc/systemd/system/ringrift-resilience.service /etc/cron.d/ringrift \
  /etc/logrotate.d/ringrift /usr/local/bin/ringrift-p2p; do
  assert_contains "$OUT" "would write $f" "dry run plan"
done
assert_contains "$OUT" "dry run: " "dry run summary"
assert_contains "$OUT" "nothing was changed" "dry run summary"
assert_not_contains "$OUT$ERR" "$TOKEN" "the token is never printed"

step "staged install (systemd mode)"
run_setup first bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
expect_rc 0 "staged install"
assert_contains "$ERR" "warning: coordinator $URL is not reachable" "unreachable coordinator warns"
assert_contains "$OUT" "SSH_PORT=2222 (hosts.gpu-1.ssh_port)" "SSH_PORT from the cluster file"
assert_contains "$OUT" "P2P_PORT=8771 (hosts.gpu-1.p2p_url)" "P2P_PORT from the cluster file"
assert_not_contains "$OUT$ERR" "$TOKEN" "the token is never printed"

EXPECTED=$(
  cat <<'EOF'
d 755 etc
d 755 etc/cron.d
f 644 etc/cron.d/ringrift
d 755 etc/logrotate.d
f 644 etc/logrotate.d/ringrift
d 755 etc/ringrift
f 600 etc/ringrift/node.conf
f 600 etc/ringrift/setup.manifest
f 600 etc/ringrift/token
d 755 etc/systemd
d 755 etc/systemd/system
d 755 etc/systemd/system/multi-user.target.wants
l 777 etc/systemd/system/multi-user.target.wants/ringrift-p2p.service -> /etc/systemd/system/ringrift-p2p.service
l 777 etc/systemd/system/multi-user.target.wants/ringrift-resilience.service -> /etc/systemd/system/ringrift-resilience.service
f 644 etc/systemd/system/ringrift-p2p.service
f 644 etc/systemd/system/ringrift-resilience.service
d 755 srv
d 755 srv/ringrift
d 755 srv/ringrift/config
f 644 srv/ringrift/config/distributed_hosts.yaml
d 755 usr
d 755 usr/local
d 755 usr/local/bin
f 755 usr/local/bin/riftctl
f 755 usr/local/bin/ringrift-p2p
f 755 usr/local/bin/ringrift-resilience
d 755 var
d 755 var/log
d 750 var/log/ringrift
EOF
)
assert_eq "$EXPECTED" "$(inventory "$R")" "every file written, with its mode"

assert_eq "$TOKEN" "$(cat "$R/etc/ringrift/token")" "the token file holds the token"
if grep -rlF -- "$TOKEN" "$R" | grep -vx "$R/etc/ringrift/token"; then
  fail "the token appears outside the token file (above)"
fi
ok

NODE_CONF_EXPECTED=$(
  cat <<'EOF'
# /etc/ringrift/node.conf: this node's settings, read by ringrift-p2p and ringrift-resilience
# (systemd also passes them as their environment). Written by setup_node_resilience.sh: re-run it
# to change the values it manages; other keys are kept, at the end. Every key is described in
# config/node.conf.example.
NODE_ID=gpu-1
COORDINATOR_URL=http://127.0.0.1:1
RINGRIFT_DIR=/srv/ringrift
P2P_PORT=8771
SSH_PORT=2222
RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=/etc/ringrift/token
EOF
)
assert_eq "$NODE_CONF_EXPECTED" "$(cat "$R/etc/ringrift/node.conf")" "node.conf"

for name in ringrift-p2p ringrift-resilience riftctl; do
  cmp -s "$BIN/$name" "$R/usr/local/bin/$name" || fail "$name was not copied as built"
  ok
done

step "units"
P2P_UNIT=$R/etc/systemd/system/ringrift-p2p.service
RES_UNIT=$R/etc/systemd/system/ringrift-resilience.service
section_of() {  # UNIT KEY: the section a key is set in
  awk -v key="$2" '/^\[/{s=$0} index($0, key "=") == 1 {print s}' "$1"
}
for unit in "$P2P_UNIT" "$RES_UNIT"; do
  assert_line "$unit" "Type=notify"
  assert_line "$unit" "Restart=on-failure"
  assert_line "$unit" "EnvironmentFile=/etc/ringrift/node.conf"
  assert_line "$unit" "WantedBy=multi-user.target"
  assert_eq "[Unit]" "$(section_of "$unit" StartLimitIntervalSec)" "StartLimitIntervalSec in [Unit]"
  assert_eq "[Unit]" "$(section_of "$unit" StartLimitBurst)" "StartLimitBurst in [Unit]"
  assert_eq "[Service]" "$(section_of "$unit" WatchdogSec)" "WatchdogSec in [Service]"
  # No variable expansion anywhere, and nothing that would hide GPUs from jobs.
  assert_no_line_matching "$unit" '^[^#]*\$'
  assert_no_line_matching "$unit" '^(PrivateDevices|DevicePolicy|DeviceAllow|ProtectClock)='
  assert_no_line_matching "$unit" '@[A-Z_]+@'
done
assert_line "$P2P_UNIT" "ExecStart=/usr/local/bin/ringrift-p2p --config /etc/ringrift/node.conf"
assert_line "$RES_UNIT" \
  "ExecStart=/usr/local/bin/ringrift-resilience --config /etc/ringrift/node.conf"
assert_line "$P2P_UNIT" "KillMode=process"
assert_line "$P2P_UNIT" "StandardOutput=append:/var/log/ringrift/p2p.log"
assert_line "$P2P_UNIT" "StandardError=append:/var/log/ringrift/p2p.log"
assert_line "$RES_UNIT" "StandardOutput=append:/var/log/ringrift/resilience.log"
assert_line "$RES_UNIT" "StandardError=append:/var/log/ringrift/resilience.log"

if command -v systemd-analyze >/dev/null 2>&1 && [ -d /lib/systemd/system ]; then
  # verify --root resolves every path (ExecStart, EnvironmentFile, targets) inside the root, so
  # give a copy of the root the system's own units.
  V=$T/verify
  cp -a "$R" "$V"
  mkdir -p "$V/usr/lib/systemd"
  cp -a /lib/systemd/system "$V/usr/lib/systemd/"
  vout=$(systemd-analyze verify --root="$V" /etc/systemd/system/ringrift-p2p.service \
    /etc/systemd/system/ringrift-resilience.service 2>&1) || fail "systemd-analyze verify: $vout"
  assert_eq "" "$vout" "systemd-analyze verify prints no warnings"
  # The check above can fail: a unit naming a missing binary does not verify.
  rm "$V/usr/local/bin/ringrift-p2p"
  if systemd-analyze verify --root="$V" /etc/systemd/system/ringrift-p2p.service >/dev/null 2>&1
  then
    fail "systemd-analyze verify accepted a unit whose binary is missing"
  fi
  ok
else
  echo "NOTE: systemd-analyze not installed: units not verified"
fi
if command -v systemctl >/dev/null 2>&1; then
  for unit in ringrift-p2p ringrift-resilience; do
    assert_eq enabled "$(systemctl --root="$R" is-enabled "$unit" 2>&1)" "$unit is enabled"
  done
fi

step "cron and logrotate"
CRON=$R/etc/cron.d/ringrift
python3 "$TESTS_DIR/check_cron.py" "$CRON" || fail "the cron file breaks cron's rules"
ok
assert_line "$CRON" "*/5 * * * * root /usr/local/bin/ringrift-resilience --config \
/etc/ringrift/node.conf --once >>/var/log/ringrift/resilience.log 2>&1"
assert_line "$CRON" "17 * * * * root find /var/log/ringrift -maxdepth 1 -type f -name '*.log' \
-size +256M -exec truncate -s 0 {} +"
assert_no_line_matching "$CRON" '^@reboot'
if command -v logrotate >/dev/null 2>&1; then
  lout=$(logrotate -d -s "$T/logrotate.state" "$R/etc/logrotate.d/ringrift" 2>&1) ||
    fail "logrotate rejects the file: $lout"
  assert_not_contains "$lout" "error" "logrotate -d"
  assert_contains "$lout" "/var/log/ringrift/*.log" "logrotate reads the pattern"
else
  echo "NOTE: logrotate not installed: its file not checked"
fi
assert_line "$R/etc/logrotate.d/ringrift" "    copytruncate"

step "idempotent: a second run changes nothing"
SNAP=$(cd "$R" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort)
sleep 1  # so a rewrite would show in the mtimes
run_setup second bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
expect_rc 0 "second run"
assert_contains "$OUT" "no changes: this node is already set up as requested" "second run says so"
assert_eq "$SNAP" "$(cd "$R" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort)" \
  "second run touches nothing"
run_setup dry2 bash "$SETUP" --dry-run --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
assert_contains "$OUT" "no changes" "dry run on a set-up root"

step "changes are applied and reported; keys it does not manage are kept"
SSH_PORT=2022 run_setup ssh bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
expect_rc 0 "SSH_PORT from the environment"
assert_contains "$OUT" "updated /etc/ringrift/node.conf (0600)" "node.conf updated"
assert_contains "$OUT" "done: 1 change(s)" "exactly one change"
assert_line "$R/etc/ringrift/node.conf" "SSH_PORT=2022"
echo "RINGRIFT_TIMER_PROFILE=etcd" >>"$R/etc/ringrift/node.conf"
chmod 644 "$R/etc/ringrift/node.conf"
run_setup keep bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
assert_line "$R/etc/ringrift/node.conf" "RINGRIFT_TIMER_PROFILE=etcd"
assert_line "$R/etc/ringrift/node.conf" "SSH_PORT=2222"
assert_mode "$R/etc/ringrift/node.conf" 600
run_setup keep2 bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
assert_contains "$OUT" "no changes" "kept keys are stable"

step "the token: kept when not exported, moved out of a plaintext node.conf"
(
  unset RINGRIFT_CLUSTER_AUTH_TOKEN
  run_setup keeptoken bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
  assert_contains "$OUT" "token: keeping /etc/ringrift/token" "the token file is kept"
  assert_contains "$OUT" "no changes" "no changes without the token exported"
  # The original system wrote the token into node.conf: it moves into the token file.
  sed -i '/^RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=/d' "$R/etc/ringrift/node.conf"
  rm "$R/etc/ringrift/token"
  echo "RINGRIFT_CLUSTER_AUTH_TOKEN=old-$TOKEN" >>"$R/etc/ringrift/node.conf"
  run_setup migrate bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
  expect_rc 0 "migrating a plaintext token"
  assert_eq "old-$TOKEN" "$(cat "$R/etc/ringrift/token")" "the old token moved to the file"
  assert_not_contains "$(cat "$R/etc/ringrift/node.conf")" "old-$TOKEN" "node.conf holds no token"
  assert_line "$R/etc/ringrift/node.conf" "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=/etc/ringrift/token"
)
run_setup retoken bash "$SETUP" --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
assert_eq "$TOKEN" "$(cat "$R/etc/ringrift/token")" "an exported token replaces the old one"
assert_mode "$R/etc/ringrift/token" 600

step "a node id with a dot, values from the defaults"
R3=$T/root3
mkdir -p "$R3/srv/ringrift/config"
cp "$R/srv/ringrift/config/distributed_hosts.yaml" "$R3/srv/ringrift/config/"
run_setup dotted bash "$SETUP" --root "$R3" --bin-dir "$BIN" cpu.2 "$URL"
expect_rc 0 "node id cpu.2"
assert_line "$R3/etc/ringrift/node.conf" "SSH_PORT=22"
assert_line "$R3/etc/ringrift/node.conf" "P2P_PORT=8770"
run_setup unknown bash "$SETUP" --root "$R3" --bin-dir "$BIN" nobody "$URL"
expect_rc 0 "a node missing from the cluster file"
assert_contains "$ERR" "node 'nobody' has no entry under hosts:" "missing host warns"

step "switching to cron-only mode removes the units"
run_setup cron bash "$SETUP" --cron-only --root "$R" --bin-dir "$BIN" gpu-1 "$URL"
expect_rc 0 "cron-only"
for f in /etc/systemd/system/ringrift-p2p.service \
  /etc/systemd/system/multi-user.target.wants/ringrift-p2p.service; do
  assert_contains "$OUT" "removed $f" "unit removed"
  [ ! -e "$R$f" ] || fail "$f still there"
done
[ ! -e "$R/etc/systemd" ] || fail "/etc/systemd (created by the setup) still there"
assert_line "$CRON" "@reboot root /usr/local/bin/ringrift-resilience --config \
/etc/ringrift/node.conf --once >>/var/log/ringrift/resilience.log 2>&1"
python3 "$TESTS_DIR/check_cron.py" "$CRON" || fail "the cron-only file breaks cron's rules"
ok

step "uninstall removes everything it wrote"
run_setup undry bash "$SETUP" --uninstall --dry-run --root "$R"
expect_rc 0 "uninstall dry run"
assert_contains "$OUT" "would remove /etc/ringrift/node.conf" "uninstall plan"
[ -f "$R/etc/ringrift/node.conf" ] || fail "a dry uninstall removed node.conf"
run_setup uninstall bash "$SETUP" --uninstall --root "$R"
expect_rc 0 "uninstall"
assert_eq "$BEFORE" "$(inventory "$R")" "after --uninstall only what was there before is left"
run_setup uninstall2 bash "$SETUP" --uninstall --root "$R"
assert_contains "$OUT" "nothing to remove" "a second uninstall"

done_ok
