#!/usr/bin/env python
"""Copy generation speed: the same prompts, greedy, 64 new tokens each (no early stop),
for torch `generate` (with its KV cache), ONNX without a cache (the whole sequence every
step) and ONNX with past key values; then the wall time to write copy for 10k products
x 3 segments through serving's own path (generate, fill slots, review, score).

The model is a GPT-2 of the configured size with a byte-level BPE tokenizer trained on
the demo corpus; weights are untrained (speed does not depend on them, and no early stop
makes every row write the same number of tokens).

    .venv/bin/python bench/generation.py [--layers 4 --dim 256] [--products 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from common import write_result  # noqa: E402

from ecom_assets.ml.copy.copywriting import DEFAULT_TEMPLATES, build_corpus, write_copy  # noqa: E402
from ecom_assets.ml.copy.generator import OnnxDecoder, Sampling, export_decoder, train_tokenizer  # noqa: E402
from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop  # noqa: E402


def torch_tokens_per_second(model, prompts: list[list[int]], new: int, batch: int, pad: int) -> float:
    t0, total = time.perf_counter(), 0
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                 pad_token_id=pad)
        total += (out.shape[1] - width) * len(chunk)
    return total / (time.perf_counter() - t0)


def onnx_tokens_per_second(decoder: OnnxDecoder, prompts: list[list[int]], new: int, batch: int, use_cache: bool) -> float:
    t0, total = time.perf_counter(), 0
    for start in range(0, len(prompts), batch):
        out = decoder.generate_ids(prompts[start:start + batch], Sampling(max_new_tokens=new, stop_at_eos=False), use_cache)
        total += sum(len(o) for o in out)
    return total / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--products", type=int, default=10_000)
    p.add_argument("--segments", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    shop = SyntheticShop(ShopConfig(n_items=a.products, n_users=200, seed=3))
    products = shop.products().copy()
    products["effective_price"] = (products["price"] * (1 - products["discount_pct"].fillna(0) / 100)).round(2)
    segments = {s: ["Electronics", "Beauty"] for s in ["tech_enthusiast", "beauty_lover", "bargain_hunter"][:a.segments]}
    corpus = build_corpus(products.head(2000), segments)
    tokenizer = train_tokenizer((corpus["prompt"] + corpus["copy"]).tolist(), 2000)

    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=a.dim, n_layer=a.layers,
                                       n_head=a.heads, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                       eos_token_id=tokenizer.eos_token_id)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        decoder = OnnxDecoder.for_model(export_decoder(model, Path(tmp) / "decoder.onnx"), tokenizer, model.config)
        texts = corpus["prompt"].drop_duplicates().head(a.prompts).tolist()
        prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
        speed = {}
        for batch in (1, a.prompts):
            speed[f"batch_{batch}"] = {
                "torch_generate": round(torch_tokens_per_second(model, prompts, a.new_tokens, batch, tokenizer.pad_token_id), 1),
                "onnx_no_cache": round(onnx_tokens_per_second(decoder, prompts, a.new_tokens, batch, use_cache=False), 1),
                "onnx_kv_cache": round(onnx_tokens_per_second(decoder, prompts, a.new_tokens, batch, use_cache=True), 1),
            }
            s = speed[f"batch_{batch}"]
            s["kv_cache_vs_torch"] = round(s["onnx_kv_cache"] / s["torch_generate"], 2)
            s["kv_cache_vs_no_cache"] = round(s["onnx_kv_cache"] / s["onnx_no_cache"], 2)
            print(json.dumps({f"batch_{batch}": s}), flush=True)

        sampling = Sampling(max_new_tokens=40, greedy=False, temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.2)
        t0 = time.perf_counter()
        table = write_copy(products, segments, DEFAULT_TEMPLATES, ["en"], 1, decoder, sampling, 256, log=lambda _: None)
        catalogue_s = time.perf_counter() - t0
    out = {"benchmark": "generation", "model": {"layers": a.layers, "dim": a.dim, "heads": a.heads,
                                                "parameters": int(sum(p.numel() for p in model.parameters()))},
           "new_tokens": a.new_tokens, "prompts": len(prompts), "threads": torch.get_num_threads(),
           "tokens_per_second": speed,
           "catalogue": {"products": a.products, "segments": a.segments, "candidates": len(table),
                         "max_new_tokens": 40, "seconds": round(catalogue_s, 1),
                         "candidates_per_second": round(len(table) / catalogue_s, 1)},
           "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    print(json.dumps(out, indent=2))
    write_result(f"generation_{a.layers}x{a.dim}", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
