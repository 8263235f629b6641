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
# ${TMPDIR:-/tmp}. Besides the registry, the two SentencePiece test models (tests/data/spm) are
# measured, for the unigram model and the NFKC charsmap. Best of REPS (default 3) runs; the
# table cache (state_dir/tokenizer-tables) is warm after the first.
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
# The registry's tokenizers plus the two SentencePiece test models (unigram, NFKC charsmap),
# with absolute paths and a state_dir of its own (its table cache is warm after the first run).
python3 - "$W" <<'PY'
import sys, tomllib, hashlib, pathlib, json
w = pathlib.Path(sys.argv[1]); root = pathlib.Path.cwd()
cfg = tomllib.loads(pathlib.Path("daemon.toml").read_text())
out = [f'state_dir = "{w}/state"']
entries = cfg["tokenizer"] + [
    {"id": f"test/spm-{n}", "provider": "test", "format": "sentencepiece", "file": f"tests/data/spm/{n}.model"}
    for n in ("unigram-nfkc", "bpe-nfkc")
]
for t in entries:
    t = dict(t)
    for k in ("file", "spec"):
        if k in t:
            t[k] = str(root / t[k])
    if "sha256" not in t:
        t["sha256"] = hashlib.sha256(pathlib.Path(t["file"]).read_bytes()).hexdigest()
    out.append("[[tokenizer]]")
    out += [f"{k} = {json.dumps(v)}" for k, v in t.items() if k in ("id", "provider", "format", "file", "spec", "sha256")]
(w / "bench.toml").write_text("\n".join(out) + "\n")
PY
only=()
[ $# -gt 0 ] && only=(--only "$@")
echo "measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$venv/bin/python" scripts/bench/tokenizers.py target/release/prefix "$W/bench.toml" "$W/mix.txt" --reps "${REPS:-3}" "${only[@]}"
