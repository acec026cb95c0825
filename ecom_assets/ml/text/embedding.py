"""Embedding the catalogue incrementally: only items whose text or model changed are
encoded again; the rest keep their vectors. The encoding itself runs chunk by chunk in
this process or as tasks on a Ray cluster (`embed_texts`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ecom_assets.ml.common.parallel import LocalRunner, Runner, cached_per_process, cpus_per_worker, shard_bounds
from ecom_assets.ml.text.export import BACKENDS
from ecom_assets.ml.text.product_text import text_hash


def reembed(items: pd.DataFrame, existing: pd.DataFrame, model_version: str,
            encode: Callable[[list[str]], np.ndarray]) -> tuple[pd.DataFrame, int]:
    """items: item_id, text. existing: item_id, model_version, text_hash, embedding (may be
    empty). Returns (item_id, text_hash, embedding for every item; how many were encoded).
    A vector is reused only when it came from `model_version` and the same text."""
    frame = items[["item_id", "text"]].assign(text_hash=items["text"].map(text_hash))
    old = existing[existing["model_version"] == model_version].set_index("item_id")
    unchanged = frame["item_id"].map(old["text_hash"]).eq(frame["text_hash"]).to_numpy()
    todo = frame[~unchanged]
    vectors = encode(todo["text"].tolist()).astype(np.float32) if len(todo) else np.zeros((0, 0), np.float32)
    kept = frame[unchanged].assign(embedding=lambda f: f["item_id"].map(old["embedding"]))
    fresh = todo.assign(embedding=list(vectors))
    return pd.concat([kept, fresh])[["item_id", "text_hash", "embedding"]], len(todo)


# Texts per shard, in batches of the encoder's batch size: the single-process path
# encodes the same chunks (the encoder sorts each chunk by length to pad little, so the
# chunks must match for the vectors to match).
CHUNK_BATCHES = 20


SERVING_BACKENDS = BACKENDS  # the calibration's (ml.text.export): any it may choose serves


@dataclass(frozen=True)
class EncoderFiles:
    """An encoder by its files: what each worker loads (once) to embed its shard.
    `backend`: one of SERVING_BACKENDS (the export's calibration chooses, ml.text.export);
    the ONNX ones read `onnx_folder`, the torch ones the checkpoint in `checkpoint_dir`."""

    checkpoint_dir: str
    max_length: int
    backend: str = "onnx_fp32"
    onnx_folder: str = ""

    def __post_init__(self):
        if self.backend not in SERVING_BACKENDS:
            raise ValueError(f"encoder backend {self.backend!r} is not one of {', '.join(SERVING_BACKENDS)}")


class _TorchBackend:
    """TorchEncoder behind OnnxEncoder's encode(texts, batch_size), with bf16 autocast."""

    def __init__(self, encoder, bf16: bool):
        self.encoder, self.bf16 = encoder, bf16

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        from ecom_assets.ml.text.export import encode_bf16

        return encode_bf16(self.encoder, texts, batch_size) if self.bf16 else self.encoder.encode(texts, batch_size)


def _load_encoder(files: EncoderFiles, threads: int):
    from transformers import AutoTokenizer

    from ecom_assets.ml.text.encoder import OnnxEncoder, TorchEncoder

    if files.backend.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
        return _TorchBackend(TorchEncoder.load(files.checkpoint_dir, max_length=files.max_length),
                             bf16=files.backend == "torch_bf16")
    name = "model_int8.onnx" if files.backend == "onnx_int8" else "model.onnx"
    return OnnxEncoder(Path(files.onnx_folder) / name, AutoTokenizer.from_pretrained(files.checkpoint_dir),
                       files.max_length, threads=threads)


_cached_encoder = cached_per_process(_load_encoder)


def _embed_shard(texts: list[str], files: EncoderFiles, batch_size: int, threads: int) -> np.ndarray:
    return _cached_encoder(files, threads).encode(texts, batch_size=batch_size)


def embed_texts(texts: list[str], files: EncoderFiles, batch_size: int, runner: Runner | None = None,
                chunk_batches: int = CHUNK_BATCHES) -> np.ndarray:
    """Every text's vector, chunk by chunk (`chunk_batches` batches each) on `runner`: in
    this process, or one Ray task per chunk; the vectors are the same either way."""
    runner = runner or LocalRunner()
    step = batch_size * chunk_batches
    shards = [texts[a:b] for a, b in shard_bounds(len(texts), step, align=step)]
    parts = runner.map(_embed_shard, shards, files, batch_size, cpus_per_worker(runner))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
