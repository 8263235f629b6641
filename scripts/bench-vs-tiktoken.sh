#!/usr/bin/env bash
# Times `prefix fingerprint` over the whole corpus (41 texts, ~1 MB) against Python tiktoken
# tokenizing the same texts, side by side in one run, and reports the ratio. Also reports the
# fingerprint cache: a cold run (empty state dir) versus a warm one (nothing to tokenize).
#
#   scripts/bench-vs-tiktoken.sh            # needs: cargo, python3; installs tiktoken if missing
#
# Both sides are timed as whole processes (start, load the rank files, tokenize, exit), best of
# REPS runs. prefix uses both cores (rayon); Python tiktoken's encode_ordinary uses one.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
cargo build --release -q
BIN=$PWD/target/release/prefix
python3 -c "import tiktoken" 2>/dev/null || pip install -q "tiktoken==0.14.0"

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/prompts"
cp -r tokenizers data "$W/"
for f in tests/data/corpus/*.txt; do
  n=$(basename "$f" .txt)
  cp "$f" "$W/prompts/$n.txt"
  printf 'id: %s\ntext_file: %s.txt\n' "$(echo "$n" | tr 'A-Z_' 'a-z-')" "$n" > "$W/prompts/$n.yaml"
done
python3 - "$W" <<'PY'
import re, sys
src = open("daemon.toml").read()
keep = [b for b in src.split("[[tokenizer]]")[1:] if 'id = "openai/cl100k_base"' in b or 'id = "openai/o200k_base"' in b]
open(sys.argv[1] + "/daemon.toml", "w").write('state_dir = "state"\n' + "".join("[[tokenizer]]" + b for b in keep))
PY
BYTES=$(cat tests/data/corpus/*.txt | wc -c)

best() { python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "$@"; }
now() { date +%s.%N; }

cold=(); warm=(); py=()
for i in $(seq "$REPS"); do
  rm -rf "$W/state"
  t0=$(now); "$BIN" --config "$W/daemon.toml" fingerprint --format json > "$W/cold.json"; t1=$(now)
  "$BIN" --config "$W/daemon.toml" fingerprint --format json > "$W/warm.json"; t2=$(now)
  python3 - "$W" <<'PY' > "$W/py.out"
import base64, glob, gzip, json, sys, time, tiktoken
t0 = time.perf_counter()
texts = [open(f, encoding="utf-8").read() for f in sorted(glob.glob(sys.argv[1] + "/prompts/*.txt"))]
n = 0
for name in ["cl100k_base", "o200k_base"]:
    spec = json.load(open(f"tokenizers/openai/{name}.spec.json"))
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in gzip.open(f"tokenizers/openai/{name}.tiktoken.gz", "rt") if l.strip())}
    enc = tiktoken.Encoding(name, pat_str=spec["pattern"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"])
    for t in texts:
        n += len(enc.encode_ordinary(t))
print(n)
PY
  t3=$(now)
  cold+=("$(echo "$t1 - $t0" | bc)"); warm+=("$(echo "$t2 - $t1" | bc)"); py+=("$(echo "$t3 - $t2" | bc)")
done
ours_tokens=$(python3 -c "import json; print(sum(p['token_count'] for p in json.load(open('$W/cold.json'))['pairs']))")
py_tokens=$(cat "$W/py.out")
[ "$(python3 -c "import json; print(json.load(open('$W/warm.json'))['tokenized'])")" = 0 ] || { echo "warm run tokenized something"; exit 1; }
[ "$ours_tokens" = "$py_tokens" ] || { echo "token totals differ: prefix $ours_tokens, tiktoken $py_tokens"; exit 1; }
C=$(best "${cold[@]}"); Wm=$(best "${warm[@]}"); P=$(best "${py[@]}")
python3 - "$C" "$Wm" "$P" "$BYTES" "$ours_tokens" "$(nproc)" <<'PY'
import sys
c, w, p, b, t, cores = map(float, sys.argv[1:])
mb = 2 * b / 1e6  # two encodings over the corpus
print(f"corpus: {b/1e6:.2f} MB x 2 encodings (cl100k_base, o200k_base) = {t:.0f} tokens; {cores:.0f} cores")
print(f"python tiktoken 0.14 (load + encode_ordinary, 1 core): {p:.3f} s  {mb/p:.1f} MB/s")
print(f"prefix fingerprint, cold (load + tokenize + hash, {cores:.0f} cores): {c:.3f} s  {mb/c:.1f} MB/s  ratio vs tiktoken {p/c:.2f}x  per core {p/c/cores:.2f}x")
print(f"prefix fingerprint, warm (cache hits, nothing tokenized): {w:.3f} s  ({c/w:.1f}x faster than cold)")
PY
