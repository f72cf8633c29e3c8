#!/usr/bin/env bash
# `cmake --install` into a prefix: the programs, units naming <prefix>/bin, the setup scripts with
# their templates, the example config; then the installed setup script stages a node from there.
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

: "${RIFT_BUILD_DIR:?set by ctest}"
P=$T/prefix
cmake --install "$RIFT_BUILD_DIR" --prefix "$P" >"$T/install.log" 2>&1 ||
  fail "cmake --install failed: $(cat "$T/install.log")"
ok

step "installed files"
for f in bin/ringrift-p2p bin/riftctl share/ringrift/deploy/setup_node_resilience.sh \
  share/ringrift/deploy/setup_node_resilience_macos.sh; do
  [ -x "$P/$f" ] || fail "$f is not installed executable"
  ok
done
for f in share/ringrift/deploy/lib/setup_common.sh share/ringrift/systemd/ringrift-p2p.service.in \
  share/ringrift/systemd/ringrift-resilience.service.in \
  share/ringrift/launchd/com.ringrift.p2p.plist.in \
  share/ringrift/launchd/com.ringrift.resilience.plist.in \
  share/ringrift/config/node.conf.example share/ringrift/config/distributed_hosts.yaml.example \
  share/doc/ringrift/deploy.md lib/systemd/system/ringrift-p2p.service; do
  [ -f "$P/$f" ] || fail "$f is not installed"
  ok
done
cmp -s "$RIFT_P2P" "$P/bin/ringrift-p2p" || fail "bin/ringrift-p2p is not the built program"
ok
"$P/bin/ringrift-p2p" --version | grep -q '^ringrift-p2p ' || fail "the installed daemon does not run"
ok

step "units name the prefix"
assert_line "$P/lib/systemd/system/ringrift-p2p.service" \
  "ExecStart=$P/bin/ringrift-p2p --config /etc/ringrift/node.conf"
assert_no_line_matching "$P/lib/systemd/system/ringrift-p2p.service" '@[A-Z_]+@'
if [ -x "$P/bin/ringrift-resilience" ]; then
  assert_line "$P/lib/systemd/system/ringrift-resilience.service" \
    "ExecStart=$P/bin/ringrift-resilience --config /etc/ringrift/node.conf"
else
  [ ! -e "$P/lib/systemd/system/ringrift-resilience.service" ] ||
    fail "a unit is installed for a program that is not"
  ok
fi

step "the installed setup script works from the prefix"
if [ -x "$P/bin/ringrift-resilience" ]; then
  R=$T/root
  mkdir "$R"
  unset RINGRIFT_DIR RINGRIFT_HOSTS_FILE SSH_PORT P2P_PORT RINGRIFT_CLUSTER_AUTH_TOKEN \
    RINGRIFT_CLUSTER_AUTH_TOKEN_FILE
  PATH="$P/bin:$PATH" run_setup staged bash "$P/share/ringrift/deploy/setup_node_resilience.sh" \
    --root "$R" n1 http://127.0.0.1:1
  expect_rc 0 "installed setup script"
  # Not a checkout: RINGRIFT_DIR defaults to /var/lib/ringrift; the binaries are copied in.
  assert_line "$R/etc/ringrift/node.conf" "RINGRIFT_DIR=/var/lib/ringrift"
  assert_line "$R/etc/systemd/system/ringrift-p2p.service" \
    "ExecStart=/usr/local/bin/ringrift-p2p --config /etc/ringrift/node.conf"
else
  echo "NOTE: ringrift-resilience is not built: the installed setup script is not exercised"
fi

done_ok
