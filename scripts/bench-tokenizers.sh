#!/usr/bin/env bash
# prefix-warden's tokenizer engine against the fastest peers, side by side in one run, on ~16 MB
# of real text that does not repeat (issue #24). The table in README.md comes from here.
#
#   scripts/bench-tokenizers.sh [MB] [TOKENIZER_ID...]   # default 16 MB, the tokenizers below
#   REPS=5 scripts/bench-tokenizers.sh 16 openai/o200k_base
#
# Tokenizers (default), one of every format shipped: openai/o200k_base and cl100k_base, the
# shipped byte-level tokenizer.json files (anthropic/claude-legacy, qwen/qwen3, deepseek/v3,
# deepseek/v4), Mistral's newest tekken (against Python tiktoken and fastokens) and SentencePiece
# BPE model (mistral/spm-v7, against sentencepiece), and the SentencePiece unigram test model
# (tests/data/spm/unigram-nfkc.model; no shipped file is unigram). Any other registry id can be
# named: the other rank files (prefix-warden, tiktoken, fastokens), tekken files and BPE .model
# files.
#
# The text: scripts/bench/make_corpus.py (real English, CJK, Cyrillic, Arabic, ... text and real
# Python and Rust code from what is installed here, deduplicated; its SOURCES.tsv beside it),
# under $CARGO_TARGET_DIR (default target)/bench-corpus; its sha256 is printed.
#
# The peers, as a user installs them: PyPI packages at the versions of
# scripts/bench/requirements.txt in a virtualenv under target/ (tiktoken, quicktok-v1,
# tokenizers 1.0 rc, fastokens, riptoken, tokendagger, sentencepiece), and the Rust crates bpe-openai and tiktoken-rs in
# scripts/bench/peers (a bench-only member of the workspace, not a default one, beside
# prefix-warden's engine in one binary). Each engine is its own process, one thread; scripts/bench/tokenizers.py
# runs REPS (default 3) rounds with the engines interleaved, compares every engine's ids with the
# reference's, and prints the table: in-process MB/s, × prefix-warden, whole-process CPU and peak
# RSS, every version.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-16}
shift || true
# The peers member builds into the workspace's target directory, as the workspace's crates do.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
target=$CARGO_TARGET_DIR
export TMPDIR=${TMPDIR:-$target/tmp}
mkdir -p "$TMPDIR"

cargo build --locked --release -q
cargo build --locked --release -q -p tokenizer-peers
# tokendagger is an sdist that compiles against PCRE2.
if [ ! -e /usr/include/pcre2.h ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libpcre2-dev >/dev/null ||
    { echo "tokendagger needs libpcre2-dev (apt-get install libpcre2-dev)" >&2; exit 1; }
fi
venv="${PREFIX_WARDEN_BENCH_VENV:-$target/bench-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/bench/requirements.txt

corpus="$target/bench-corpus"
python3 scripts/bench/make_corpus.py "$corpus" --mb "$MB"

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
# The registry's tokenizers plus the SentencePiece unigram test model, with absolute paths and a
# state_dir of its own (its table cache is warm after the first round).
python3 - "$W" <<'PY'
import sys, tomllib, hashlib, pathlib, json
w = pathlib.Path(sys.argv[1]); root = pathlib.Path.cwd()
cfg = tomllib.loads(pathlib.Path("daemon.toml").read_text())
out = [f'state_dir = "{w}/state"']
entries = cfg["tokenizer"] + [
    {"id": "test/spm-unigram-nfkc", "provider": "test", "format": "sentencepiece", "file": "tests/data/spm/unigram-nfkc.model"}
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
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(openai/o200k_base openai/cl100k_base anthropic/claude-legacy qwen/qwen3 deepseek/v3 deepseek/v4 mistral/tekken-240911 mistral/spm-v7 test/spm-unigram-nfkc)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
echo "Measured $(date -u +%Y-%m-%d) at commit $commit on $(nproc) cores ($(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load at start $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Text: $(sha256sum "$corpus/corpus.txt" | cut -c1-16)… of scripts/bench/make_corpus.py --mb $MB (sources: $corpus/SOURCES.tsv)."
"$venv/bin/python" scripts/bench/tokenizers.py "$target/release/prefix" "$target/release/tokenizer-peers" \
  "$W/bench.toml" "$corpus/corpus.txt" --reps "${REPS:-3}" --commit "$commit" --only "${ids[@]}"
