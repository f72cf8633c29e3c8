# shellcheck shell=bash
# Helpers for the deploy tests (sourced). Each test is a bash script run by ctest; exit 77 means
# skipped (SKIP_RETURN_CODE), and says why.
#
# ctest passes: RIFT_SOURCE_DIR, RIFT_BUILD_DIR, and the programs as RIFT_P2P, RIFT_RIFTCTL,
# RIFT_RESILIENCE (paths of the built binaries).
set -euo pipefail

: "${RIFT_SOURCE_DIR:?set by ctest}"
# Used by the tests that source this file.
export SETUP=$RIFT_SOURCE_DIR/deploy/setup_node_resilience.sh
export SETUP_MACOS=$RIFT_SOURCE_DIR/deploy/setup_node_resilience_macos.sh
export TESTS_DIR=$RIFT_SOURCE_DIR/tests/deploy

T=$(mktemp -d "${TMPDIR:-/tmp}/rift-deploy-test.XXXXXX")
CLEANUPS=""
cleanup() {  # the EXIT trap; the script's exit status stays what it was
  set +e  # a failing cleanup step must not abort the rest (nor trip a bash bug in EXIT traps)
  eval "$CLEANUPS"
  rm -rf "$T"
}
trap cleanup EXIT
on_exit() { CLEANUPS="$1; $CLEANUPS"; }

CHECKS=0
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
ok() { CHECKS=$((CHECKS + 1)); }
skip() {
  printf 'SKIP: %s\n' "$*" >&2
  exit 77
}
step() { printf '\n== %s\n' "$*"; }
done_ok() { printf '\nPASS: %d checks\n' "$CHECKS"; }

assert_eq() {  # EXPECTED ACTUAL WHAT
  if [ "$1" != "$2" ]; then
    printf 'FAIL: %s\n--- expected:\n%s\n--- actual:\n%s\n---\n' "$3" "$1" "$2" >&2
    exit 1
  fi
  ok
}
assert_contains() {  # HAYSTACK NEEDLE WHAT
  case "$1" in
    *"$2"*) ok ;;
    *) printf 'FAIL: %s: %s not found in:\n%s\n' "$3" "$2" "$1" >&2; exit 1 ;;
  esac
}
assert_not_contains() {
  case "$1" in
    *"$2"*) printf 'FAIL: %s: %s found in:\n%s\n' "$3" "$2" "$1" >&2; exit 1 ;;
    *) ok ;;
  esac
}
assert_mode() {  # FILE MODE (octal, e.g. 600)
  local m
  m=$(stat -c '%a' "$1") || fail "no $1"
  [ "$m" = "$2" ] || fail "$1: mode $m, expected $2"
  ok
}
assert_line() {  # FILE LINE: the file holds exactly this line
  grep -qxF -- "$2" "$1" || fail "$1 has no line '$2'; it holds:
$(cat "$1")"
  ok
}
assert_no_line_matching() {  # FILE REGEX
  if grep -nE -- "$2" "$1" >&2; then fail "$1: lines above match '$2'"; fi
  ok
}

# run_setup NAME SCRIPT ARGS...: runs a setup script; exit status in $RC, output in $T/NAME.out
# and $T/NAME.err (also in $OUT and $ERR).
run_setup() {
  local name=$1
  shift
  RC=0
  "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
  OUT=$(cat "$T/$name.out")
  ERR=$(cat "$T/$name.err")
}
show() { printf -- '--- stdout:\n%s\n--- stderr:\n%s\n' "$OUT" "$ERR" >&2; }
expect_rc() {  # STATUS WHAT
  if [ "$RC" != "$1" ]; then
    show
    fail "$2: exit status $RC, expected $1"
  fi
  ok
}

# Every entry under a root as "type mode path[ -> target]", sorted (the exact inventory of what
# a setup wrote).
inventory() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %P -> %l\n' | sed 's/ -> $//' | LC_ALL=C sort -k3)
}

# A directory with the three programs (symbolic links to the build's binaries).
make_bin_dir() {
  local dir=$1
  mkdir -p "$dir"
  local p
  for p in RIFT_P2P RIFT_RIFTCTL RIFT_RESILIENCE; do
    eval "[ -n \"\${$p:-}\" ] && [ -x \"\${$p}\" ]" || skip "$p is not built (${!p:-unset})"
  done
  ln -s "$RIFT_P2P" "$dir/ringrift-p2p"
  ln -s "$RIFT_RIFTCTL" "$dir/riftctl"
  ln -s "$RIFT_RESILIENCE" "$dir/ringrift-resilience"
}

# ---- running a staged root as / (root only) ---------------------------------------------------

# prepare_root DIR: lets DIR run as / under in_root: the merged-/usr links of this machine and
# the mount points (/usr, /proc, /dev, /src, /tmp).
prepare_root() {
  local dir=$1 d
  mkdir -p "$dir/usr/local/bin" "$dir/proc" "$dir/dev" "$dir/src" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  for d in bin sbin lib lib64 lib32 libx32; do
    if [ -L "/$d" ] && [ ! -e "$dir/$d" ]; then ln -s "$(readlink "/$d")" "$dir/$d"; fi
  done
}

# in_root DIR LOCALBIN CMD...: runs CMD as root with DIR as / in a private mount namespace: the
# host's /usr, with LOCALBIN as /usr/local/bin (so nothing reaches the host's), these sources
# read-only at /src, /dev, a fresh /proc; an empty environment but HOME and a standard PATH.
# Processes CMD leaves behind keep that namespace alive.
in_root() {
  local dir=$1 localbin=$2 hold
  shift 2
  hold=$(mktemp -d "$T/hold.XXXXXX")
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private bash -euc '
    R=$1 LOCALBIN=$2 SRC=$3 HOLD=$4
    shift 4
    mount --bind "$LOCALBIN" "$HOLD"
    mount --rbind /usr "$R/usr"
    mount --bind "$HOLD" "$R/usr/local/bin"
    mount --bind "$SRC" "$R/src"
    mount -o remount,bind,ro "$R/src"
    mount --rbind /dev "$R/dev"
    mount -t proc proc "$R/proc"
    exec chroot "$R" /usr/bin/env -i HOME=/root \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
  ' run "$dir" "$localbin" "$RIFT_SOURCE_DIR" "$hold" "$@"
}

need_root_tools() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (mount namespace and chroot)"
  local tool
  for tool in unshare chroot mount curl python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
  done
  unshare --mount --propagation private true 2>/dev/null ||
    skip "cannot create a mount namespace here"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
