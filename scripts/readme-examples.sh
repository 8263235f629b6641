#!/usr/bin/env bash
# Runs the README's install and run examples as written, in a copy of the checkout (the
# one-line `prefix ...` examples with shown output are run by tests/it/readme.rs; the Debian
# package steps by scripts/test-deb.sh):
#   cargo install --locked --path .      (into a temporary --root, reusing target/)
#   prefix --version
#   the shipped daemon: cache reads from warm-ups in /metrics, `prefix status` showing the
#   color and targets, the blue -> green flip, and the POST /v1/usage example
# One change to the copy, for time: the demo warm-up groups tick every 5 s instead of every
# minute. Ports 9464-9466 must be free.
#
#   scripts/readme-examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "readme-examples: $*" >&2; [ -f "$work/daemon.log" ] && tail -n 20 "$work/daemon.log" >&2; exit 1; }

echo "-- cargo install --locked --path ."
cargo install --locked --path . --root "$work/install" --target-dir "$root/target" -q
export PATH="$work/install/bin:$PATH"
[ "$(command -v prefix)" = "$work/install/bin/prefix" ] || fail "prefix is not the installed one"
prefix --version | grep -E '^prefix [0-9.]+ \(commit [0-9a-f]+, built [0-9-]+\)$' || fail "--version"

echo "-- the daemon on the shipped config (a copy)"
mkdir "$work/run"
cp -r daemon.toml prompts data tokenizers templates deploy "$work/run/"
cd "$work/run"
sed -i 's/^schedule = "0 \* \* \* \* \*"/schedule = "*\/5 * * * * *"/; s/^jitter_secs = 5/jitter_secs = 0/' daemon.toml
prefix daemon >"$work/daemon.log" 2>&1 & pid=$!
for _ in $(seq 1 120); do
  curl -s localhost:9464/metrics 2>/dev/null | grep -qE 'cache_read_tokens_total.*warmup.* [1-9]' && break
  sleep 1
done
curl -s localhost:9464/metrics | grep 'cache_read_tokens_total.*warmup' || fail "no warm-up cache reads in /metrics"
prefix status | tee "$work/status.txt" | grep -E 'cline-anthropic +blue +http://127.0.0.1:9465' || fail "prefix status does not show blue"
grep -q 'warm-up run group=cline-anthropic color=blue targets=http://127.0.0.1:9465 result=success' "$work/daemon.log" || fail "no warm-up run line for blue"

echo "-- the flip"
sed -i 's/"live": "blue"/"live": "green"/' deploy/live-color.json
for _ in $(seq 1 60); do
  grep -q 'warm-up run group=cline-anthropic color=green targets=http://127.0.0.1:9466 result=success' "$work/daemon.log" && break
  sleep 1
done
grep 'color=green targets=http://127.0.0.1:9466 result=success' "$work/daemon.log" | head -n 1 || fail "no warm-up run on green"
prefix status | grep -E 'cline-anthropic +green +http://127.0.0.1:9466' || fail "prefix status does not show green"

echo "-- POST /v1/usage"
code=$(curl -s -o "$work/usage.json" -w '%{http_code}' localhost:9464/v1/usage -H 'content-type: application/json' -d '[
  {"prompt": "cline-claude-sonnet-4", "provider": "anthropic",
   "usage": {"input_tokens": 21, "cache_read_input_tokens": 12000, "cache_creation_input_tokens": 0}}]')
[ "$code" = 200 ] || fail "POST /v1/usage answered $code: $(cat "$work/usage.json")"
curl -s localhost:9464/metrics | grep -E 'cache_read_tokens_total\{.*prompt="cline-claude-sonnet-4".*source="traffic".*\} 12000' \
  || curl -s localhost:9464/metrics | grep -E 'cache_read_tokens_total\{.*source="traffic".*prompt="cline-claude-sonnet-4".*\} 12000' \
  || fail "the usage example was not counted"
kill -TERM "$pid"; wait "$pid" || fail "the daemon did not exit 0 on SIGTERM"; pid=""
echo "readme-examples: ok"
