#!/usr/bin/env bash
# Load test of POST /v1/usage with wrk, at 16, 64 and 256 connections.
#
#   scripts/load-ingest.sh [SECONDS]        (default 15 s per level; needs `wrk`: apt-get install wrk)
#
# Starts the release daemon (cargo build --release first) on a scratch copy of the shipped config
# with one tokenizer and no warm-ups, on a free loopback port; for each level prints requests/s,
# p50/p99 latency, resident memory before and after, and checks that the counter moved by exactly
# 5 records per 2xx answer (every acknowledged record counted, none twice). The thread count is
# 2 (this machine has 2 cores; wrk and the daemon share them).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
bin=target/release/prefix
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
d=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$d"' EXIT
cp -r prompts data tokenizers "$d/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$d" "$port" <<'PY'
import sys
d, port = sys.argv[1], sys.argv[2]
cfg = open("daemon.toml").read()
head, *blocks = cfg.split("[[tokenizer]]")
kept = "".join("[[tokenizer]]" + b.split("\n# ---")[0] + "\n" for b in blocks if 'id = "openai/o200k_base"' in b)
open(f"{d}/daemon.toml", "w").write(f'{head}{kept}\n[daemon]\nlisten = "127.0.0.1:{port}"\n')
PY
"$bin" daemon --config "$d/daemon.toml" 2>"$d/daemon.log" & pid=$!
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
records() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^prefix_warden_usage_records_total/ {print $2}'; }
fail=0
echo "connections  requests/s  p50 ms  p99 ms  rss before/after MB  2xx  counted records"
for c in 16 64 256; do
  before_rss=$(rss); before=$(records); before=${before:-0}
  out=$(wrk -t2 -c"$c" -d"${secs}s" --timeout 10s -s scripts/load/usage.lua "http://127.0.0.1:$port/v1/usage")
  line=$(echo "$out" | grep '^LOADRESULT')
  req=$(echo "$line" | sed -E 's/.*requests=([0-9]+).*/\1/')
  st=$(echo "$line" | sed -E 's/.*errors_status=([0-9]+).*/\1/')
  ok=$((req - st))
  after=$(records)
  delta=$(python3 -c "print(int(float('$after') - float('$before')))")
  printf "%11s  %10s  %6s  %6s  %9s/%-9s  %7s  %s\n" "$c" \
    "$(echo "$line" | sed -E 's/.*rps=([0-9]+).*/\1/')" \
    "$(echo "$line" | sed -E 's/.*p50_ms=([0-9.]+).*/\1/')" \
    "$(echo "$line" | sed -E 's/.*p99_ms=([0-9.]+).*/\1/')" \
    "$before_rss" "$(rss)" "$ok" "$delta"
  # wrk may count a request cut at the end of the run that the daemon still answered and
  # counted: at most one per connection.
  if [ "$delta" -lt $((ok * 5)) ] || [ "$delta" -gt $(((ok + c) * 5)) ]; then
    echo "FAIL: $delta records counted for $ok acknowledged batches of 5"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "load-ingest: 3 passed, 0 failed" || { echo "load-ingest: failed"; exit 1; }
