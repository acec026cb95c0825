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


@dataclass(frozen=True)
class EncoderFiles:
    """An exported encoder by its files: what each worker loads (once) to embed its shard."""

    onnx_path: str
    tokenizer_dir: str
    max_length: int


def _load_encoder(files: EncoderFiles, threads: int):
    from transformers import AutoTokenizer

    from ecom_assets.ml.text.encoder import OnnxEncoder

    return OnnxEncoder(Path(files.onnx_path), AutoTokenizer.from_pretrained(files.tokenizer_dir), files.max_length,
                       threads=threads)


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
