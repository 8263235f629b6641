#!/usr/bin/env python3
"""Generate reference token ids for every shipped tokenizer and every corpus text.

Output: tests/data/expected_ids/<label with '/' replaced by '__'>.json.gz, each a gzip (mtime 0)
of compact JSON with sorted keys:

    {"tokenizer": label, "file": <tokenizer file, relative to the repo root>,
     "file_sha256": <sha256 of the uncompressed tokenizer file>,
     "reference": <library version and call used>,
     "ids": {"<corpus file name>": [ids...], ...}}

Reference semantics (see tests/data/expected_ids/README.md):
  * tiktoken rank files: tiktoken.Encoding(name, pat_str=spec.pattern, mergeable_ranks=<ranks>,
    special_tokens=spec.special_tokens).encode_ordinary(text), then + spec.id_offset.
  * HF tokenizer.json: tokenizers.Tokenizer.from_str(json).encode(text, add_special_tokens=False).ids
  * tekken: mistral_common Tekkenizer.from_file(path).encode(text, bos=False, eos=False), cross-checked
    on the whole corpus against a plain tiktoken.Encoding built by the rule documented in
    tokenizers/README.md (the rule the Rust engine implements).
  * SentencePiece .model: sentencepiece.SentencePieceProcessor(model_file=path).encode(text,
    out_type=int) (no BOS/EOS); for Mistral's files cross-checked on the whole corpus with
    mistral_common SentencePieceTokenizer(path).encode(text, bos=False, eos=False). The unigram and
    nmt_nfkc models under tests/data/spm/ (made by scripts/reference/gen_spm_models.py) are
    references of the same call.

Text is read from the corpus file as UTF-8, exactly (no stripping, no newline changes).

Usage:
    pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gen_expected_ids.py            # (re)write the files
    python3 scripts/reference/gen_expected_ids.py --check    # compare with the committed files
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKENIZERS = ROOT / "tokenizers"
CORPUS = ROOT / "tests" / "data" / "corpus"
OUT = ROOT / "tests" / "data" / "expected_ids"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"

# label -> (format, tokenizer file relative to tokenizers/, spec file relative to tokenizers/ or None)
LABELS: dict[str, tuple[str, str, str | None]] = {
    "openai/cl100k_base": ("tiktoken", "openai/cl100k_base.tiktoken.gz", "openai/cl100k_base.spec.json"),
    "openai/o200k_base": ("tiktoken", "openai/o200k_base.tiktoken.gz", "openai/o200k_base.spec.json"),
    "openai/o200k_harmony": ("tiktoken", "openai/o200k_base.tiktoken.gz", "openai/o200k_harmony.spec.json"),
    "qwen/qwen2.5-qwen3": ("tiktoken", "qwen/qwen2.5-qwen3.tiktoken.gz", "qwen/qwen2.5-qwen3.spec.json"),
    "qwen/qwen3": ("hf", "qwen/qwen3.tokenizer.json.gz", None),
    "qwen/qwen3.5-qwen3.6": ("tiktoken", "qwen/qwen3.5-qwen3.6.tiktoken.gz", "qwen/qwen3.5-qwen3.6.spec.json"),
    "deepseek/v3": ("hf", "deepseek/deepseek-v3.tokenizer.json.gz", None),
    "deepseek/v4": ("hf", "deepseek/deepseek-v4.tokenizer.json.gz", None),
    "mistral/tekken-240718": ("tekken", "mistral/tekken_240718.json.gz", None),
    "mistral/tekken-240911": ("tekken", "mistral/tekken_240911.json.gz", None),
    "anthropic/claude-legacy": ("hf", "anthropic/claude-legacy.tokenizer.json.gz", None),
    "mistral/spm-v1": ("spm", "mistral/spm-v1.model", None),
    "mistral/spm-v3": ("spm", "mistral/spm-v3.model", None),
    "mistral/spm-v7": ("spm", "mistral/spm-v7.model", None),
}

# SentencePiece models trained here for the model types and normalizers no shipped file uses
# (label -> file relative to the repo root); not registered in daemon.toml.
TEST_MODELS: dict[str, str] = {
    "test/spm-unigram-nfkc": "tests/data/spm/unigram-nfkc.model",
    "test/spm-bpe-nfkc": "tests/data/spm/bpe-nfkc.model",
}


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, ver = line.split("==", 1)
            pins[name.strip().lower()] = ver.strip()
    return pins


def check_versions(allow_mismatch: bool) -> dict[str, str | None]:
    installed: dict[str, str | None] = {}
    problems = []
    for name, want in pinned_versions().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        installed[name] = have
        if have != want:
            problems.append(f"{name}: pinned {want}, installed {have}")
    if problems:
        msg = "installed versions differ from scripts/reference/requirements.txt: " + "; ".join(problems)
        if allow_mismatch:
            print("warning: " + msg, file=sys.stderr)
        else:
            die(msg + " (pip install -r scripts/reference/requirements.txt, or --allow-version-mismatch)")
    return installed


def read_sums() -> dict[str, str]:
    sums = {}
    for line in (TOKENIZERS / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, path = line.split(None, 1)
            sums[path.strip()] = digest
    return sums


def load_corpus() -> dict[str, str]:
    texts = {}
    for p in sorted(CORPUS.glob("*.txt")):
        # Exact bytes -> str; strict UTF-8, no newline translation, no stripping.
        texts[p.name] = p.read_bytes().decode("utf-8", errors="strict")
    if not texts:
        die(f"no corpus texts in {CORPUS}")
    return texts


def load_tiktoken_ranks(raw: bytes) -> dict[bytes, int]:
    """Each non-empty line is "<base64 token> <rank>"."""
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            die(f"bad rank line {n}: {line[:80]!r}")
        tok, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
        if tok in ranks:
            die(f"duplicate token on rank line {n}")
        ranks[tok] = rank
    if len(set(ranks.values())) != len(ranks):
        die("duplicate ranks")
    return ranks


def tiktoken_encoder(name: str, raw: bytes, spec: dict):
    import tiktoken

    enc = tiktoken.Encoding(
        name,
        pat_str=spec["pattern"],
        mergeable_ranks=load_tiktoken_ranks(raw),
        special_tokens=spec["special_tokens"],
    )
    off = int(spec["id_offset"])
    return lambda text: [t + off for t in enc.encode_ordinary(text)]


def hf_encoder(raw: bytes):
    import tokenizers

    tok = tokenizers.Tokenizer.from_str(raw.decode("utf-8"))
    return lambda text: tok.encode(text, add_special_tokens=False).ids


def tekken_as_tiktoken(name: str, raw: bytes):
    """The rule the Rust engine implements (documented in tokenizers/README.md):
    ranks = vocab[:config.default_vocab_size - config.default_num_special_tokens] (token_bytes
    base64-decoded, rank == index), pattern = config.pattern, no special tokens are matched in text,
    id = rank + config.default_num_special_tokens."""
    import tiktoken

    d = json.loads(raw)
    cfg = d["config"]
    nspecial = int(cfg["default_num_special_tokens"])
    inner = int(cfg["default_vocab_size"]) - nspecial
    ranks = {}
    for i, e in enumerate(d["vocab"][:inner]):
        assert e["rank"] == i, (i, e["rank"])
        ranks[base64.b64decode(e["token_bytes"])] = i
    assert len(ranks) == inner
    enc = tiktoken.Encoding(name + "-as-tiktoken", pat_str=cfg["pattern"], mergeable_ranks=ranks, special_tokens={})
    return lambda text: [t + nspecial for t in enc.encode_ordinary(text)]


def tekken_encoder(stem: str, raw: bytes, tmpdir: Path):
    """Returns (encode, description). Uses mistral_common when importable."""
    try:
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer
    except Exception as e:  # pragma: no cover - only when mistral-common is missing
        print(f"warning: mistral_common unavailable ({e}); tekken reference = tiktoken construction", file=sys.stderr)
        return None
    path = tmpdir / f"{stem}.json"  # Tekkenizer wants an uncompressed file
    path.write_bytes(raw)
    tk = Tekkenizer.from_file(path)
    return lambda text: tk.encode(text, bos=False, eos=False)


def spm_encoder(path: Path):
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
    return lambda text: sp.encode(text, out_type=int)


def mistral_spm_encoder(path: Path):
    from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

    tk = SentencePieceTokenizer(path)
    return lambda text: tk.encode(text, bos=False, eos=False)


def generate(texts: dict[str, str], versions: dict[str, str | None]) -> tuple[dict[str, bytes], list[str]]:
    sums = read_sums()
    outputs: dict[str, bytes] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as td:
        tmpdir = Path(td)
        for label, (fmt, rel, spec_rel) in LABELS.items():
            path = TOKENIZERS / rel
            raw = path.read_bytes()
            if rel.endswith(".gz"):
                raw = gzip.decompress(raw)
            digest = hashlib.sha256(raw).hexdigest()
            relpath = f"tokenizers/{rel}"
            if sums.get(rel) != digest:
                die(f"{relpath}: uncompressed sha256 {digest} != SHA256SUMS {sums.get(rel)}")
            if fmt == "tiktoken":
                spec = json.loads((TOKENIZERS / spec_rel).read_text(encoding="utf-8"))
                if set(spec) != {"pattern", "special_tokens", "id_offset", "source"}:
                    die(f"{spec_rel}: unexpected keys {sorted(spec)}")
                encode = tiktoken_encoder(label, raw, spec)
                reference = (
                    f"tiktoken {versions.get('tiktoken')}: tiktoken.Encoding(name, pat_str=spec.pattern, "
                    f"mergeable_ranks=<{relpath} lines 'base64token rank'>, special_tokens=spec.special_tokens)"
                    f".encode_ordinary(text) + spec.id_offset; spec = tokenizers/{spec_rel}"
                )
            elif fmt == "hf":
                encode = hf_encoder(raw)
                reference = (
                    f"tokenizers {versions.get('tokenizers')}: tokenizers.Tokenizer.from_str(<gunzipped {relpath}>)"
                    f".encode(text, add_special_tokens=False).ids"
                )
            elif fmt == "tekken":
                stem = Path(rel).name[: -len(".json.gz")]
                ref_encode = tekken_encoder(stem, raw, tmpdir)
                tt_encode = tekken_as_tiktoken(label, raw)
                rule = (
                    "ranks = vocab[:config.default_vocab_size - config.default_num_special_tokens], "
                    "pat_str = config.pattern, encode_ordinary, id = rank + config.default_num_special_tokens"
                )
                if ref_encode is not None:
                    encode = ref_encode
                    reference = (
                        f"mistral-common {versions.get('mistral-common')}: "
                        f"mistral_common.tokens.tokenizers.tekken.Tekkenizer.from_file(<gunzipped {relpath}>)"
                        f".encode(text, bos=False, eos=False); cross-checked equal on the whole corpus with "
                        f"tiktoken {versions.get('tiktoken')} Encoding built as: {rule}"
                    )
                else:
                    encode = tt_encode
                    reference = f"tiktoken {versions.get('tiktoken')} (mistral-common not installed): {rule}"
            elif fmt == "spm":
                encode = spm_encoder(path)
                cross = mistral_spm_encoder(path)
                reference = (
                    f"sentencepiece {versions.get('sentencepiece')}: sentencepiece.SentencePieceProcessor("
                    f"model_file={relpath}).encode(text, out_type=int); cross-checked equal on the whole "
                    f"corpus with mistral-common {versions.get('mistral-common')} SentencePieceTokenizer"
                    f"(path).encode(text, bos=False, eos=False)"
                )
            else:
                die(f"unknown format {fmt}")

            ids: dict[str, list[int]] = {}
            for name, text in texts.items():
                seq = list(encode(text))
                if any((not isinstance(t, int)) or t < 0 or t > 0xFFFFFFFF for t in seq):
                    die(f"{label} {name}: id outside u32")
                ids[name] = seq
                if fmt == "tekken" and encode is not tt_encode:
                    other = tt_encode(text)
                    if other != seq:
                        first = next((i for i, (a, b) in enumerate(zip(seq, other)) if a != b), min(len(seq), len(other)))
                        die(f"{label} {name}: mistral_common and tiktoken construction differ at token {first}")
                if fmt == "spm" and cross(text) != seq:
                    die(f"{label} {name}: sentencepiece and mistral_common differ")
            if fmt == "spm":
                notes.append(f"{label}: sentencepiece == mistral_common on all {len(texts)} texts")
            if fmt == "tekken" and encode is not tt_encode:
                notes.append(f"{label}: mistral_common == tiktoken construction on all {len(texts)} texts")

            doc = {"tokenizer": label, "file": relpath, "file_sha256": digest, "reference": reference, "ids": ids}
            data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
            outputs[label.replace("/", "__") + ".json.gz"] = gzip.compress(data, compresslevel=9, mtime=0)
            total = sum(len(v) for v in ids.values())
            print(f"{label}: {len(ids)} texts, {total} tokens", file=sys.stderr)
        for label, relpath in TEST_MODELS.items():
            path = ROOT / relpath
            raw = path.read_bytes()
            encode = spm_encoder(path)
            ids = {name: list(encode(text)) for name, text in texts.items()}
            reference = (
                f"sentencepiece {versions.get('sentencepiece')}: sentencepiece.SentencePieceProcessor("
                f"model_file={relpath}).encode(text, out_type=int)"
            )
            doc = {"tokenizer": label, "file": relpath, "file_sha256": hashlib.sha256(raw).hexdigest(),
                   "reference": reference, "ids": ids}
            data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
            outputs[label.replace("/", "__") + ".json.gz"] = gzip.compress(data, compresslevel=9, mtime=0)
            print(f"{label}: {len(ids)} texts, {sum(len(v) for v in ids.values())} tokens", file=sys.stderr)
    return outputs, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    ap.add_argument("--allow-version-mismatch", action="store_true")
    args = ap.parse_args()

    versions = check_versions(args.allow_version_mismatch)
    texts = load_corpus()
    outputs, notes = generate(texts, versions)
    for n in notes:
        print(n, file=sys.stderr)

    if args.check:
        bad, meta = [], []
        for name, data in outputs.items():
            p = OUT / name
            if not p.exists():
                bad.append(f"{name} (missing)")
                continue
            old, new = json.loads(gzip.decompress(p.read_bytes())), json.loads(gzip.decompress(data))
            if old["ids"] != new["ids"]:
                diff = sorted(k for k in set(old["ids"]) | set(new["ids"]) if old["ids"].get(k) != new["ids"].get(k))
                bad.append(f"{name} ({len(diff)} texts differ: {', '.join(diff[:5])}{' ...' if len(diff) > 5 else ''})")
            elif old != new:
                meta.append(name)
        extra = sorted(p.name for p in OUT.glob("*.json.gz") if p.name not in outputs)
        if meta:
            print(f"note: ids equal but metadata (reference/version/file) differs: {meta}", file=sys.stderr)
        if bad or extra:
            die(f"expected ids differ: {bad} extra files: {extra}")
        if meta:
            die("metadata out of date (ids are equal)")
        print(f"ok: {len(outputs)} files match", file=sys.stderr)
        return

    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(outputs)} files to {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
