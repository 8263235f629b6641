#!/usr/bin/env bash
# Every shipped tokenizer against its reference implementation, side by side in one run:
# `prefix tokenize` versus Python tiktoken (rank files, tekken), `tokenizers` (tokenizer.json)
# and `sentencepiece` (.model), whole processes on the same mixed text, with the ratios and the
# peak RSS of each side, and the ids checked equal. The table in README.md comes from here.
#
#   scripts/bench-tokenizers.sh [MB] [TOKENIZER_ID...]     # default 16 MB, every tokenizer
#   REPS=3 scripts/bench-tokenizers.sh 16 openai/o200k_base
#
# The text is the corpus (tests/data/corpus: English, code, JSON, Chinese, Japanese, Russian),
# whole files in name order, repeated until it holds MB megabytes. The reference packages are
# installed at their pinned versions (scripts/reference/requirements.txt) into a virtualenv under
# ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-16}
shift || true
cargo build --release -q
venv="${PREFIX_WARDEN_REFERENCE_VENV:-${TMPDIR:-/tmp}/prefix-warden-reference-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/reference/requirements.txt

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
python3 - "$W/mix.txt" "$MB" <<'PY'
import sys, pathlib
out, mb = pathlib.Path(sys.argv[1]), float(sys.argv[2])
files = sorted(pathlib.Path("tests/data/corpus").glob("*.txt"))
parts, size = [], 0
while size < mb * 1e6:
    for f in files:
        b = f.read_bytes(); parts.append(b); size += len(b)
        if size >= mb * 1e6:
            break
out.write_bytes(b"".join(parts))
PY
only=()
[ $# -gt 0 ] && only=(--only "$@")
echo "measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$venv/bin/python" scripts/bench/tokenizers.py target/release/prefix daemon.toml "$W/mix.txt" --reps "${REPS:-3}" "${only[@]}"
