#!/usr/bin/env bash
# deploy/setup_node_resilience_macos.sh staged into a root on this (Linux) machine: every file it
# writes with content and mode, the plists through plistlib with the runbook's keys,
# idempotency, --dry-run, --uninstall, and its refusal to run live anywhere but on a Mac.
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed (plists are checked with plistlib)"
BIN=$T/bin
make_bin_dir "$BIN"
URL=http://127.0.0.1:1
TOKEN=mac-$RANDOM$RANDOM-token
unset SSH_PORT P2P_PORT RINGRIFT_HOSTS_FILE RINGRIFT_CLUSTER_AUTH_TOKEN \
  RINGRIFT_CLUSTER_AUTH_TOKEN_FILE ADVERTISE_URL BIND_HOST EXTRA_PEERS
# A home directory with a character XML must escape.
export HOME="/Users/r&d"
export RINGRIFT_DIR="/Users/r&d/ringrift"
R=$T/root
mkdir -p "$R"

step "refuses to run live outside macOS"
if [ "$(uname -s)" != Darwin ]; then
  run_setup live bash "$SETUP_MACOS" --bin-dir "$BIN" mac-1 "$URL"
  expect_rc 1 "live run on Linux"
  assert_contains "$ERR" "this is the macOS setup" "refusal message"
fi
run_setup badid bash "$SETUP_MACOS" --root "$R" --bin-dir "$BIN" 'no spaces' "$URL"
expect_rc 1 "bad node id"
run_setup nobins bash "$SETUP_MACOS" --root "$R" --bin-dir "$T" mac-1 "$URL"
expect_rc 1 "missing binaries"
assert_contains "$ERR" "missing binaries in $T" "missing binaries message"

step "dry run writes nothing"
export RINGRIFT_CLUSTER_AUTH_TOKEN=$TOKEN
run_setup dry bash "$SETUP_MACOS" --dry-run --root "$R" --bin-dir "$BIN" mac-1 "$URL"
expect_rc 0 "dry run"
assert_eq "" "$(inventory "$R")" "a dry run writes nothing"
assert_contains "$OUT" "would write /Users/r&d/Library/LaunchAgents/com.ringrift.p2p.plist" "plan"

step "staged install"
run_setup first bash "$SETUP_MACOS" --root "$R" --bin-dir "$BIN" mac-1 "$URL"
expect_rc 0 "staged install"
assert_contains "$ERR" "warning: coordinator $URL is not reachable" "unreachable coordinator warns"
assert_not_contains "$OUT$ERR" "$TOKEN" "the token is never printed"
EXPECTED=$(
  cat <<'EOF'
d 755 Users
d 755 Users/r&d
d 755 Users/r&d/Library
d 755 Users/r&d/Library/Application Support
d 700 Users/r&d/Library/Application Support/RingRift
f 600 Users/r&d/Library/Application Support/RingRift/node.conf
f 600 Users/r&d/Library/Application Support/RingRift/setup.manifest
f 600 Users/r&d/Library/Application Support/RingRift/token
d 755 Users/r&d/Library/LaunchAgents
f 644 Users/r&d/Library/LaunchAgents/com.ringrift.p2p.plist
f 644 Users/r&d/Library/LaunchAgents/com.ringrift.resilience.plist
d 755 Users/r&d/Library/Logs
d 755 Users/r&d/Library/Logs/RingRift
d 755 Users/r&d/ringrift
EOF
)
assert_eq "$EXPECTED" "$(inventory "$R")" "every file written, with its mode"
SUPPORT="$R/Users/r&d/Library/Application Support/RingRift"
assert_eq "$TOKEN" "$(cat "$SUPPORT/token")" "the token file"
NODE_CONF_EXPECTED=$(
  cat <<'EOF'
# This node's settings, read by ringrift-p2p and ringrift-resilience (the LaunchAgents pass
# this file with --config). Written by setup_node_resilience_macos.sh: re-run it to change them.
# Every key is described in config/node.conf.example.
NODE_ID=mac-1
COORDINATOR_URL=http://127.0.0.1:1
RINGRIFT_DIR='/Users/r&d/ringrift'
P2P_PORT=8770
SSH_PORT=22
RINGRIFT_CLUSTER_AUTH_TOKEN_FILE='/Users/r&d/Library/Application Support/RingRift/token'
EOF
)
assert_eq "$NODE_CONF_EXPECTED" "$(cat "$SUPPORT/node.conf")" "node.conf"

# The daemon itself reads that node.conf (quotes, spaces and all) the same way.
# Only the paths are pointed into the staging root (and the port at 0, so nothing is bound).
DIR=$T TOK="'$SUPPORT/token'" awk '
  /^RINGRIFT_DIR=/ { print "RINGRIFT_DIR=" ENVIRON["DIR"]; next }
  /^RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=/ { print "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE=" ENVIRON["TOK"]; next }
  /^P2P_PORT=/ { print "P2P_PORT=0"; next }
  { print }' "$SUPPORT/node.conf" >"$T/check.conf"
cout=$(env -i PATH="$PATH" "$RIFT_P2P" --check-config --config "$T/check.conf" 2>&1) ||
  fail "ringrift-p2p rejects the generated node.conf: $cout"
assert_contains "$cout" "configuration OK: node mac-1" "the daemon loads node.conf"

step "plists"
AGENTS="$R/Users/r&d/Library/LaunchAgents"
CONF="/Users/r&d/Library/Application Support/RingRift/node.conf"
LOGS="/Users/r&d/Library/Logs/RingRift"
python3 "$TESTS_DIR/check_plist.py" "$AGENTS/com.ringrift.p2p.plist" com.ringrift.p2p \
  "$BIN/ringrift-p2p" "$CONF" "$LOGS/p2p.log" "/Users/r&d/ringrift" ||
  fail "com.ringrift.p2p.plist"
ok
python3 "$TESTS_DIR/check_plist.py" "$AGENTS/com.ringrift.resilience.plist" \
  com.ringrift.resilience "$BIN/ringrift-resilience" "$CONF" "$LOGS/resilience.log" \
  "/Users/r&d/ringrift" || fail "com.ringrift.resilience.plist"
ok
assert_contains "$(cat "$AGENTS/com.ringrift.p2p.plist")" "/Users/r&amp;d/ringrift" "XML escaping"
# The checker can fail: a plist missing KeepAlive is refused.
sed '/<key>KeepAlive<\/key>/,+1d' "$AGENTS/com.ringrift.p2p.plist" >"$T/bad.plist"
if python3 "$TESTS_DIR/check_plist.py" "$T/bad.plist" com.ringrift.p2p "$BIN/ringrift-p2p" \
  "$CONF" "$LOGS/p2p.log" >/dev/null; then
  fail "check_plist.py accepted a plist without KeepAlive"
fi
ok

step "idempotent"
SNAP=$(cd "$R" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort)
sleep 1
run_setup second bash "$SETUP_MACOS" --root "$R" --bin-dir "$BIN" mac-1 "$URL"
expect_rc 0 "second run"
assert_contains "$OUT" "no changes: this node is already set up as requested" "second run"
assert_eq "$SNAP" "$(cd "$R" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort)" \
  "second run touches nothing"
(
  unset RINGRIFT_CLUSTER_AUTH_TOKEN
  run_setup keep bash "$SETUP_MACOS" --root "$R" --bin-dir "$BIN" mac-1 "$URL"
  assert_contains "$OUT" "no changes" "the token file is kept without the token exported"
)
P2P_PORT=8775 run_setup port bash "$SETUP_MACOS" --root "$R" --bin-dir "$BIN" mac-1 "$URL"
assert_contains "$OUT" "done: 1 change(s)" "a changed port rewrites node.conf only"
assert_line "$SUPPORT/node.conf" "P2P_PORT=8775"

step "uninstall"
run_setup uninstall bash "$SETUP_MACOS" --uninstall --root "$R"
expect_rc 0 "uninstall"
assert_eq "" "$(inventory "$R")" "after --uninstall the root is empty again"

done_ok
