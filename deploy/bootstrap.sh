#!/usr/bin/env bash
# Developer/CI entry point: installs what the project needs (Debian 12 packages), builds, and
# runs the demo or the test suite.
#
#   deploy/bootstrap.sh demo      install build deps, build release, run the 3-node local demo
#   deploy/bootstrap.sh test      install build + test deps, build, run the whole test suite
#                                 (then the sanitizer build: unit, sim and integration tests)
#   deploy/bootstrap.sh build     install build deps and build (release)
#   deploy/bootstrap.sh deps      install build deps only (add --test for test tools)
#
# Idempotent: packages already present are not reinstalled; builds are incremental.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

BUILD_PKGS=(build-essential cmake ninja-build pkg-config libcpp-httplib-dev nlohmann-json3-dev
  libyaml-cpp-dev libssh-dev libsqlite3-dev libspdlog-dev libcli11-dev libgtest-dev libgmock-dev
  libssl-dev libsystemd-dev)
TEST_PKGS=(iproute2 iptables curl prometheus wrk shellcheck procps nginx-light rsync
  cron logrotate systemd python3 dpkg-dev openssh-server openssh-client)

# What a node runs (deploy/setup_node_resilience.sh installs these) and the example workload.
PROGRAMS="ringrift-p2p riftctl ringrift-resilience ringrift-job-shim rift-c4"

log() { printf '==> %s\n' "$*" >&2; }

sudo_cmd() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_pkgs() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages present"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing packages (${missing[*]}) and no apt-get: install them by hand"
    return 1
  fi
  log "installing: ${missing[*]}"
  sudo_cmd apt-get update -qq
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
}

jobs_flag() { echo "-j$(nproc 2>/dev/null || echo 2)"; }

build() {  # build DIR CMAKE_ARGS...   (targets from $TARGETS, default all)
  local dir=$1; shift
  log "configuring $dir"
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  log "building $dir"
  local targets=()
  if [ -n "${TARGETS:-}" ]; then
    read -r -a names <<<"$TARGETS"
    targets=(--target "${names[@]}")
  fi
  cmake --build "$dir" "$(jobs_flag)" "${targets[@]}"
}

cmd=${1:-}
case "$cmd" in
  deps)
    install_pkgs "${BUILD_PKGS[@]}"
    if [ "${2:-}" = "--test" ]; then install_pkgs "${TEST_PKGS[@]}"; fi
    ;;
  build)
    install_pkgs "${BUILD_PKGS[@]}"
    TARGETS=$PROGRAMS build build/release -DCMAKE_BUILD_TYPE=Release -DRIFT_BUILD_TESTS=OFF
    ;;
  demo)
    install_pkgs "${BUILD_PKGS[@]}"
    TARGETS=$PROGRAMS build build/release -DCMAKE_BUILD_TYPE=Release -DRIFT_BUILD_TESTS=OFF
    exec examples/demo.sh build/release
    ;;
  test)
    install_pkgs "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    build build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
    log "running the test suite (build/ci)"
    (cd build/ci && ctest --output-on-failure --timeout 600 "$(jobs_flag)" ) 
    if [ "${RIFT_SKIP_ASAN:-0}" != 1 ]; then
      build build/asan -DCMAKE_BUILD_TYPE=Debug -DRIFT_SANITIZE=ON
      log "running unit, sim, integration and deploy tests under ASan/UBSan (build/asan)"
      (cd build/asan && ASAN_OPTIONS=detect_leaks=1 \
        ctest --output-on-failure --timeout 900 -L 'unit|sim|integration|deploy' "$(jobs_flag)")
    fi
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
