#!/usr/bin/env bash
# Writes the miss-reason tables of README.md and docs/traffic.md: `prefix simulate` on
# examples/logs/diagnosed.jsonl.gz (made by scripts/gen_diagnosed_logs.py against `prefix
# emulate`), its predicted outcomes and the table of predicted against reported reasons, between
# the `<!-- reasons:begin MODEL [ARGS...] -->` and `<!-- reasons:end -->` markers. tests/it/readme.rs runs
# the README's command and checks each shown line; tests/it/docs_true.rs checks that
# docs/traffic.md shows the same block.
#
#   scripts/reason-tables.sh [PREFIX_BINARY]      # default target/debug/prefix
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/prefix}
log=examples/logs/diagnosed.jsonl.gz
for file in README.md docs/traffic.md; do
  python3 - "$bin" "$log" "$file" <<'PY'
import re, subprocess, sys
bin, log, path = sys.argv[1:]
text = open(path).read()
def block(m):
    model, *extra = m.group(1).split()
    cmd = ["simulate", "--model", model, *extra, log]
    out = subprocess.run([bin, *cmd], check=True, capture_output=True, text=True).stdout.splitlines()
    # The heading, where block lengths came from (models without a tokenizer), and the reasons.
    lengths = [l for l in out if l.startswith(("block lengths", "calibration"))]
    start = next(i for i, l in enumerate(out) if l.startswith("predicted outcome"))
    shown = [out[0], ""] + (lengths + [""] if lengths else []) + out[start:]
    body = "\n".join(("# " + l).rstrip() for l in shown)
    return f"<!-- reasons:begin {m.group(1)} -->\n```sh\nprefix {' '.join(cmd)}\n{body}\n```\n<!-- reasons:end -->"
new, n = re.subn(r"<!-- reasons:begin (.+?) -->.*?<!-- reasons:end -->", block, text, flags=re.S)
if n == 0:
    sys.exit(f"{path}: no <!-- reasons:begin MODEL --> marker")
open(path, "w").write(new)
print(f"{path}: {n} table(s)")
PY
done
