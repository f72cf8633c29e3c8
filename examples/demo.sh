#!/usr/bin/env bash
# Local demo: three ringrift-p2p daemons on 127.0.0.1 in a temp dir, with the cluster file
# examples/demo/distributed_hosts.yaml. The leader runs the improvement loop on the bundled
# Connect Four workload (rift-c4): per iteration selfplay on every node -> sync of the games to
# the training node -> training -> evaluation against the current model and against the random
# player -> promotion -> the model distributed to every node. It prints each iteration's
# figures, checks with an independent evaluation on another node that the promoted model beats
# the random player, then kills the leader with SIGKILL, shows the failover and the old
# leader's rejoin, and stops everything.
#   examples/demo.sh [BUILD_DIR]      (default build/release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
p2p="$build/bin/ringrift-p2p"
riftctl="$build/bin/riftctl"
c4="$build/bin/rift-c4"
for b in "$p2p" "$riftctl" "$c4"; do
  [ -x "$b" ] || { echo "missing $b: build first (deploy/bootstrap.sh build)" >&2; exit 1; }
done
hosts_file="$here/examples/demo/distributed_hosts.yaml"

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
    RINGRIFT_HOSTS_FILE="$hosts_file" RINGRIFT_QUIET_PERIOD_S=1 \
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

say "Starting three daemons (voters n1 n2 n3; n2 and n3 know only n1's URL; n1 trains)"
start_node n1
start_node n2 "http://127.0.0.1:${port[n1]}"
start_node n3 "http://127.0.0.1:${port[n1]}"

say "Election"
t0=$(now_ms)
leader=$(wait_leader)
echo "leader: $leader (agreed by all three after $(( $(now_ms) - t0 )) ms)"
# shellcheck disable=SC2046
"$riftctl" $(addrs) status

say "The improvement loop: 3 iterations of 3000 selfplay games (Connect Four, rift-c4)"
t0=$(now_ms)
# shellcheck disable=SC2046
"$riftctl" $(addrs) improvement start
# Without a terminal, --watch prints a line per stage and per iteration, then the figures.
# shellcheck disable=SC2046
"$riftctl" $(addrs) improvement status --watch --interval 0.5 | cat
loop_s=$(( ($(now_ms) - t0) / 1000 ))
# shellcheck disable=SC2046
"$riftctl" $(addrs) -o json improvement status >"$work/loop.json"
promotions=$(grep -o '"generation": *[0-9]*' "$work/loop.json" | grep -o '[0-9]*$' || true)
echo "loop finished in ${loop_s} s with $promotions promotion(s)"
[ "${promotions:-0}" -ge 1 ] || { echo "no candidate was promoted" >&2; exit 1; }

say "Independent check on n3 (not the trainer): its distributed model vs the random player"
model="$work/n3/data/models/current.model"
[ -s "$model" ] || { echo "n3 has no models/current.model" >&2; exit 1; }
result=$("$c4" eval --candidate "$model" --baseline random --games 1000 --seed 20240601 | tail -n 1)
echo "$result"
rate=$(printf '%s' "$result" | grep -o '"win_rate":[0-9.eE+-]*' | cut -d: -f2)
untrained=$("$c4" init --out "$work/untrained.model" >/dev/null &&
  "$c4" eval --candidate "$work/untrained.model" --baseline random --games 1000 \
    --seed 20240601 | tail -n 1 | grep -o '"win_rate":[0-9.eE+-]*' | cut -d: -f2)
echo "promoted model: win rate $rate against the random player over 1000 games" \
  "(an untrained model: $untrained)"
awk -v r="$rate" -v u="$untrained" 'BEGIN { exit !(r > 0.6 && r > u) }' ||
  { echo "the promoted model does not beat the random baseline" >&2; exit 1; }

leader=$(wait_leader)
say "kill -9 the leader ($leader, pid ${pid[$leader]})"
kill -KILL "${pid[$leader]}"
wait "${pid[$leader]}" 2>/dev/null || true
unset "pid[$leader]"
t0=$(now_ms)
new_leader=$(wait_leader "$leader")
echo "new leader: $new_leader, agreed by both survivors $(( $(now_ms) - t0 )) ms after the kill"

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
echo "demo finished: $promotions promotion(s) in ${loop_s} s; the promoted model wins $rate" \
  "against the random player; failover and rejoin shown"
