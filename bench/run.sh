#!/usr/bin/env bash
# Runs every benchmark and prints its figures. Not part of the test suite: timings on a shared
# 2-core machine are noisy, so read ratios within one run.
#   bench/run.sh [all|failover|detection|rss|health|sim|transfer|c4|watchdog|jobs]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
build=${RIFT_BENCH_BUILD:-build/bench}
what=${1:-all}
trials=${RIFT_BENCH_TRIALS:-9}

deploy/bootstrap.sh deps --test >/dev/null
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIFT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target ringrift-p2p riftctl cluster_bench sim_convergence transfer_bench \
  ringrift-resilience watchdog_bench >/dev/null
export RIFT_P2P_BINARY="$here/$build/bin/ringrift-p2p"
export RIFT_RESILIENCE_BINARY="$here/$build/bin/ringrift-resilience"
bench="$build/bench/cluster_bench"

section() { printf '\n## %s\n' "$*"; }

run_failover() {
  section "failover: kill -9 the leader of 3 voters on loopback"
  "$bench" failover --trials "$trials" --profile etcd
  "$bench" failover --trials "$trials" --profile default
}
run_detection() {
  section "detection: kill -9 a worker in a 5-node cluster"
  "$bench" detection --trials "$trials" --profile default
}
run_rss() {
  section "idle memory"
  "$bench" rss --seconds 10
}
run_health() {
  section "/health throughput and latency (wrk -t2 -c50 -d10s)"
  local dir port pid
  dir=$(mktemp -d)
  NODE_ID=b1 RINGRIFT_DIR="$dir" P2P_PORT=0 BIND_HOST=127.0.0.1 RINGRIFT_P2P_VOTERS=b1 \
    RINGRIFT_CLUSTER_AUTH_TOKEN=bench-token "$RIFT_P2P_BINARY" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/state/p2p.port" ] && break; sleep 0.1; done
  port=$(cat "$dir/state/p2p.port")
  wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$port/health" | grep -E 'Requests/sec|99%|50%'
  section "/health p99 while /status and /metrics are under load"
  wrk -t1 -c32 -d12s -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$port/status" \
    >/dev/null &
  local load1=$!
  wrk -t1 -c32 -d12s -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$port/metrics" \
    >/dev/null &
  local load2=$!
  sleep 1
  wrk -t1 -c4 -d10s --latency "http://127.0.0.1:$port/health" | grep -E 'Requests/sec|99%|50%'
  wait "$load1" "$load2" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
run_transfer() {
  section "transfer: ours vs nginx+curl vs rsync daemon (loopback, same disk, same run)"
  bench/transfer.sh "$build"
}
run_health_transfer() {
  section "/health p99 while four 1 GiB pulls stream from the same daemon"
  local dir port pid i pulls=()
  dir=$(mktemp -d -p "${RIFT_BENCH_TMP:-/var/tmp}" health-xfer.XXXXXX)
  mkdir -p "$dir/node/data/selfplay" "$dir/node/config"
  head -c 1073741824 /dev/urandom >"$dir/node/data/selfplay/big.bin"
  sync "$dir/node/data/selfplay/big.bin"  # its writeback is not part of the figure
  # Transfers only: the single-node leader's background selfplay would take a core of its own.
  printf 'improvement:\n  background_selfplay: false\n' >"$dir/node/config/distributed_hosts.yaml"
  NODE_ID=h1 RINGRIFT_DIR="$dir/node" P2P_PORT=0 BIND_HOST=127.0.0.1 RINGRIFT_P2P_VOTERS=h1 \
    RINGRIFT_CLUSTER_AUTH_TOKEN=bench-token RINGRIFT_QUIET_PERIOD_S=1 \
    "$RIFT_P2P_BINARY" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/node/state/p2p.port" ] && break; sleep 0.1; done
  port=$(cat "$dir/node/state/p2p.port")
  # Wait until big.bin is sealed (hashed) and served (the leader's background selfplay may
  # seal files of its own first).
  for _ in $(seq 600); do
    curl -sf -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$port/sync/manifest" |
      grep -q '"path":"selfplay/big.bin",[^}]*"sealed":true' && break
    sleep 0.2
  done
  local rss0
  rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  for i in 1 2 3 4; do
    mkdir -p "$dir/c$i"
    "$build/bench/transfer_bench" big "$dir/c$i" "http://127.0.0.1:$port" >"$dir/c$i.out" 2>&1 &
    pulls+=($!)
  done
  sleep 0.5
  wrk -t1 -c4 -d8s --latency "http://127.0.0.1:$port/health" | grep -E 'Requests/sec|99%|50%'
  echo "daemon RSS during the pulls: $rss0 kB before, $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") kB now"
  wait "${pulls[@]}" || true
  for i in 1 2 3 4; do grep -h -e big_mib_s -e "cpu priority" "$dir/c$i.out" || cat "$dir/c$i.out"; done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
run_c4() {
  cmake --build "$build" --target c4_bench rift-c4 >/dev/null
  section "example workload (rift-c4, Connect Four 6x7): speed on one core"
  "$build/bench/c4_bench" speed
  section "example workload: learning curve and improvement iterations"
  "$build/bench/c4_bench" quality
}
run_watchdog() {
  section "watchdog: kill -9 the daemon -> healthy replacement (direct spawn)"
  "$build/bench/watchdog_bench" --trials "$trials" --interval 10s --health-timeout 3s
  "$build/bench/watchdog_bench" --trials "$trials" --interval 1s
  "$build/bench/watchdog_bench" --trials "$trials" --interval 200ms --health-timeout 500ms
}
run_jobs() {
  cmake --build "$build" --target job_bench >/dev/null
  section "job start latency (request to running process; target: median under 50 ms)"
  "$build/bench/job_bench" --trials "${RIFT_BENCH_JOB_TRIALS:-50}"
}
run_sim() {
  section "simulated convergence (deterministic simulator)"
  "$build/tests/sim/sim_convergence"
}

case "$what" in
  all) run_failover; run_detection; run_rss; run_health; run_sim; run_transfer; run_c4; run_watchdog;
    run_jobs ;;
  failover) run_failover ;;
  detection) run_detection ;;
  rss) run_rss ;;
  health) run_health ;;
  health-transfer) run_health_transfer ;;
  sim) run_sim ;;
  watchdog) run_watchdog ;;
  transfer) run_transfer ;;
  c4) run_c4 ;;
  jobs) run_jobs ;;
  *) echo "unknown benchmark: $what" >&2; exit 2 ;;
esac
