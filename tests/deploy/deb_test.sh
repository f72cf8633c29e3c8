#!/usr/bin/env bash
# The .deb: CPack builds it from the test build; it installs with dpkg, its binaries run, its
# units name /usr/bin, and `apt-get remove` removes it. Changes the machine (installs a package
# for the duration of the test), so it runs only as root and never over an existing install.
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

: "${RIFT_BUILD_DIR:?set by ctest}"
[ "$(id -u)" -eq 0 ] || skip "installs a package: run as root"
for tool in dpkg dpkg-deb dpkg-shlibdeps apt-get cpack; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (dpkg-dev, apt, cmake)"
done
status=$(dpkg-query -W -f='${Status}' ringrift 2>/dev/null || true)
case "$status" in
  *" installed") skip "the ringrift package is already installed here: not touching it" ;;
esac
for f in /usr/bin/ringrift-p2p /usr/bin/riftctl /usr/bin/ringrift-resilience; do
  [ ! -e "$f" ] || skip "$f exists (not from a ringrift package): not overwriting it"
done

step "build the package"
cpack -G DEB -B "$T/pkg" --config "$RIFT_BUILD_DIR/CPackConfig.cmake" >"$T/cpack.log" 2>&1 ||
  fail "cpack failed: $(cat "$T/cpack.log")"
DEB=$(find "$T/pkg" -maxdepth 1 -name 'ringrift_*.deb' | head -n 1)
[ -n "$DEB" ] || fail "no ringrift_*.deb in $T/pkg: $(cat "$T/cpack.log")"
ok
echo "built $(basename "$DEB")"
assert_eq ringrift "$(dpkg-deb -f "$DEB" Package)" "package name"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
assert_contains "$DEPENDS" "libyaml-cpp" "Depends come from the linked libraries"
assert_contains "$DEPENDS" "libsqlite3" "Depends come from the linked libraries"
CONTENTS=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/ringrift-p2p ./usr/bin/riftctl ./usr/lib/systemd/system/ringrift-p2p.service \
  ./usr/share/ringrift/deploy/setup_node_resilience.sh ./usr/share/ringrift/systemd/ringrift-p2p.service.in; do
  assert_contains "$CONTENTS" " $f" "package contents"
done
assert_not_contains "$CONTENTS" " ./etc/" "the package writes nothing under /etc (the setup does)"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/lib/systemd/system/ringrift-p2p.service \
  >"$T/unit" || fail "cannot read the unit from the package"
assert_line "$T/unit" "ExecStart=/usr/bin/ringrift-p2p --config /etc/ringrift/node.conf"

# dpkg refuses at once when another dpkg/apt holds its lock: wait for it (bounded).
with_dpkg_lock() {
  local i out
  for i in $(seq 1 90); do
    if out=$("$@" 2>&1); then
      printf '%s\n' "$out"
      return 0
    fi
    case "$out" in
      *lock*) sleep 2 ;;
      *)
        printf '%s\n' "$out" >&2
        return 1
        ;;
    esac
  done
  printf 'still locked after %s tries: %s\n' "$i" "$out" >&2
  return 1
}

step "dpkg -i"
purge_if_installed() {  # whatever happens, the machine is left without the package
  if dpkg-query -W -f='${Status}' ringrift 2>/dev/null | grep -q " installed"; then
    dpkg --purge ringrift >/dev/null 2>&1
  fi
}
on_exit purge_if_installed
with_dpkg_lock dpkg -i "$DEB" >"$T/dpkg.log" || fail "dpkg -i failed: $(cat "$T/dpkg.log")"
assert_contains "$(dpkg-query -W -f='${Status}' ringrift)" "install ok installed" "installed"

step "its binaries run"
/usr/bin/ringrift-p2p --version | grep -q '^ringrift-p2p ' || fail "/usr/bin/ringrift-p2p --version"
ok
printf 'hosts:\n  n1:\n    ssh_port: 2200\n' >"$T/hosts.yaml"
assert_eq 2200 "$(/usr/bin/riftctl config get hosts.n1.ssh_port --hosts-file "$T/hosts.yaml")" \
  "the packaged riftctl reads the cluster file"
if dpkg -L ringrift | grep -qx /usr/bin/ringrift-resilience; then
  /usr/bin/ringrift-resilience --help >/dev/null || fail "/usr/bin/ringrift-resilience --help"
  ok
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  vout=$(systemd-analyze verify /usr/lib/systemd/system/ringrift-p2p.service 2>&1) ||
    fail "systemd-analyze verify of the packaged unit: $vout"
  assert_eq "" "$vout" "the packaged unit verifies without warnings"
fi
# The daemon really starts from the package: a throwaway node on an ephemeral loopback port.
mkdir -p "$T/node"
env -i PATH=/usr/bin:/bin NODE_ID=deb-test RINGRIFT_DIR="$T/node" P2P_PORT=0 BIND_HOST=127.0.0.1 \
  /usr/bin/ringrift-p2p --config /dev/null >"$T/node.log" 2>&1 &
DAEMON=$!
on_exit "kill $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null"
for _ in $(seq 1 100); do
  [ -s "$T/node/state/p2p.port" ] && break
  kill -0 "$DAEMON" 2>/dev/null || fail "the packaged daemon exited: $(cat "$T/node.log")"
  sleep 0.1
done
PORT=$(cat "$T/node/state/p2p.port" 2>/dev/null) || fail "no port file: $(cat "$T/node.log")"
HEALTH=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/health") ||
  fail "/health of the packaged daemon: $(cat "$T/node.log")"
assert_contains "$HEALTH" '"node_id":"deb-test"' "/health answers"
kill "$DAEMON"
wait "$DAEMON" || true

step "apt-get remove"
with_dpkg_lock env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q ringrift >"$T/remove.log" ||
  fail "apt-get remove failed: $(cat "$T/remove.log")"
status=$(dpkg-query -W -f='${Status}' ringrift 2>/dev/null || true)
assert_not_contains "$status" " installed" "no longer installed"
for f in /usr/bin/ringrift-p2p /usr/bin/riftctl /usr/lib/systemd/system/ringrift-p2p.service \
  /usr/share/ringrift/deploy/setup_node_resilience.sh; do
  [ ! -e "$f" ] || fail "$f is still there after apt-get remove"
  ok
done

done_ok
