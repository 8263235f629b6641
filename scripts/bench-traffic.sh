#!/usr/bin/env bash
# The traffic benchmark: `prefix discover` and `prefix simulate` over a generated log of N
# requests (default 1,000,000: about 1 GB of JSON lines over 24 hours, scripts/bench/gen_traffic.py),
# each timed with its peak resident memory. Fails when either takes 60 s or more, or 500 MB or more.
# The README's figures come from here.
#
#   scripts/bench-traffic.sh [N]            # cargo build --release first; the log is cached
#
# The log is written once to ${TMPDIR:-/tmp}/prefix-warden-traffic-N-<generator sha>.jsonl and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
bin=target/release/prefix
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
# Keyed on the generator's content too, so a changed generator never reuses an old log.
gen_sha=$(sha256sum scripts/bench/gen_traffic.py | cut -c1-12)
log=${TMPDIR:-/tmp}/prefix-warden-traffic-$N-$gen_sha.jsonl
if [ ! -s "$log" ]; then
  python3 scripts/bench/gen_traffic.py "$log.tmp" --requests "$N"
  mv "$log.tmp" "$log"
fi
echo "log: $N requests, $(( $(stat -c %s "$log") / 1000000 )) MB; $(nproc) cores; $(date -u +%Y-%m-%d); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
# Wall time and the child's peak RSS, measured by the parent (no /usr/bin/time needed).
measure() {
  python3 - "$@" <<'EOF'
import json, resource, subprocess, sys, time
t0 = time.monotonic()
r = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE)
secs = time.monotonic() - t0
mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
# A run that saw no requests measures nothing: fail it.
out = json.loads(r.stdout) if r.returncode == 0 else {}
requests = out.get("requests", out.get("without_warmup", {}).get("requests", 0))
ok = r.returncode == 0 and requests > 0 and secs < 60 and mb < 500
print(f"{sys.argv[1]:<9} {secs:6.1f} s  {mb:6.0f} MB peak RSS  {requests:>8} requests  {'ok' if ok else 'FAILED: over the goal (60 s, 500 MB), no requests, or an error'}")
sys.exit(0 if ok else 1)
EOF
}
status=0
measure discover "$bin" discover --config daemon.toml --format json "$log" || status=1
measure simulate "$bin" simulate --config daemon.toml --model openai/gpt-5.5 --format json "$log" || status=1
exit $status
