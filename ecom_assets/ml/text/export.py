"""ONNX export of a trained encoder checkpoint, with its parity against torch, and the
choice of the fastest backend for the machine it runs on.

fp32 (pooling and normalisation inside the graph) and a per-channel int8 copy; parity is
measured on probe texts (max |fp32 - torch|, cosine int8 vs fp32). The export is built
in a staging folder and served only if it passed (`model_files.publish_export`), with a
manifest every consumer verifies (`require_parity`).

Calibration (`calibrate_backends`): the probe texts encoded by torch fp32, torch with
bfloat16 autocast, ONNX fp32 and ONNX int8, each timed on this machine; the fastest whose
vectors stay within the parity bounds of torch fp32 is recorded in the export's parity
record, and the embedding step uses it (EmbeddingConfig.precision "auto"). On CPUs with
bfloat16 or VNNI instructions the order changes between machines: measure, do not assume.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecom_assets.ml.common.model_files import publish_export, staging_dir

MAX_ABS_DIFF = 1e-4
MIN_INT8_COSINE = 0.98
BACKENDS = ("torch_fp32", "torch_bf16", "onnx_fp32", "onnx_int8")
CALIBRATION_BATCH = 64
CALIBRATION_TEXTS = 192
# Texts unlike the catalogue's: short, Chinese, numeric; parity must hold on them too.
PROBE_EXTRA = ["无线蓝牙耳机 降噪 长续航", "stainless steel water bottle, 750 ml", "儿童益智积木玩具套装",
               "organic green tea, 100 bags", "a", "运动鞋 男款 透气 跑步"]


@dataclass
class ExportResult:
    fp32: Path
    int8: Path
    max_abs_diff: float
    cosines: np.ndarray  # int8 vs fp32, one per probe text
    probe_texts: int
    record: dict | None = None  # the published parity record (manifest_sha256, path)
    calibration: dict | None = None  # calibrate_backends' figures and choice

    @property
    def fp32_passed(self) -> bool:
        return bool(self.max_abs_diff <= MAX_ABS_DIFF)

    @property
    def int8_passed(self) -> bool:
        return bool(self.cosines.mean() >= MIN_INT8_COSINE)


def export_encoder(folder: Path, version: str, probe_texts: list[str], max_length: int,
                   calibrate: bool = True) -> ExportResult:
    """Export the checkpoint in `folder`, check its parity, time the backends on the probe
    texts (`calibrate`), and serve it as `folder/onnx/` if it passed (else the previous
    export keeps serving)."""
    from ecom_assets.ml.text.encoder import OnnxEncoder, TorchEncoder, max_abs_diff, quantize_int8, row_cosines

    torch_encoder = TorchEncoder.load(str(folder), max_length=max_length)
    onnx_dir = staging_dir(folder)
    fp32 = torch_encoder.export_onnx(onnx_dir / "model.onnx")
    int8 = quantize_int8(fp32, onnx_dir / "model_int8.onnx")
    probe = list(probe_texts) + PROBE_EXTRA
    reference = torch_encoder.encode(probe)
    fp32_out = OnnxEncoder(fp32, torch_encoder.tokenizer, max_length).encode(probe)
    int8_out = OnnxEncoder(int8, torch_encoder.tokenizer, max_length).encode(probe)
    result = ExportResult(fp32, int8, max_abs_diff(reference, fp32_out), row_cosines(fp32_out, int8_out), len(probe))
    if calibrate:
        result.calibration = calibrate_backends(torch_encoder, fp32, int8, probe, reference)
    result.record = publish_export(folder, onnx_dir, version, result.fp32_passed and result.int8_passed,
                                   max_abs_diff=result.max_abs_diff, int8_min_cosine=float(result.cosines.min()),
                                   int8_mean_cosine=float(result.cosines.mean()), probe_texts=len(probe),
                                   calibration=result.calibration)
    served = Path(result.record["path"])
    result.fp32, result.int8 = served / fp32.name, served / int8.name
    return result


def encode_bf16(torch_encoder, texts: list[str], batch_size: int = CALIBRATION_BATCH) -> np.ndarray:
    """torch with bfloat16 autocast on CPU (matrix products in bf16, accumulations and the
    normalisation in fp32)."""
    import torch

    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        return torch_encoder.encode(texts, batch_size=batch_size)


def _best_seconds(fn, texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    fn(texts[:CALIBRATION_BATCH])  # warm-up: graph optimisation, kernel choice, caches
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn(texts)
        best = min(best, time.perf_counter() - started)
    return best, out


def calibrate_backends(torch_encoder, fp32: Path, int8: Path, texts: list[str], reference: np.ndarray,
                       repeats: int = 1, batch_size: int = CALIBRATION_BATCH,
                       max_texts: int = CALIBRATION_TEXTS) -> dict:
    """Time each backend on the first `max_texts` of `texts` (best of `repeats`, after a
    warm-up batch) and check its vectors against torch fp32's (`reference`): ONNX fp32
    within MAX_ABS_DIFF, bf16 and int8 at a mean cosine of at least MIN_INT8_COSINE. The
    fastest that passes is chosen. A few seconds on 2 cores: it runs at every export."""
    texts, reference = list(texts)[:max_texts], np.asarray(reference)[:max_texts]
    from ecom_assets.ml.text.encoder import OnnxEncoder, max_abs_diff, row_cosines

    runs = {
        "torch_fp32": lambda t: torch_encoder.encode(t, batch_size=batch_size),
        "torch_bf16": lambda t: encode_bf16(torch_encoder, t, batch_size),
        "onnx_fp32": OnnxEncoder(fp32, torch_encoder.tokenizer, torch_encoder.max_length).encode,
        "onnx_int8": OnnxEncoder(int8, torch_encoder.tokenizer, torch_encoder.max_length).encode,
    }
    figures = {}
    for name, run in runs.items():
        seconds, vectors = _best_seconds(run, texts, repeats)
        cosine = float(row_cosines(reference, vectors).mean())
        passed = max_abs_diff(reference, vectors) <= MAX_ABS_DIFF if name == "onnx_fp32" else cosine >= MIN_INT8_COSINE
        figures[name] = {"seconds": round(seconds, 4), "texts_per_second": round(len(texts) / seconds, 1),
                         "mean_cosine_vs_torch_fp32": round(cosine, 5), "passed": bool(passed)}
    base = figures["torch_fp32"]["seconds"]
    for row in figures.values():
        row["speedup_vs_torch_fp32"] = round(base / row["seconds"], 3)
    chosen = min((n for n, r in figures.items() if r["passed"]), key=lambda n: figures[n]["seconds"])
    return {"texts": len(texts), "batch_size": batch_size, "cpus": os.cpu_count(), "backends": figures,
            "chosen": chosen, "chosen_speedup_vs_torch_fp32": figures[chosen]["speedup_vs_torch_fp32"]}
