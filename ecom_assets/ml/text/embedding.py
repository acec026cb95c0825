"""Embedding the catalogue incrementally: only items whose text or model changed are
encoded again; the rest keep their vectors."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

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
