#!/usr/bin/env python
"""Text encoder speed: the same product texts, the same batch size, through torch fp32,
torch with bfloat16 autocast, ONNX fp32 and ONNX int8 (per-channel dynamic quantisation) on CPU; each backend in a fresh
process so its peak memory is its own. Also the parity of the exported models on the
whole text set. Prints and writes bench/results/encoder_speed.json.

    .venv/bin/python bench/encoder_speed.py [--texts 10000 --batch 64 --base PATH_OR_ID]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from common import TreePeakRSS, write_result  # noqa: E402

BACKENDS = ("torch", "torch_bf16", "onnx_fp32", "onnx_int8")


def product_texts(n: int) -> list[str]:
    """Demo-shop catalogue text, as the encoder sees it: title, category path, brand, description."""
    from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop

    p = SyntheticShop(ShopConfig(n_items=n, n_users=10)).products()
    return (p.title_en + ". " + p.category_l1 + " > " + p.category_l2 + ". " + p.brand + ". " + p.description_en).tolist()


def run_backend(backend: str, work: Path, base: str | None, batch: int) -> dict:
    import numpy as np
    import torch

    from ecom_assets.ml.text.encoder import OnnxEncoder, TorchEncoder

    torch.set_num_threads(os.cpu_count() or 1)
    texts = json.loads((work / "texts.json").read_text())
    with TreePeakRSS(os.getpid()) as mem:
        enc = TorchEncoder.load(base)
        if backend == "torch_bf16":
            from ecom_assets.ml.text.embedding import _TorchBackend

            model = _TorchBackend(enc, bf16=True)
        elif backend == "torch":
            model = enc
        else:
            model = OnnxEncoder(work / ("model.onnx" if backend == "onnx_fp32" else "model.int8.onnx"), enc.tokenizer)
        model.encode(texts[:batch], batch_size=batch)  # warm-up
        t0 = time.perf_counter()
        emb = model.encode(texts, batch_size=batch)
        seconds = time.perf_counter() - t0
    np.save(work / f"{backend}.npy", emb)
    return {"backend": backend, "seconds": round(seconds, 2), "texts_per_second": round(len(texts) / seconds, 1),
            "peak_rss_gb": round(mem.peak / 1e9, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--base", default=None, help="base encoder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(run_backend(a.one, Path(a.work), a.base, a.batch)))
        return 0

    import numpy as np

    from ecom_assets.ml.text.encoder import TorchEncoder, max_abs_diff, quantize_int8, row_cosines

    work = Path(tempfile.mkdtemp(prefix="encoder_speed_"))
    texts = product_texts(a.texts)
    (work / "texts.json").write_text(json.dumps(texts))
    enc = TorchEncoder.load(a.base)
    t0 = time.perf_counter()
    enc.export_onnx(work / "model.onnx")
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    quantize_int8(work / "model.onnx", work / "model.int8.onnx")
    quant_s = time.perf_counter() - t0
    del enc

    runs = {}
    for backend in BACKENDS:
        proc = subprocess.run([sys.executable, __file__, "--one", backend, "--work", str(work), "--batch", str(a.batch)]
                              + (["--base", a.base] if a.base else []), capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        runs[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {backend:<10} {runs[backend]['texts_per_second']:>8.1f} texts/s  peak {runs[backend]['peak_rss_gb']:.2f} GB",
              file=sys.stderr)
    emb = {b: np.load(work / f"{b}.npy") for b in BACKENDS}
    base_tps = runs["torch"]["texts_per_second"]
    result = {
        "benchmark": "encoder_speed",
        "texts": len(texts), "batch_size": a.batch, "base_model": a.base or "packaged all-MiniLM-L6-v2",
        "cpus": os.cpu_count(), "max_length": 64,
        "runs": runs,
        "speedup_vs_torch": {b: round(runs[b]["texts_per_second"] / base_tps, 2) for b in BACKENDS},
        "targets": {"fastest_backend_vs_torch_fp32": 3.0},
        "fastest_backend": max(BACKENDS, key=lambda b: runs[b]["texts_per_second"]),
        "parity": {"fp32_max_abs_diff": max_abs_diff(emb["torch"], emb["onnx_fp32"]),
                   "int8_cosine_mean": float(row_cosines(emb["onnx_fp32"], emb["onnx_int8"]).mean()),
                   "int8_cosine_min": float(row_cosines(emb["onnx_fp32"], emb["onnx_int8"]).min()),
                   "bf16_cosine_mean": float(row_cosines(emb["torch"], emb["torch_bf16"]).mean()),
                   "bf16_cosine_min": float(row_cosines(emb["torch"], emb["torch_bf16"]).min())},
        "export_seconds": round(export_s, 1), "quantize_seconds": round(quant_s, 1),
        "model_mb": {"fp32": round((work / "model.onnx").stat().st_size / 1e6, 1),
                     "int8": round((work / "model.int8.onnx").stat().st_size / 1e6, 1)},
    }
    print(json.dumps(result, indent=2))
    write_result("encoder_speed", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
