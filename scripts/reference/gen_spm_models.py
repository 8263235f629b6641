#!/usr/bin/env python3
"""Train the two small SentencePiece models the tests use for what no shipped model covers.

The shipped Mistral models are all BPE with byte fallback and an identity normalizer. These two,
trained on the corpus by the reference implementation itself, cover the rest of the engine:

  tests/data/spm/unigram-nfkc.model  unigram model, nmt_nfkc normalizer (a precompiled charsmap),
                                     extra whitespace removed, a user-defined symbol (<think>),
                                     no byte fallback (unknown characters become <unk>, merged)
  tests/data/spm/bpe-nfkc.model      BPE model, nmt_nfkc normalizer, no byte fallback

Their reference ids are made by gen_expected_ids.py like every other tokenizer's. Training is
single-threaded with a fixed seed; the committed files are what the tests use (a retrain only
needs a regeneration of the expected ids).

Usage:
    pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gen_spm_models.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
OUT = ROOT / "tests" / "data" / "spm"


def main() -> None:
    import sentencepiece as spm

    spm.set_random_generator_seed(1)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        text = Path(td) / "corpus.txt"
        with text.open("w", encoding="utf-8") as f:
            for p in sorted(CORPUS.glob("*.txt")):
                f.write(p.read_text(encoding="utf-8"))
                f.write("\n")
        common = dict(
            input=str(text),
            normalization_rule_name="nmt_nfkc",
            num_threads=1,
            max_sentence_length=1 << 16,
            character_coverage=0.9995,
            minloglevel=2,
        )
        spm.SentencePieceTrainer.train(
            model_prefix=str(OUT / "unigram-nfkc"), model_type="unigram", vocab_size=6000,
            user_defined_symbols=["<think>"], **common,
        )
        spm.SentencePieceTrainer.train(
            model_prefix=str(OUT / "bpe-nfkc"), model_type="bpe", vocab_size=4000, **common,
        )
    for p in OUT.glob("*.vocab"):
        p.unlink()
    print(f"wrote {sorted(p.name for p in OUT.glob('*.model'))}", file=sys.stderr)


if __name__ == "__main__":
    main()
