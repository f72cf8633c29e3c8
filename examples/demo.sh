#!/usr/bin/env bash
# Local demo: three ringrift-p2p daemons on 127.0.0.1 in a temp dir. Shows the election,
# kills the leader with SIGKILL, shows the failover with `riftctl status`, restarts the old
# leader (it rejoins as a follower), then stops everything.
#   examples/demo.sh [BUILD_DIR]      (default build/release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
p2p="$build/bin/ringrift-p2p"
riftctl="$build/bin/riftctl"
for b in "$p2p" "$riftctl"; do
  [ -x "$b" ] || { echo "missing $b: build first (deploy/bootstrap.sh build)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ringrift-demo.XXXXXX")
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export RINGRIFT_CLUSTER_AUTH_TOKEN=$token
declare -A pid port

cleanup() {
  local n
  for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
  for n in "${!pid[@]}"; do wait "${pid[$n]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now_ms() { date +%s%3N; }

start_node() {  # start_node ID [SEED_URL]
  local id=$1 seed=${2:-} p=${port[$1]:-0}
  mkdir -p "$work/$id"
  rm -f "$work/$id/state/p2p.port"
  NODE_ID=$id RINGRIFT_DIR="$work/$id" P2P_PORT=$p BIND_HOST=127.0.0.1 \
    RINGRIFT_P2P_VOTERS=n1,n2,n3 RINGRIFT_TIMER_PROFILE=etcd COORDINATOR_URL=$seed \
    "$p2p" >>"$work/$id/p2p.log" 2>&1 &
  pid[$id]=$!
  local _
  for _ in $(seq 200); do
    [ -s "$work/$id/state/p2p.port" ] && break
    sleep 0.05
  done
  port[$id]=$(cat "$work/$id/state/p2p.port")
  echo "started $id (pid ${pid[$id]}) on http://127.0.0.1:${port[$id]}"
}

addrs() {  # --addr flags for every running node
  local n
  for n in n1 n2 n3; do
    if [ -n "${pid[$n]:-}" ] && kill -0 "${pid[$n]}" 2>/dev/null; then
      printf -- '--addr http://127.0.0.1:%s ' "${port[$n]}"
    fi
  done
}

leader_of() {  # leader id as node $1 reports it ("" if none)
  "$riftctl" --addr "http://127.0.0.1:${port[$1]}" -o json leader 2>/dev/null |
    grep -o '"leader_id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' || true
}

agreed_leader() {  # prints the leader every running node agrees on, or nothing
  local n l first=""
  for n in n1 n2 n3; do
    if [ -z "${pid[$n]:-}" ] || ! kill -0 "${pid[$n]}" 2>/dev/null; then continue; fi
    l=$(leader_of "$n")
    [ -n "$l" ] || return 0
    if [ -z "$first" ]; then first=$l; elif [ "$l" != "$first" ]; then return 0; fi
  done
  printf '%s' "$first"
}

wait_leader() {  # wait_leader [NOT_THIS_ID]
  local l _
  for _ in $(seq 600); do
    l=$(agreed_leader)
    if [ -n "$l" ] && [ "$l" != "${1:-}" ]; then printf '%s' "$l"; return 0; fi
    sleep 0.05
  done
  echo "no leader agreed within 30 s" >&2
  return 1
}

say "Starting three daemons (voters n1 n2 n3; n2 and n3 know only n1's URL)"
start_node n1
start_node n2 "http://127.0.0.1:${port[n1]}"
start_node n3 "http://127.0.0.1:${port[n1]}"

say "Election"
t0=$(now_ms)
leader=$(wait_leader)
echo "leader: $leader (agreed by all three after $(( $(now_ms) - t0 )) ms)"
# shellcheck disable=SC2046
"$riftctl" $(addrs) status

say "kill -9 the leader ($leader, pid ${pid[$leader]})"
kill -KILL "${pid[$leader]}"
wait "${pid[$leader]}" 2>/dev/null || true
unset "pid[$leader]"
t0=$(now_ms)
new_leader=$(wait_leader "$leader")
echo "new leader: $new_leader, agreed by both survivors $(( $(now_ms) - t0 )) ms after the kill"
# shellcheck disable=SC2046
"$riftctl" $(addrs) status

say "Restart $leader: it rejoins as a follower without forcing an election"
survivor_port=${port[$new_leader]}
start_node "$leader" "http://127.0.0.1:$survivor_port"
for _ in $(seq 600); do
  if [ "$(agreed_leader)" = "$new_leader" ] && [ "$(leader_of "$leader")" = "$new_leader" ] &&
    "$riftctl" --addr "http://127.0.0.1:$survivor_port" nodes list |
      grep -Eq "^${leader}[[:space:]].*[[:space:]]alive[[:space:]]"; then
    break
  fi
  sleep 0.05
done
# shellcheck disable=SC2046
"$riftctl" $(addrs) status

say "Stopping"
echo "demo finished: election, failover and rejoin shown"
