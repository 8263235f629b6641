#!/usr/bin/env python3
"""Reference renderings and rendered-prefix ids for every shipped chat template.

For each template under templates/ (see templates/SOURCES.tsv), each corpus text and each of
"no tools" / "tools" (tests/data/templates/tools.json), the request

    messages = [{"role": "system", "content": TEXT}, {"role": "user", "content": U}]

is rendered with Hugging Face transformers' `apply_chat_template(..., tokenize=False,
add_generation_prompt=False, tools=...)` for the two probe user messages U of
crates/core/src/template/mod.rs (PROBE_USERS), with the clock fixed at DATE (templates that
call strftime_now). Recorded per case: the sha256 of both renderings, or the error the
template raised.

For templates paired with a shipped tokenizer (PAIRS), the ids of both renderings are
computed by the reference for that tokenizer, and their common prefix (the prefix every such
request shares: what an engine's prefix cache reuses) is recorded as its token count,
fingerprint (sha256 of the ids as little-endian u32, docs/fingerprint.md) and the token
position where the system text ends:
  * tokenizer.json: transformers `apply_chat_template(..., tokenize=True)` on a
    PreTrainedTokenizerFast built from the file (added tokens matched, no special tokens added);
  * tiktoken rank files: tiktoken.Encoding(pattern, ranks, special_tokens).encode(text,
    allowed_special="all");
  * tekken: the same tiktoken construction as gen_expected_ids.py, with mistral_common's
    special tokens (Tekkenizer.DEPRECATED_SPECIAL_TOKENS when the file lists none).

Harmony (gpt-oss): the same cases rendered by OpenAI's openai-harmony (its Python binding,
which wraps the openai-harmony Rust crate): system message SystemContent.new() with the
conversation start date DATE, developer message with the text as instructions and the tools
as function tools, then the user message; `render_conversation` ids, common prefix as above.

Output: tests/data/templates/expected.json.gz (gzip, mtime 0, compact JSON, sorted keys).

Usage:
    pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gen_template_ids.py            # (re)write the file
    python3 scripts/reference/gen_template_ids.py --check    # compare with the committed file
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import json
import struct
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TOKENIZERS = ROOT / "tokenizers"
CORPUS = ROOT / "tests" / "data" / "corpus"
TOOLS = ROOT / "tests" / "data" / "templates" / "tools.json"
OUT = ROOT / "tests" / "data" / "templates" / "expected.json.gz"

PROBE_USERS = ["Hello.", "Goodbye."]
DATE = dt.datetime(2026, 11, 30, 12, 0, 0)

DS_BOS, DS_EOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>"
# template (relative to templates/) -> (tokenizer label or None, bos_token, eos_token).
# The tokens are what the model's tokenizer_config.json passes to its template.
TEMPLATE_TOKENS: dict[str, tuple[str | None, str | None, str | None]] = {
    "qwen/Qwen2.5-7B-Instruct.jinja": ("qwen/qwen3", None, "<|im_end|>"),
    "qwen/QwQ-32B.jinja": ("qwen/qwen3", None, "<|im_end|>"),
    "qwen/Qwen3-0.6B.jinja": ("qwen/qwen3", None, "<|im_end|>"),
    "qwen/Qwen3-Coder_rev1.jinja": ("qwen/qwen3", None, "<|im_end|>"),
    "qwen/Qwen3-Coder_rev2.jinja": ("qwen/qwen3", None, "<|im_end|>"),
    "qwen/Qwen3.5-4B.jinja": ("qwen/qwen3.5-qwen3.6", None, "<|im_end|>"),
    "deepseek/V3.1.jinja": ("deepseek/v3", DS_BOS, DS_EOS),
    "deepseek/V3.2_llamacpp.jinja": ("deepseek/v3", DS_BOS, DS_EOS),
    "deepseek/R1-Distill-Llama-8B_rev1.jinja": (None, DS_BOS, DS_EOS),
    "deepseek/R1-Distill-Llama-8B_rev2.jinja": (None, DS_BOS, DS_EOS),
    "mistral/Mistral-Nemo-Instruct-2407.jinja": ("mistral/tekken-240718", "<s>", "</s>"),
    "mistral/Mistral-Small-3.1-24B-Instruct-2503.jinja": ("mistral/tekken-240911", "<s>", "</s>"),
    "mistral/Mistral-Small-3.2-24B-Instruct-2506.jinja": ("mistral/tekken-240911", "<s>", "</s>"),
    "mistral/Ministral-3-14B-Reasoning-2512.jinja": (None, "<s>", "</s>"),
    "gpt-oss/gpt-oss-120b.jinja": ("openai/o200k_harmony", "<|startoftext|>", "<|return|>"),
    "llama/Llama-3.1-8B-Instruct.jinja": (None, "<|begin_of_text|>", "<|eot_id|>"),
    "llama/Llama-3.2-3B-Instruct.jinja": (None, "<|begin_of_text|>", "<|eot_id|>"),
    "llama/Llama-3.3-70B-Instruct.jinja": (None, "<|begin_of_text|>", "<|eot_id|>"),
    "gemma/gemma-2-2b-it.jinja": (None, "<bos>", "<eos>"),
    "gemma/gemma-4-31B-it_rev1.jinja": (None, "<bos>", "<eos>"),
    "gemma/gemma-4-31B-it_rev2.jinja": (None, "<bos>", "<eos>"),
    "gemma/gemma-4-31B-it-interleaved_llamacpp.jinja": (None, "<bos>", "<eos>"),
    "glm/GLM-4.6.jinja": (None, None, "<|endoftext|>"),
    "glm/GLM-4.7-Flash.jinja": (None, None, "<|endoftext|>"),
    "kimi/Kimi-K2-Instruct_rev1.jinja": (None, None, "[EOS]"),
    "kimi/Kimi-K2-Instruct-0905_llamacpp.jinja": (None, None, "[EOS]"),
    "kimi/Kimi-K2-Thinking.jinja": (None, None, "[EOS]"),
}

TOKENIZER_FILES = {
    "qwen/qwen3": ("hf", "qwen/qwen3.tokenizer.json.gz", None),
    "qwen/qwen3.5-qwen3.6": ("tiktoken", "qwen/qwen3.5-qwen3.6.tiktoken.gz", "qwen/qwen3.5-qwen3.6.spec.json"),
    "deepseek/v3": ("hf", "deepseek/deepseek-v3.tokenizer.json.gz", None),
    "mistral/tekken-240718": ("tekken", "mistral/tekken_240718.json.gz", None),
    "mistral/tekken-240911": ("tekken", "mistral/tekken_240911.json.gz", None),
    "openai/o200k_harmony": ("tiktoken", "openai/o200k_base.tiktoken.gz", "openai/o200k_harmony.spec.json"),
}


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def fingerprint(ids: list[int]) -> str:
    return "sha256:" + hashlib.sha256(b"".join(struct.pack("<I", i) for i in ids)).hexdigest()


def read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def freeze_clock() -> None:
    """transformers' strftime_now reads datetime.now() from its chat_template_utils module."""
    import transformers.utils.chat_template_utils as ctu

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: D401
            return DATE

    ctu.datetime = Frozen


def renderer(tmpdir: Path):
    """A transformers tokenizer used only to render (its own special-tokens map is empty)."""
    from transformers import PreTrainedTokenizerFast

    p = tmpdir / "render-tokenizer.json"
    p.write_bytes(read(TOKENIZERS / "qwen/qwen3.tokenizer.json.gz"))
    return PreTrainedTokenizerFast(tokenizer_file=str(p))


def tiktoken_with_specials(raw: bytes, pattern: str, specials: dict[str, int], offset: int = 0):
    import tiktoken

    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line.strip():
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding("ref", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    return enc


def tekken_encoding(raw: bytes):
    import tiktoken
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    d = json.loads(raw)
    cfg = d["config"]
    n = int(cfg["default_num_special_tokens"])
    inner = int(cfg["default_vocab_size"]) - n
    ranks = {base64.b64decode(e["token_bytes"]): i for i, e in enumerate(d["vocab"][:inner])}
    specials_list = d.get("special_tokens") or [
        {"rank": s["rank"], "token_str": str(getattr(s["token_str"], "value", s["token_str"]))}
        for s in Tekkenizer.DEPRECATED_SPECIAL_TOKENS
    ]
    # Ordinary ids are rank + n; specials keep their rank. tiktoken needs one id space.
    shifted = {b: r + n for b, r in ranks.items()}
    specials = {s["token_str"]: int(s["rank"]) for s in specials_list}
    return tiktoken.Encoding("tekken-ref", pat_str=cfg["pattern"], mergeable_ranks=shifted, special_tokens=specials)


class Ids:
    """ids(rendered text) -> (ids, token end offsets in UTF-8 bytes) for one tokenizer label."""

    def __init__(self, label: str, tmpdir: Path):
        fmt, file, spec = TOKENIZER_FILES[label]
        self.label = label
        raw = read(TOKENIZERS / file)
        self.fmt = fmt
        if fmt == "hf":
            from transformers import PreTrainedTokenizerFast

            p = tmpdir / (label.replace("/", "__") + ".json")
            p.write_bytes(raw)
            self.hf = PreTrainedTokenizerFast(tokenizer_file=str(p))
        elif fmt == "tiktoken":
            s = json.loads((TOKENIZERS / spec).read_text())
            assert int(s["id_offset"]) == 0
            self.enc = tiktoken_with_specials(raw, s["pattern"], s["special_tokens"])
        else:
            self.enc = tekken_encoding(raw)

    def via_template(self, tmpl: str, msgs, tools, bos, eos) -> list[int]:
        """transformers' own tokenize=True path (tokenizer.json only)."""
        kw = {}
        if bos is not None:
            kw["bos_token"] = bos
        if eos is not None:
            kw["eos_token"] = eos
        r = self.hf.apply_chat_template(
            msgs, tools=tools, chat_template=tmpl, tokenize=True, add_generation_prompt=False, **kw
        )
        return list(r["input_ids"] if not isinstance(r, list) else r)

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        if self.fmt == "hf":
            enc = self.hf._tokenizer.encode(text, add_special_tokens=False)
            ends = [len(text[:e].encode("utf-8")) for (_, e) in enc.offsets]
            return list(enc.ids), ends
        ids = self.enc.encode(text, allowed_special="all")
        ends, pos = [], 0
        for i in ids:
            pos += len(self.enc.decode_single_token_bytes(i))
            ends.append(pos)
        return ids, ends


def render(rt, tmpl: str, system: str, user: str, tools, bos, eos) -> str:
    kw = {}
    if bos is not None:
        kw["bos_token"] = bos
    if eos is not None:
        kw["eos_token"] = eos
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return rt.apply_chat_template(msgs, tools=tools, chat_template=tmpl, tokenize=False, add_generation_prompt=False, **kw)


def system_end_byte(rendered: str, system: str) -> int | None:
    for s in (system, system.strip()):
        i = rendered.find(s)
        if s and i >= 0:
            return len(rendered[: i + len(s)].encode("utf-8"))
    return None


def build() -> dict:
    import transformers

    freeze_clock()
    corpus = {p.name: p.read_bytes().decode("utf-8") for p in sorted(CORPUS.glob("*.txt"))}
    tools = json.loads(TOOLS.read_text())
    out: dict = {
        "reference": f"transformers {transformers.__version__} apply_chat_template; tiktoken {metadata.version('tiktoken')}; mistral_common {metadata.version('mistral-common')}",
        "date": DATE.isoformat(),
        "probe_users": PROBE_USERS,
        "templates": {},
    }
    with tempfile.TemporaryDirectory() as td:
        tmpdir = Path(td)
        rt = renderer(tmpdir)
        encoders: dict[str, Ids] = {}
        for name, (label, bos, eos) in sorted(TEMPLATE_TOKENS.items()):
            src = (TEMPLATES / name).read_text(encoding="utf-8")
            enc = None
            if label is not None:
                if label not in encoders:
                    encoders[label] = Ids(label, tmpdir)
                enc = encoders[label]
            cases = {}
            for cname, text in corpus.items():
                for with_tools in (False, True):
                    key = cname + ("+tools" if with_tools else "")
                    t = tools if with_tools else None
                    try:
                        texts = [render(rt, src, text, u, t, bos, eos) for u in PROBE_USERS]
                    except Exception as e:  # the template raised
                        cases[key] = {"error": type(e).__name__ + ": " + str(e)[:200]}
                        continue
                    case = {"sha256": [hashlib.sha256(x.encode("utf-8")).hexdigest() for x in texts]}
                    if enc is not None:
                        (a, ends), (b, _) = enc.encode(texts[0]), enc.encode(texts[1])
                        if enc.fmt == "hf":
                            msgs = lambda u: [{"role": "system", "content": text}, {"role": "user", "content": u}]
                            ta = enc.via_template(src, msgs(PROBE_USERS[0]), t, bos, eos)
                            tb = enc.via_template(src, msgs(PROBE_USERS[1]), t, bos, eos)
                            if (ta, tb) != (a, b):
                                die(f"{name} {key}: tokenize=True differs from encoding the rendered text")
                        n = 0
                        while n < min(len(a), len(b)) and a[n] == b[n]:
                            n += 1
                        end = system_end_byte(texts[0], text)
                        case["tokens"] = n
                        case["fingerprint"] = fingerprint(a[:n])
                        if end is not None:
                            case["system_end_token"] = sum(1 for e in ends[:n] if e <= end)
                    cases[key] = case
            out["templates"][name] = {
                "tokenizer": label,
                "bos_token": bos,
                "eos_token": eos,
                "template_sha256": hashlib.sha256((TEMPLATES / name).read_bytes()).hexdigest(),
                "cases": cases,
            }
            print(f"{name}: {sum('error' in c for c in cases.values())} errors of {len(cases)}", file=sys.stderr)
        out["harmony"] = harmony_cases(corpus, tools, Ids("openai/o200k_harmony", tmpdir), tmpdir)
    return out


def harmony_cases(corpus: dict, tools: list, ids: "Ids", tmpdir: Path) -> dict:
    import os

    # The binding loads o200k_base from TIKTOKEN_ENCODINGS_BASE (no download): the shipped file.
    base = tmpdir / "tiktoken-base"
    base.mkdir()
    (base / "o200k_base.tiktoken").write_bytes(read(TOKENIZERS / "openai/o200k_base.tiktoken.gz"))
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(base)
    from openai_harmony import (Conversation, DeveloperContent, HarmonyEncodingName, Message, Role,
                                SystemContent, ToolDescription, load_harmony_encoding)

    enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    fns = [ToolDescription.new(t["function"]["name"], t["function"].get("description", ""),
                               parameters=t["function"].get("parameters")) for t in tools]
    cases = {}
    for cname, text in corpus.items():
        for with_tools in (False, True):
            key = cname + ("+tools" if with_tools else "")
            renders = []
            for u in PROBE_USERS:
                dev = DeveloperContent.new().with_instructions(text)
                if with_tools:
                    dev = dev.with_function_tools(fns)
                conv = Conversation.from_messages([
                    Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_conversation_start_date(DATE.strftime("%Y-%m-%d"))),
                    Message.from_role_and_content(Role.DEVELOPER, dev),
                    Message.from_role_and_content(Role.USER, u),
                ])
                renders.append(list(enc.render_conversation(conv)))
            a, b = renders
            n = 0
            while n < min(len(a), len(b)) and a[n] == b[n]:
                n += 1
            # Where the instructions end, in bytes of the decoded rendering.
            pieces = [ids.enc.decode_single_token_bytes(i) for i in a]
            full = b"".join(pieces).decode("utf-8")
            end = system_end_byte(full, text)
            ends, pos = [], 0
            for p in pieces:
                pos += len(p)
                ends.append(pos)
            case = {"tokens": n, "fingerprint": fingerprint(a[:n]),
                    "sha256": [hashlib.sha256(b"".join(ids.enc.decode_single_token_bytes(i) for i in r)).hexdigest() for r in renders]}
            if end is not None:
                case["system_end_token"] = sum(1 for e in ends[:n] if e <= end)
            cases[key] = case
    print(f"harmony: {len(cases)} cases", file=sys.stderr)
    return {"tokenizer": "openai/o200k_harmony", "reference": f"openai-harmony {metadata.version('openai-harmony')} render_conversation", "cases": cases}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    data = json.dumps(build(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    blob = gzip.compress(data, mtime=0)
    if args.check:
        have = gzip.decompress(OUT.read_bytes())
        if have != data:
            die(f"{OUT} differs from what the reference produces now")
        print("ok: matches the reference", file=sys.stderr)
        return
    OUT.write_bytes(blob)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(blob)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
