#!/usr/bin/env python3
"""The engines' own KV-cache event definitions against prefix-warden's codec (issue #22).

The msgspec structs are read from the official wheels (`vllm==VLLM`, `sglang==SGLANG`, fetched
with `pip download --no-deps` into WHEELS and loaded from the wheel's own file, with the
modules they import for other purposes stubbed): nothing of theirs is copied into this
repository, and no torch is needed.

    kv_events_wire.py encode DIR   # writes DIR/<case>.msgpack with the engines' encoders, and
                                   # DIR/<case>.json: what each batch holds, for the Rust side
    kv_events_wire.py decode DIR   # decodes DIR/rust-<case>.msgpack with the engines' decoders
                                   # and checks it against DIR/rust-<case>.json

Run by tests/it/kv_events.rs (which makes the venv: msgspec, and the two wheels).
"""
import json, sys, types, zipfile
from pathlib import Path

import msgspec

VLLM = "0.34.0"
SGLANG = "0.5.23"


def load(wheel, member, name, stubs):
    """Executes `member` of `wheel` as module `name`, with `stubs` in sys.modules."""
    for mod, attrs in stubs.items():
        m = types.ModuleType(mod)
        m.__dict__.update(attrs)
        sys.modules[mod] = m
    src = zipfile.ZipFile(wheel).read(member).decode()
    mod = types.ModuleType(name)
    mod.__file__ = f"{wheel}!{member}"
    sys.modules[name] = mod
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def engines(wheels):
    wheels = Path(wheels)
    vllm_whl = next(wheels.glob(f"vllm-{VLLM}-*.whl"))
    sglang_whl = next(wheels.glob(f"sglang-{SGLANG}-*.whl"))

    class _Log:
        def __getattr__(self, _):
            return lambda *a, **k: None

    stubs = {
        "zmq": {"__getattr__": lambda name: type(name, (), {})},
        "vllm": {},
        "vllm.config": {},
        "vllm.config.kv_events": {"KVEventsConfig": object},
        "vllm.logger": {"init_logger": lambda _: _Log()},
        "vllm.utils": {},
        "vllm.utils.network_utils": {n: None for n in ("get_ip", "get_tcp_uri", "is_valid_ipv6_address", "split_zmq_path")},
        "vllm.v1": {},
        "vllm.v1.core": {},
        "vllm.v1.core.kv_cache_utils": {"ExternalBlockHash": bytes | int},
    }
    vllm = load(vllm_whl, "vllm/distributed/kv_events.py", "vllm_kv_events", stubs)
    any_name = {"__getattr__": lambda name: type(name, (), {})}
    sg = load(sglang_whl, "sglang/srt/disaggregation/kv_events.py", "sglang_kv_events", {
        "pydantic": {"BaseModel": object},
        "sglang": {},
        "sglang.srt": {},
        "sglang.srt.runtime_context": any_name,
        "sglang.srt.utils": {},
        "sglang.srt.utils.network": any_name,
    })
    return vllm, sg


def cases(vllm, sg):
    """(name, batch object, its JSON view)."""
    h32 = lambda i: bytes(range(i, i + 24)) + (1000 + i).to_bytes(8, "big")
    out = []
    v = vllm
    batch = v.KVEventBatch(ts=1796000000.5, events=[
        v.BlockStored(block_hashes=[11, 2**64 - 5], parent_block_hash=None, token_ids=list(range(32)),
                      block_size=16, lora_id=None, medium="GPU", lora_name=None),
        v.BlockStored(block_hashes=[13], parent_block_hash=2**64 - 5, token_ids=list(range(900, 916)),
                      block_size=16, lora_id=None, medium="CPU", lora_name=None, group_idx=1,
                      extra_keys=[("salt",)]),
        v.BlockRemoved(block_hashes=[13], medium="CPU", group_idx=1),
        v.AllBlocksCleared(),
    ], data_parallel_rank=2)
    out.append(("vllm-int", batch))
    batch = v.KVEventBatch(ts=1796000001.0, events=[
        v.BlockStored(block_hashes=[h32(1), h32(2)], parent_block_hash=None, token_ids=list(range(64)),
                      block_size=32, lora_id=None, medium=None, lora_name=None),
        v.BlockRemoved(block_hashes=[h32(2)], medium=None),
    ], data_parallel_rank=None)
    out.append(("vllm-bytes", batch))
    s = sg
    batch = s.KVEventBatch(ts=1796000002.25, events=[
        s.BlockStored(block_hashes=[-7, 2**63 - 1], parent_block_hash=None, token_ids=list(range(2)),
                      block_size=1, lora_id=None, medium="GPU"),
        s.BlockStored(block_hashes=[-9], parent_block_hash=-7, token_ids=[5], block_size=1,
                      lora_id=None, medium="CPU_PINNED"),
        s.BlockRemoved(block_hashes=[-9], medium="CPU_PINNED"),
        s.AllBlocksCleared(),
    ], attn_dp_rank=0)
    out.append(("sglang", batch))
    return out


def hash_key(h):
    """The 64-bit key prefix-warden keeps: an int's two's-complement bits, bytes' last 8."""
    if isinstance(h, bytes):
        return int.from_bytes(h[-8:], "big")
    return h & (2**64 - 1)


def view(batch):
    """What a batch holds, as the Rust side reads it (tests/it/kv_events.rs)."""
    evs = []
    for e in batch.events:
        t = type(e).__name__
        d = {"type": t}
        if t in ("BlockStored", "BlockRemoved"):
            d["hashes"] = [hash_key(h) for h in e.block_hashes]
            d["medium"] = "gpu" if e.medium in (None, "GPU") else "other"
            d["group"] = getattr(e, "group_idx", None) or 0
        if t == "BlockStored":
            d["parent"] = None if e.parent_block_hash is None else hash_key(e.parent_block_hash)
            d["token_ids"] = list(e.token_ids)
            d["block_size"] = e.block_size
        evs.append(d)
    rank = getattr(batch, "data_parallel_rank", getattr(batch, "attn_dp_rank", None))
    return {"ts": batch.ts, "events": evs, "rank": rank}


def main():
    cmd, wheels, d = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    vllm, sg = engines(wheels)
    if cmd == "encode":
        for name, batch in cases(vllm, sg):
            (d / f"{name}.msgpack").write_bytes(msgspec.msgpack.encode(batch))
            (d / f"{name}.json").write_text(json.dumps(view(batch)))
        print("encoded", len(cases(vllm, sg)))
    elif cmd == "decode":
        n = 0
        for f in sorted(d.glob("rust-*.msgpack")):
            mod = sg if "sglang" in f.name else vllm
            batch = msgspec.msgpack.Decoder(mod.KVEventBatch).decode(f.read_bytes())
            want = json.loads(f.with_suffix(".json").read_text())
            got = view(batch)
            if got != want:
                sys.exit(f"{f.name}: the engine decodes {got}, prefix-warden meant {want}")
            n += 1
        if n == 0:
            sys.exit(f"no rust-*.msgpack in {d}")
        print("decoded", n)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
