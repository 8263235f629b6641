#!/usr/bin/env bash
# Resident memory of `prefix daemon` on the shipped config (its in-process emulator included),
# with no allocator environment variables: after a cold first pass (empty state dir), 30 s
# later, and after a warm start (fingerprint cache filled).
#
#   scripts/measure-memory.sh          (cargo build --release first)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/prefix
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
d=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$d"' EXIT
cp -r daemon.toml prompts data tokenizers deploy "$d/"
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free); p2=$(free); p3=$(free)
sed -i "s/127.0.0.1:9464/127.0.0.1:$p1/; s/127.0.0.1:9465/127.0.0.1:$p2/; s/127.0.0.1:9466/127.0.0.1:$p3/" "$d/daemon.toml"
sed -i "s/127.0.0.1:9465/127.0.0.1:$p2/g; s/127.0.0.1:9466/127.0.0.1:$p3/g" "$d/deploy/live-color.json"
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$pid/status"; }
run() {
  env -u MALLOC_ARENA_MAX -u MALLOC_TRIM_THRESHOLD_ "$bin" daemon --config "$d/daemon.toml" 2>>"$d/log" & pid=$!
  local t0; t0=$(date +%s.%N)
  until curl -fsS "http://127.0.0.1:$p1/readyz" >/dev/null 2>&1; do sleep 0.05; done
  echo "$1: ready in $(python3 -c "import time; print(f'{time.time()-$t0:.2f}')") s, rss $(rss) MB (peak $(hwm) MB)"
  sleep 30
  echo "$1: 30 s later rss $(rss) MB"
  kill -TERM $pid; wait $pid || true; pid=""
}
run cold
run warm
