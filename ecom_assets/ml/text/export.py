"""ONNX export of a trained encoder checkpoint, with its parity against torch, and the
choice of the fastest backend for the machine it runs on.

fp32 (pooling and normalisation inside the graph) and a per-channel int8 copy; parity is
measured on probe texts (max |fp32 - torch|, cosine int8 vs fp32). The export is built
in a staging folder and served only if it passed (`model_files.publish_export`), with a
manifest every consumer verifies (`require_parity`).

Calibration (`time_backends`): the probe texts encoded by torch fp32, torch with
bfloat16 autocast, ONNX fp32 and ONNX int8, each timed on this machine (the parity above
reads these same vectors: each backend encodes the probe once; a backend far slower than
the fastest on a screening batch stops there); the fastest whose vectors stay within the
parity bounds of torch fp32 is recorded in the export's parity record, and the embedding
step uses it (EmbeddingConfig.precision "auto"). On CPUs with
bfloat16 or VNNI instructions the order changes between machines: measure, do not assume.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ecom_assets.ml.common.model_files import publish_export, staging_dir

MAX_ABS_DIFF = 1e-4
MIN_INT8_COSINE = 0.98
BACKENDS = ("torch_fp32", "torch_bf16", "onnx_fp32", "onnx_int8")
CALIBRATION_BATCH = 64
WARMUP_TEXTS = 8
# The screening round: every backend on this many texts first; one slower per text than
# SCREEN_MARGIN times the fastest there is not timed further (it cannot be chosen).
SCREEN_TEXTS = 16
SCREEN_MARGIN = 2.0
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
    from ecom_assets.ml.text.encoder import TorchEncoder, max_abs_diff, quantize_int8, row_cosines

    torch_encoder = TorchEncoder.load(str(folder), max_length=max_length)
    onnx_dir = staging_dir(folder)
    fp32 = torch_encoder.export_onnx(onnx_dir / "model.onnx")
    int8 = quantize_int8(fp32, onnx_dir / "model_int8.onnx")
    probe = list(probe_texts) + PROBE_EXTRA
    runs = backend_runs(torch_encoder, fp32, int8)
    # The parity vectors are the calibration's own: each backend encodes the probe once.
    parity = ("torch_fp32", "onnx_fp32", "onnx_int8")
    if calibrate:
        timings = time_backends(runs, probe, required=parity)
        vectors = {name: timings[name].vectors for name in parity}
    else:
        timings, vectors = None, {name: runs[name](probe) for name in parity}
    reference = vectors["torch_fp32"]
    result = ExportResult(fp32, int8, max_abs_diff(reference, vectors["onnx_fp32"]),
                          row_cosines(vectors["onnx_fp32"], vectors["onnx_int8"]), len(probe))
    if timings is not None:
        result.calibration = summarise_calibration(timings, reference)
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


def backend_runs(torch_encoder, fp32: Path, int8: Path, batch_size: int = CALIBRATION_BATCH) -> dict[str, Callable]:
    """Each serving backend (BACKENDS) as a function from texts to vectors."""
    from ecom_assets.ml.text.encoder import OnnxEncoder

    fp32_session = OnnxEncoder(fp32, torch_encoder.tokenizer, torch_encoder.max_length)
    int8_session = OnnxEncoder(int8, torch_encoder.tokenizer, torch_encoder.max_length)
    return {"torch_fp32": lambda t: torch_encoder.encode(t, batch_size=batch_size),
            "torch_bf16": lambda t: encode_bf16(torch_encoder, t, batch_size),
            "onnx_fp32": lambda t: fp32_session.encode(t, batch_size=batch_size),
            "onnx_int8": lambda t: int8_session.encode(t, batch_size=batch_size)}


@dataclass
class BackendTiming:
    seconds: float  # best of the repeats, on `texts` texts
    texts: int
    vectors: np.ndarray  # for those texts (the first `texts` of the calibration's)
    screened_out: bool = False  # timed on the screening texts only: too slow to be chosen


def time_backends(runs: dict[str, Callable], texts: list[str], repeats: int = 1, required: tuple[str, ...] = ("torch_fp32",),
                  screen_texts: int = SCREEN_TEXTS, screen_margin: float = SCREEN_MARGIN) -> dict[str, BackendTiming]:
    """Time each backend on `texts` (best of `repeats`, after a warm-up on a few texts).
    A screening round first times every backend on the first `screen_texts`: one more than
    `screen_margin` times slower per text than the fastest there cannot win and is not run
    on the rest (bf16 autocast on a CPU without bf16 units runs at a sixth of fp32's
    speed), unless it is `required` (its vectors on every text are needed)."""
    texts = list(texts)
    screen = texts[:screen_texts]
    screened = {}
    for name, run in runs.items():
        run(texts[:WARMUP_TEXTS])  # graph optimisation, kernel choice, caches
        screened[name] = _best(run, screen, 1)
    fastest = min(t.seconds / t.texts for t in screened.values())
    timings = {}
    for name, run in runs.items():
        if name not in required and screened[name].seconds / screened[name].texts > screen_margin * fastest:
            timings[name] = BackendTiming(screened[name].seconds, screened[name].texts, screened[name].vectors, True)
        else:
            timings[name] = _best(run, texts, repeats)
    return timings


def _best(run: Callable, texts: list[str], repeats: int) -> BackendTiming:
    best, out = float("inf"), None
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        out = run(texts)
        best = min(best, time.perf_counter() - started)
    return BackendTiming(best, len(texts), out)


def summarise_calibration(timings: dict[str, BackendTiming], reference: np.ndarray, batch_size: int = CALIBRATION_BATCH
                          ) -> dict:
    """The calibration's record: per backend its speed, its vectors' agreement with torch
    fp32's (`reference`, on the same texts) and whether it passed (ONNX fp32 within
    MAX_ABS_DIFF, bf16 and int8 at a mean cosine of at least MIN_INT8_COSINE); the fastest
    that passed and was not screened out is chosen."""
    from ecom_assets.ml.text.encoder import max_abs_diff, row_cosines

    reference = np.asarray(reference)
    figures = {}
    for name, t in timings.items():
        ref = reference[:t.texts]
        cosine = float(row_cosines(ref, t.vectors).mean())
        passed = max_abs_diff(ref, t.vectors) <= MAX_ABS_DIFF if name == "onnx_fp32" else cosine >= MIN_INT8_COSINE
        figures[name] = {"seconds": round(t.seconds, 4), "texts": t.texts, "texts_per_second": round(t.texts / t.seconds, 1),
                         "mean_cosine_vs_torch_fp32": round(cosine, 5), "passed": bool(passed),
                         "screened_out": t.screened_out}
    base = figures["torch_fp32"]["texts_per_second"]
    for row in figures.values():
        row["speedup_vs_torch_fp32"] = round(row["texts_per_second"] / base, 3)
    chosen = max((n for n, r in figures.items() if r["passed"] and not r["screened_out"]),
                 key=lambda n: figures[n]["texts_per_second"])
    return {"texts": timings["torch_fp32"].texts, "batch_size": batch_size, "cpus": os.cpu_count(), "backends": figures,
            "chosen": chosen, "chosen_speedup_vs_torch_fp32": figures[chosen]["speedup_vs_torch_fp32"]}


def calibrate_backends(torch_encoder, fp32: Path, int8: Path, texts: list[str], repeats: int = 1,
                       batch_size: int = CALIBRATION_BATCH, screen_margin: float = SCREEN_MARGIN) -> dict:
    """Time each backend on `texts` on this machine (after the screening round of
    `time_backends`; `screen_margin` inf times every one in full) and choose the fastest
    whose vectors stay within the parity bounds of torch fp32's (the bench's entry; the
    export calibrates on its probe texts)."""
    timings = time_backends(backend_runs(torch_encoder, fp32, int8, batch_size), texts, repeats,
                            screen_margin=screen_margin)
    return summarise_calibration(timings, timings["torch_fp32"].vectors, batch_size)
