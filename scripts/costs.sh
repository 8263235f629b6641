#!/usr/bin/env bash
# Measures what building and testing prefix-warden costs, cold, and writes the figures into
# README.md (the "Costs" lines between the `costs:` markers) and docs/costs.md (every step).
#
#   scripts/costs.sh            # from a clean checkout; about half an hour on 2 cores
#
# It clones HEAD into target/costs/clone (a fresh clone: no target/, no venv, nothing cached but
# cargo's download cache, so the crates are not fetched again) and runs the README's test
# command there, `scripts/test.sh`, which prints how long each step took. From that run:
#   - build: the release build from its start to its end (`cargo build --locked --release`: all
#     dependencies at opt-level 3, nothing shared with the debug build), which is what
#     `cargo install --locked --path .` compiles; test.sh runs it at low priority beside the
#     debug build and the tests, so on an idle machine it takes at most this long (less: alone,
#     it has both cores);
#   - test: the whole `scripts/test.sh`, and its slowest steps;
#   - binary: target/release/prefix as built and stripped;
#   - disk: the clone's target/ afterwards;
#   - /tmp: what test.sh left there (it fails when anything is left; every temporary file goes
#     under target/tmp);
#   - ports: the fixed ones the README examples use (test.sh stops early when one is taken).
# Run it on an otherwise idle machine: the figures are wall-clock time. Packages test.sh would
# install with apt-get are counted only when missing (docs/costs.md says which).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -z "$(git status --porcelain)" ] || { echo "commit first: the figures are for HEAD" >&2; exit 1; }
commit=$(git rev-parse --short HEAD)
work=$root/target/costs
rm -rf "$work"
mkdir -p "$work"
git clone -q "$root" "$work/clone"
log=$work/test.log
start=$SECONDS
# The clone's own target/ (a CARGO_TARGET_DIR from the caller would make it warm).
(cd "$work/clone" && env -u CARGO_TARGET_DIR scripts/test.sh) >"$log" 2>&1 || {
  tail -n 40 "$log" >&2
  echo "scripts/test.sh failed in the clone; the whole log: $log" >&2
  exit 1
}
total=$((SECONDS - start))
durations=$(sed -n '/^== durations$/,$p' "$log" | tail -n +2)
step_secs() { echo "$durations" | grep -F "  $1" | head -n 1 | awk '{print $1}' | tr -d s; }
mins() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }
build=$(step_secs "(release build from start to end")
tests=$(( $(step_secs "clippy and the tests' build") + $(step_secs "rust tests") ))
bin=$work/clone/target/release/prefix
size=$(stat -c %s "$bin")
strip -o "$work/prefix.stripped" "$bin"
stripped=$(stat -c %s "$work/prefix.stripped")
disk=$(du -sb "$work/clone/target" | cut -f1)
mb() { echo $(($1 / 1000000)); }
gb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e9 }'; }
cores=$(nproc)
day=$(date -u +%Y-%m-%d)

block=$(cat <<EOT
<!-- costs: written by scripts/costs.sh; do not edit by hand -->
Measured cold on a $cores-core machine ($day, commit $commit; every step in docs/costs.md):
- **Build**: \`cargo install --locked --path .\` compiles what \`cargo build --release\` does: at most $(mins "$build")
  (timed at low priority beside the debug build and the tests; alone it takes less).
  The binary is $(mb "$size") MB ($(mb "$stripped") MB stripped; the Debian package ships it stripped).
- **Test**: \`scripts/test.sh\` took $(mins "$total") in all, $(mins "$tests") of it the one debug build that is
  also the clippy run and the Rust tests. It leaves $(gb "$disk") GB in \`target/\`.
- **Ports**: 9464 (daemon), 9465 and 9466 (the emulators) must be free; \`scripts/test.sh\` stops at once
  when one is taken (a daemon left running from "Run it"). Integration tests use ports the kernel picks.
- **/tmp**: nothing is left there: temporary files go under \`target/tmp\`, removed at the end, and
  the run fails if \`/tmp\` or \`git status\` differ from how it found them.
<!-- /costs -->
EOT
)
python3 - "$block" <<'PY'
import re, sys
p = "README.md"
s = open(p).read()
new = sys.argv[1]
pat = re.compile(r"<!-- costs:.*?<!-- /costs -->", re.S)
if not pat.search(s):
    sys.exit("README.md has no <!-- costs: ... <!-- /costs --> block")
open(p, "w").write(pat.sub(lambda _: new, s, count=1))
PY
{
  echo "# What building and testing cost"
  echo
  echo "Written by \`scripts/costs.sh\` on $day at commit $commit, on a machine with $cores cores and"
  echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) of memory: a fresh clone, \`scripts/test.sh\` run cold in it (only cargo's"
  echo "download cache was warm). The README's \"Costs\" lines are made from these figures."
  echo
  echo "Before issue #20 the same command took 59 min 38 s cold on this kind of machine under load"
  echo "(\`cargo clippy\` about 14 min and the test build 11.5 min, each compiling every dependency,"
  echo "and the cold nightly fuzz build 18.6 min) and CI took 2,728 s. Now one debug build serves"
  echo "clippy and the tests, the release build runs beside them at low priority, and the fuzz"
  echo "targets' properties run as unit tests (libFuzzer: \`scripts/fuzz.sh\`, outside CI)."
  echo
  echo "| seconds | step of scripts/test.sh |"
  echo "|---:|---|"
  echo "$durations" | sed -E 's/^ *([0-9]+)s  (.*)$/| \1 | \2 |/'
  echo
  echo "- release binary: $size bytes ($stripped stripped)"
  echo "- the clone's target/ afterwards: $disk bytes"
  echo "- whole run as timed by costs.sh: $total s"
  echo "- cargo-deb: $(grep -q 'Installed package .cargo-deb' "$log" && echo 'compiled and installed by the run (cargo install)' || echo 'already installed')"
  echo "- apt-get: $(grep -q '^installing: ' "$log" && grep '^installing: ' "$log" | head -n 1 || echo 'nothing to install (the packages were on the machine)')"
} >docs/costs.md
echo "README.md and docs/costs.md updated: test $(mins "$total"), build $(mins "$build")"
