#!/usr/bin/env python3
"""Writes the traffic benchmark's log: N requests (default 1,000,000, about 1 GB of JSON lines)
over 24 hours, in time order, built from the shipped corpus prompts. Standard library only;
deterministic (fixed seed). `scripts/bench-traffic.sh` runs `prefix discover` and
`prefix simulate` on it and reports time and peak memory.

    python3 scripts/bench/gen_traffic.py OUT.jsonl [--requests N]

The shape, chosen to look like a mixed fleet of agents and chat apps:
  * 6% of requests come from 4 "agent" apps whose system prompt is a 2-8 KB slice of a corpus
    prompt (cacheable: over 1024 tokens), with 2 tools; of their requests, every third is a
    follow-up turn carrying the previous question and answer.
  * 94% come from 40 "chat" apps with a 200-600 byte system prompt (not cacheable on hosted
    APIs: under their minimum) and a one- to three-turn conversation.
  * Models: agents on gpt-5.5 (Chat Completions, with `usage`) and claude-sonnet-4-6 (Anthropic
    Messages); chat apps on gpt-5.5, gpt-5.4 (Responses) and gpt-5.4-mini.
"""
import argparse, datetime as dt, json, random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ROOT / "prompts" / "texts"
T0 = dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.timezone.utc)
WORDS = ("the a to of and in file test build error fix add remove update check why how what "
         "when server client request response cache token prompt model user page list table "
         "query index run deploy log metric alert value config option path line function class "
         "method return type string number list map set queue thread lock retry timeout").split()
TOOLS = [
    {"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "run_command", "description": "Run a shell command.",
                                      "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
]


def slice_at_line(text, size):
    cut = text[:size]
    nl = cut.rfind("\n")
    return cut[: nl + 1] if nl > size // 2 else cut


def sentence(rnd, lo, hi):
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(lo, hi))).capitalize() + "."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=1_000_000)
    args = ap.parse_args()
    rnd = random.Random(20261201)
    corpus = [p.read_text() for p in sorted(TEXTS.glob("*.txt"))]
    agents = [slice_at_line(corpus[i % len(corpus)], size)
              for i, size in enumerate((2048, 4096, 6144, 8192))]
    chats = [" ".join(sentence(rnd, 8, 20) for _ in range(rnd.randint(2, 5))) for _ in range(40)]
    n = args.requests
    span = 24 * 3600.0
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(n):
            t = T0 + dt.timedelta(seconds=span * i / n + rnd.random() * span / n)
            stamp = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            question = sentence(rnd, 8, 36)
            if rnd.random() < 0.06:
                a = rnd.randrange(len(agents))
                turns = [{"role": "user", "content": question}]
                if i % 3 == 0:
                    turns = [{"role": "user", "content": sentence(rnd, 10, 40)},
                             {"role": "assistant", "content": sentence(rnd, 20, 80)}] + turns
                if a % 2 == 0:
                    body = {"timestamp": stamp, "model": "gpt-5.5", "tools": TOOLS,
                            "messages": [{"role": "system", "content": agents[a]}] + turns,
                            "usage": {"prompt_tokens": 1500 + a * 1000,
                                      "prompt_tokens_details": {"cached_tokens": 1024 + a * 1024}}}
                else:
                    body = {"timestamp": stamp, "model": "claude-sonnet-4-6", "max_tokens": 1024,
                            "system": [{"type": "text", "text": agents[a],
                                        "cache_control": {"type": "ephemeral"}}],
                            "messages": turns}
            else:
                c = rnd.randrange(len(chats))
                kind = c % 3
                history = []
                for _ in range(rnd.randrange(3)):
                    history += [{"role": "user", "content": sentence(rnd, 4, 12)},
                                {"role": "assistant", "content": sentence(rnd, 8, 24)}]
                if kind == 0:
                    body = {"timestamp": stamp, "model": "gpt-5.5", "messages":
                            [{"role": "system", "content": chats[c]}] + history
                            + [{"role": "user", "content": question}]}
                elif kind == 1:
                    body = {"timestamp": stamp, "model": "gpt-5.4", "instructions": chats[c],
                            "input": history + [{"role": "user", "content": question}]}
                else:
                    body = {"timestamp": stamp, "model": "gpt-5.4-mini", "messages":
                            [{"role": "developer", "content": chats[c]}] + history
                            + [{"role": "user", "content": question}]}
            out.write(json.dumps(body, ensure_ascii=False))
            out.write("\n")


if __name__ == "__main__":
    main()
