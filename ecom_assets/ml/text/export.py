"""ONNX export of a trained encoder checkpoint, with its parity against torch.

fp32 (pooling and normalisation inside the graph) and a per-channel int8 copy; parity is
measured on probe texts (max |fp32 - torch|, cosine int8 vs fp32). The export is built
in a staging folder and served only if it passed (`model_files.publish_export`), with a
manifest every consumer verifies (`require_parity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecom_assets.ml.common.model_files import publish_export, staging_dir

MAX_ABS_DIFF = 1e-4
MIN_INT8_COSINE = 0.98
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

    @property
    def fp32_passed(self) -> bool:
        return bool(self.max_abs_diff <= MAX_ABS_DIFF)

    @property
    def int8_passed(self) -> bool:
        return bool(self.cosines.mean() >= MIN_INT8_COSINE)


def export_encoder(folder: Path, version: str, probe_texts: list[str], max_length: int) -> ExportResult:
    """Export the checkpoint in `folder`, check its parity, and serve it as `folder/onnx/`
    if it passed (else the previous export keeps serving)."""
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
    result.record = publish_export(folder, onnx_dir, version, result.fp32_passed and result.int8_passed,
                                   max_abs_diff=result.max_abs_diff, int8_min_cosine=float(result.cosines.min()),
                                   int8_mean_cosine=float(result.cosines.mean()), probe_texts=len(probe))
    served = Path(result.record["path"])
    result.fp32, result.int8 = served / fp32.name, served / int8.name
    return result
