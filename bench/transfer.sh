#!/usr/bin/env bash
# Transfer figures against nginx+curl and an rsync daemon, all measured in this one run on
# loopback, files in one temp dir on the same disk (never tmpfs: $RIFT_BENCH_TMP, default
# /var/tmp). Every pull writes a new copy and makes it durable (fsync / sync -f) inside the
# timed span. Our server is a separate process (transfer_bench serve).
#   bench/transfer.sh BUILD_DIR      (MiB and trials: RIFT_BENCH_MIB=1024 RIFT_BENCH_TRANSFER_TRIALS=2)
set -euo pipefail
build=${1:?usage: bench/transfer.sh BUILD_DIR}
bench="$build/bench/transfer_bench"
mib=${RIFT_BENCH_MIB:-1024}
trials=${RIFT_BENCH_TRANSFER_TRIALS:-2}
only=${RIFT_BENCH_TRANSFER_ONLY:-big,small,nochange}  # which sections
dir=$(mktemp -d -p "${RIFT_BENCH_TMP:-/var/tmp}" transfer.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_port() {  # wait_port PORT
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}
best() { sort -g | tail -1; }   # highest of the figures on stdin
least() { sort -g | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "files: $mib MiB + 10,000 x 4 KiB in $dir ($(df -P "$dir" | awk 'NR==2 { print $1 }'))"
"$bench" prepare "$dir" "$mib"
data="$dir/src/data"

# Our server (it seals the tree first: hashes 1 GiB).
"$bench" serve "$dir" >"$dir/serve.log" 2>&1 &
ours_pid=$!
pids+=("$ours_pid")
for _ in $(seq 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
ours="http://127.0.0.1:$(cat "$dir/port")"

# nginx, one worker, sendfile, as root so it can read the 0700 temp dir.
nginx_port=$(free_port)
mkdir -p "$dir/nginx-tmp"
cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx.err;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $dir/nginx-tmp;
  server { listen 127.0.0.1:$nginx_port; root $data; }
}
EOF
nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
pids+=($!)

rsync_port=$(free_port)
cat >"$dir/rsyncd.conf" <<EOF
pid file = $dir/rsyncd.pid
use chroot = no
[data]
  path = $data
  read only = yes
  uid = root
  gid = root
EOF
rsync --daemon --no-detach --config="$dir/rsyncd.conf" --address=127.0.0.1 \
  --port="$rsync_port" &
pids+=($!)
wait_port "$nginx_port"
wait_port "$rsync_port"
cat "$data/selfplay/big.bin" >/dev/null  # the source file is in the page cache for everyone

# Earlier copies are moved aside, not deleted: deleting 10,000 files (ext4 with discard) slows
# file creation for seconds afterwards, which would penalise whoever runs next.
retire() {
  local d
  mkdir -p "$dir/old"
  for d in ours n r; do [ -e "$dir/$d" ] && mv "$dir/$d" "$(mktemp -u -p "$dir/old")"; done
  sync
}
section() { printf '\n## %s\n' "$*"; }

want() { [[ ",$only," == *",$1,"* ]]; }

if want big; then
section "1 file of $mib MiB: pull, write, fsync (best of $trials)"
rm -f "$dir"/big.*
for t in $(seq "$trials"); do
  retire
  rss0=$(rss_kib "$ours_pid")
  "$bench" big "$dir" "$ours" >"$dir/out"
  awk '$1 == "big_mib_s" { print $2 }' "$dir/out" >>"$dir/big.ours"
  client_rss=$(awk '$1 == "big_client_rss_growth_kib" { print $2 }' "$dir/out")
  server_rss=$(($(rss_kib "$ours_pid") - rss0))
  echo "  trial $t ours: $(awk '$1 == "big_mib_s" { print $2 }' "$dir/out") MiB/s; RSS growth: client $client_rss KiB, server $server_rss KiB"

  mkdir -p "$dir/n"; sync
  t0=$(now_ns)
  curl -sSf -o "$dir/n/big.bin" "http://127.0.0.1:$nginx_port/selfplay/big.bin"
  sync "$dir/n/big.bin"
  s=$(secs_since "$t0")
  awk -v m="$mib" -v s="$s" 'BEGIN { printf "%.1f\n", m / s }' >>"$dir/big.nginx"
  echo "  trial $t nginx+curl: $(tail -1 "$dir/big.nginx") MiB/s"

  mkdir -p "$dir/r"; sync
  t0=$(now_ns)
  rsync -q --whole-file "rsync://127.0.0.1:$rsync_port/data/selfplay/big.bin" "$dir/r/"
  sync "$dir/r/big.bin"
  s=$(secs_since "$t0")
  awk -v m="$mib" -v s="$s" 'BEGIN { printf "%.1f\n", m / s }' >>"$dir/big.rsync"
  echo "  trial $t rsync daemon: $(tail -1 "$dir/big.rsync") MiB/s"
done
b_ours=$(best <"$dir/big.ours"); b_nginx=$(best <"$dir/big.nginx"); b_rsync=$(best <"$dir/big.rsync")
b_ref=$(printf '%s\n%s\n' "$b_nginx" "$b_rsync" | best)
echo "ours $b_ours MiB/s | nginx+curl $b_nginx MiB/s | rsync daemon $b_rsync MiB/s"
echo "medians: ours $(median <"$dir/big.ours") | nginx+curl $(median <"$dir/big.nginx") | rsync $(median <"$dir/big.rsync") MiB/s (the disk dominates; noisy)"
m_ref=$( (median <"$dir/big.nginx"; median <"$dir/big.rsync") | best)
echo "ratio ours / better of nginx,rsync = $(ratio "$b_ours" "$b_ref") best, $(ratio "$(median <"$dir/big.ours")" "$m_ref") median (target >= 0.90)"
fi

if want small || want nochange; then

section "10,000 x 4 KiB files: pull, write, make durable (best of $trials)"
rm -f "$dir"/small.*
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "f%d\n", i }' >"$dir/names"
for t in $(seq "$trials"); do
  retire
  "$bench" small "$dir" "$ours" >"$dir/out"
  awk '$1 == "small_files_s" { print $2 }' "$dir/out" >>"$dir/small.ours"
  echo "  trial $t ours (PullBatch): $(tail -1 "$dir/small.ours") files/s"

  mkdir -p "$dir/n"
  awk -v u="http://127.0.0.1:$nginx_port/selfplay/small/" -v d="$dir/n/" \
    '{ printf "url = \"%s%s\"\noutput = \"%s%s\"\n", u, $1, d, $1 }' "$dir/names" >"$dir/curl.cfg"
  sync
  t0=$(now_ns)
  curl -sSf --no-progress-meter --parallel --parallel-max 8 -K "$dir/curl.cfg"
  sync -f "$dir/n"
  s=$(secs_since "$t0")
  awk -v s="$s" 'BEGIN { printf "%.0f\n", 10000 / s }' >>"$dir/small.nginx"
  echo "  trial $t nginx+curl (8 parallel): $(tail -1 "$dir/small.nginx") files/s"

  mkdir -p "$dir/r"; sync
  t0=$(now_ns)
  rsync -a "rsync://127.0.0.1:$rsync_port/data/selfplay/small/" "$dir/r/small/"
  sync -f "$dir/r"
  s=$(secs_since "$t0")
  awk -v s="$s" 'BEGIN { printf "%.0f\n", 10000 / s }' >>"$dir/small.rsync"
  echo "  trial $t rsync daemon: $(tail -1 "$dir/small.rsync") files/s"
done
s_ours=$(best <"$dir/small.ours"); s_nginx=$(best <"$dir/small.nginx")
s_rsync=$(best <"$dir/small.rsync")
echo "ours $s_ours files/s | nginx+curl $s_nginx files/s | rsync daemon $s_rsync files/s"
echo "medians: ours $(median <"$dir/small.ours") | nginx+curl $(median <"$dir/small.nginx") | rsync $(median <"$dir/small.rsync") files/s"
echo "ratio ours / rsync = $(ratio "$s_ours" "$s_rsync") best, $(ratio "$(median <"$dir/small.ours")" "$(median <"$dir/small.rsync")") median (target >= 1.00)"
fi

if want nochange; then

section "no-change round over the 10,000 files (best of 3)"
rm -f "$dir"/nc.*
for t in 1 2 3; do
  "$bench" nochange "$dir" "$ours" >"$dir/out" 2>"$dir/nc.parts"
  awk '$1 == "nochange_ms" { print $2 }' "$dir/out" >>"$dir/nc.ours"
  awk '$1 == "nochange_steady_ms" { print $2 }' "$dir/out" >>"$dir/nc.steady"
  left=$(awk '$1 == "nochange_to_pull" { print $2 }' "$dir/out")
  [ "$left" = 0 ] || echo "  (ours found $left files to pull: not a no-change round)"
  t0=$(now_ns)
  rsync -a "rsync://127.0.0.1:$rsync_port/data/selfplay/small/" "$dir/r/small/"
  awk -v s="$(secs_since "$t0")" 'BEGIN { printf "%.0f\n", s * 1000 }' >>"$dir/nc.rsync"
  echo "  trial $t ours: $(tail -1 "$dir/nc.ours") ms ($(cat "$dir/nc.parts")); rsync: $(tail -1 "$dir/nc.rsync") ms"
done
n_ours=$(least <"$dir/nc.ours"); n_rsync=$(least <"$dir/nc.rsync")
echo "ours $n_ours ms (Scan + the whole manifest from cursor 0 over HTTP + diff: a new leader's first round) | rsync re-run $n_rsync ms"
echo "ratio rsync / ours = $(ratio "$n_rsync" "$n_ours") (target >= 1.00)"
n_steady=$(least <"$dir/nc.steady")
echo "a sitting leader's round (Scan + the manifest past its cursor + diff): $n_steady ms, ratio rsync / ours = $(ratio "$n_rsync" "$n_steady")"
fi
