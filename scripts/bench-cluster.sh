#!/usr/bin/env bash
# Measures raftchat's write path against etcd's on this machine, back to back: a 3-node
# `chatd dev` cluster (fsync on) loaded by `chat bench` with 256-byte messages, then
# ../shared/bench/etcd-baseline.sh at the same client counts. Absolute figures drift on
# shared machines; compare the two sides of one run only.
# Usage: scripts/bench-cluster.sh [CLIENT_COUNTS (default 1,64)] [DURATION (default 10s)]
# BENCH_FLAGS adds flags to `chat bench` (for example --post-stream=false for one unary call
# per message). The cluster runs without chatd's per-user rate limit (--user-rate, 1000
# requests a second by default), which a single bench client would otherwise hit: etcd's
# benchmark client has no such limit.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${1:-1,64}
dur=${2:-10s}
bin=$PWD/.bin
data=$(mktemp -d)
"$bin/chatd" dev --data-dir "$data/dev" --base-port 7401 --user-rate 1e9 >"$data/dev.log" 2>&1 &
dev=$!
stop() { kill -INT "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
trap 'stop; rm -rf "$data"' EXIT
for _ in $(seq 50); do grep -q "Ctrl-C" "$data/dev.log" && break; sleep 0.2; done
declare -A ours
for c in ${counts//,/ }; do
  out=$("$bin/chat" bench --addrs 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403 \
    --clients "$c" --duration "$dur" --size 256 --json ${BENCH_FLAGS:-} 2>/dev/null)
  printf 'raftchat clients=%s %s\n' "$c" "$out"
  ours[$c]=$(sed -n 's/.*"messages_per_s":\([0-9.]*\).*/\1/p' <<<"$out")
done
stop
baseline=../shared/bench/etcd-baseline.sh
if [[ -x $baseline || -f $baseline ]]; then
  theirs=$(bash "$baseline" -c "$counts" -d "$dur" 2>/dev/null | grep '^etcd')
  echo "$theirs"
  # The figure the write-path target is about: our writes/s over etcd's, per client count.
  while read -r line; do
    c=$(sed -n 's/.*clients=\([0-9]*\).*/\1/p' <<<"$line")
    w=$(sed -n 's/.*writes_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
    if [[ -n ${ours[$c]:-} && -n $w ]]; then
      awk -v c="$c" -v a="${ours[$c]}" -v b="$w" 'BEGIN { if (b > 0) printf "ratio clients=%s raftchat/etcd writes per second: %.2f\n", c, a / b }'
    fi
  done <<<"$theirs"
else
  echo "no $baseline: etcd side skipped"
fi
