#!/usr/bin/env python3
"""Writes examples/logs/agents.jsonl.gz: six hours of requests built from the shipped prompts,
in every log format `prefix discover` reads, with the variability real traffic has.

Standard library only; deterministic (fixed seed, gzip mtime 0). Usage:
    python3 scripts/gen_example_logs.py            # (re)write the file
    python3 scripts/gen_example_logs.py --check    # compare with the committed file

What is in it (README "prefix discover" shows the report):
  * 24 OpenAI Chat Completions bodies (gpt-5.5): the browser-use system prompt, then a different
    user question each time. Until 03:00 the prompt is the registered text verbatim (a
    registered prefix); from 03:00 a second version with one sentence edited in its middle (a
    deploy nobody registered: a prefix that diverges from the registered one).
  * 18 OpenAI Responses bodies (gpt-5.4): the deer-flow planner prompt as `instructions` with
    "Current time: ..." appended: a timestamp after the registered text, so requests share
    everything up to it and no more.
  * 16 OpenAI Batch input lines (gpt-5.4-mini): the Hermes system prompt behind two tools whose order
    flips every other request: two prefixes where one was meant.
  * 12 Anthropic Message Batches lines (claude-sonnet-4-6), in pairs a few minutes apart, the
    system prompt marked with cache_control: no registered tokenizer serves Claude (its
    tokenizer is private), so discover counts them as unserved; the fidelity test maps one.
  * 2 bad lines: a truncated body and an embeddings batch line.
"""
import argparse, datetime as dt, gzip, json, random, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "prompts" / "texts"
OUT = ROOT / "examples" / "logs" / "agents.jsonl.gz"
T0 = dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.timezone.utc)
TOOLS = [
    {"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "run_command", "description": "Run a shell command.",
                                      "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
]


def ts(minutes):
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def build():
    rnd = random.Random(20261130)
    browser = (TEXTS / "browser-use__browser-use__system_prompt.txt").read_text()
    planner = (TEXTS / "bytedance__deer-flow__planner_zh_CN.txt").read_text()
    hermes = (TEXTS / "cline__cline__system_hermes_4.txt").read_text()
    sonnet = (TEXTS / "cline__cline__system_claude_sonnet_4.txt").read_text()
    # The second version: one sentence in the middle of the prompt says something else.
    middle = browser.index("\n", len(browser) // 2) + 1
    browser_v2 = browser[:middle] + "Prefer the page's own search box over site: queries.\n" + browser[middle:]
    lines = []
    for i in range(24):
        m = rnd.randrange(360)
        lines.append((m, {"timestamp": ts(m), "model": "gpt-5.5", "messages": [
            {"role": "system", "content": browser if m < 180 else browser_v2},
            {"role": "user", "content": f"Open page {i} and summarize it."}],
            "usage": {"prompt_tokens": 5000, "prompt_tokens_details": {"cached_tokens": 4864}}}))
    for i in range(18):
        m = rnd.randrange(360)
        lines.append((m, {"timestamp": ts(m), "model": "gpt-5.4",
                          "instructions": planner + f"\n\nCurrent time: {ts(m)}",
                          "input": f"Plan task {i}."}))
    for i in range(16):
        m = rnd.randrange(360)
        tools = TOOLS if i % 2 == 0 else TOOLS[::-1]
        lines.append((m, {"custom_id": f"hermes-{i}", "method": "POST", "url": "/v1/chat/completions", "timestamp": ts(m),
                          "body": {"model": "gpt-5.4-mini", "tools": tools, "messages": [
                              {"role": "system", "content": hermes}, {"role": "user", "content": f"Fix bug {i}."}]}}))
    for i in range(12):
        m = rnd.randrange(360) if i % 2 == 0 else m + rnd.randint(1, 4)
        lines.append((m, {"custom_id": f"sonnet-{i}", "timestamp": ts(m), "params": {
            "model": "claude-sonnet-4-6", "max_tokens": 1024,
            "system": [{"type": "text", "text": sonnet, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": f"Task {i}."}]}}))
    lines.sort(key=lambda x: (x[0], json.dumps(x[1], sort_keys=True)))
    out = [json.dumps(v, ensure_ascii=False) for _, v in lines]
    out.insert(10, out[3][: len(out[3]) // 2])  # a truncated line
    out.insert(30, json.dumps({"custom_id": "emb", "method": "POST", "url": "/v1/embeddings", "body": {"model": "text-embedding-3-small", "input": "x"}}))
    return ("\n".join(out) + "\n").encode("utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    data = build()
    if args.check:
        if gzip.decompress(OUT.read_bytes()) != data:
            sys.exit(f"{OUT} differs from what this script makes")
        print("ok")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
