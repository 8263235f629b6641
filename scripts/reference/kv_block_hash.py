#!/usr/bin/env python3
"""vLLM's own sha256_cbor block-hash chain, for prefix-warden's (issue #22).

`vllm/v1/core/kv_cache_utils.py` and `vllm/utils/hashing.py` are executed from the official
wheel (`vllm==VLLM`, fetched with `pip download --no-deps` into WHEELS; the modules they import
for other purposes stubbed, no torch): `init_none_hash(sha256_cbor)` under each PYTHONHASHSEED
(or none), then `get_request_block_hasher(block_size, sha256_cbor)` over a plain text request
(no LoRA, multimodal input, cache salt or prompt embeddings: `extra_keys` is None) and
`maybe_convert_block_hash` for the int form the events carry. Nothing of vLLM's is copied here.

    kv_block_hash.py WHEELS OUT.json [N] [SEED]

writes N generated cases (default 400, generator seeded with SEED, default 22) to OUT.json:
[{"seed": null | "PYTHONHASHSEED", "block_size": B, "ids": [...], "none_hash": hex,
  "hashes": [hex, ...], "ints": [u64, ...]}, ...]. The generator aims at CBOR's edges: token
ids at every head-size boundary (23/24, 255/256, 65535/65536, 2^32-1), blocks of 1 to 300
tokens (array heads of each size), seeds of every accepted form.

Run by tests/it/kv_events.rs (which makes the venv: msgspec, cbor2, and the wheel).
"""
import json, os, random, sys, types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kv_events_wire import VLLM, load  # noqa: E402


def vllm_hashing(wheels):
    whl = next(Path(wheels).glob(f"vllm-{VLLM}-*.whl"))
    any_name = {"__getattr__": lambda name: type(name, (), {})}

    class _Log:
        def __getattr__(self, _):
            return lambda *a, **k: None

    hashing = load(whl, "vllm/utils/hashing.py", "vllm.utils.hashing", {
        "vllm": {}, "vllm.utils": {},
    })
    envs = types.SimpleNamespace(VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=True)
    utils = load(whl, "vllm/v1/core/kv_cache_utils.py", "vllm_kv_cache_utils", {
        "vllm": {"envs": envs},
        "vllm.config": any_name,
        "vllm.logger": {"init_logger": lambda _: _Log()},
        "vllm.multimodal": {},
        "vllm.multimodal.utils": any_name,
        "vllm.utils.math_utils": any_name,
        "vllm.v1": {},
        "vllm.v1.kv_cache_interface": any_name,
        "vllm.v1.kv_cache_spec_registry": any_name,
        "vllm.v1.request": any_name,
        # The list branch of vLLM's token_slice (its TokenBuffer branch needs numpy and
        # yields the same ints).
        "vllm.v1.token_buffer": {"token_slice": lambda t, a, b: t[a:b]},
        "vllm.v1.utils": any_name,
    })
    return hashing, utils


class TextRequest:
    """The attributes `request_block_hasher` reads of a plain text request."""

    def __init__(self, ids):
        self._all_token_ids = list(ids)
        self.all_token_ids = self._all_token_ids
        self.num_tokens = len(ids)
        self.block_hashes = []
        self.mm_features = []
        self.lora_request = None
        self.cache_salt = None
        self.prompt_embeds = None


EDGES = [0, 1, 23, 24, 25, 255, 256, 257, 65535, 65536, 65537, 2**32 - 1]


def gen_ids(rng, n):
    mode = rng.randrange(4)
    if mode == 0:
        return [rng.choice(EDGES) for _ in range(n)]
    if mode == 1:
        return [rng.randrange(200_000) for _ in range(n)]
    if mode == 2:
        return [rng.randrange(2**32) for _ in range(n)]
    return [rng.randrange(30) for _ in range(n)]


def gen_seed(rng):
    return rng.choice([None, None, "0", "42", "4294967295", "007", "random",
                       str(rng.randrange(2**32)), "0" * 30 + "1"])


def cases(hashing, utils, n, gen):
    rng = random.Random(gen)
    out = []
    for i in range(n):
        bs = rng.choice([1, 2, 16, 16, 16, 23, 24, 32, 64, 255, 256, 300])
        length = rng.randrange(0, bs * rng.randint(1, 6) + bs)
        ids = gen_ids(rng, length)
        seed = gen_seed(rng)
        if seed is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = seed
        utils.init_none_hash(hashing.sha256_cbor)
        hasher = utils.get_request_block_hasher(bs, hashing.sha256_cbor)
        hashes = hasher(TextRequest(ids))
        out.append({
            "seed": seed,
            "block_size": bs,
            "ids": ids,
            "none_hash": bytes(utils.NONE_HASH).hex(),
            "hashes": [bytes(h).hex() for h in hashes],
            "ints": [utils.maybe_convert_block_hash(h) for h in hashes],
        })
    os.environ.pop("PYTHONHASHSEED", None)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    wheels, out = sys.argv[1], Path(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    gen = int(sys.argv[4]) if len(sys.argv) > 4 else 22
    hashing, utils = vllm_hashing(wheels)
    cs = cases(hashing, utils, n, gen)
    out.write_text(json.dumps(cs))
    print("hashed", len(cs), "cases,", sum(len(c["hashes"]) for c in cs), "blocks")


if __name__ == "__main__":
    main()
