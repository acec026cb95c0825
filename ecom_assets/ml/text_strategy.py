"""Content-based candidates from product text embeddings.

A user's profile is the recency-weighted mean of their recent items' embeddings; every
item scores by cosine similarity to it. Needs no interactions with the item itself, so
cold-start items get recommended too. Plugs into the hybrid as one more candidate source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecom_assets.ml.candidates import Strategy, recent_items_matrix
from ecom_assets.ml.model_io import register_strategy


@dataclass
class EmbeddingSimilarity(Strategy):
    window: int = 10
    decay: float = 0.8
    name: str = "text"

    def with_embeddings(self, item_embeddings: np.ndarray) -> "EmbeddingSimilarity":
        e = np.asarray(item_embeddings, dtype=np.float32)
        self.item_embeddings = e / np.linalg.norm(e, axis=1, keepdims=True).clip(min=1e-12)
        return self

    def fit(self, histories, n_items):
        if getattr(self, "item_embeddings", None) is None or len(self.item_embeddings) != n_items:
            raise ValueError(f"{self.name}: give one embedding per item (with_embeddings) before fit; "
                             f"expected {n_items} rows")
        self.n_items = n_items
        return self

    def score(self, users, histories):
        recent = recent_items_matrix(histories, self.n_items, self.window, self.decay)  # (B, n_items)
        profile = np.asarray(recent @ self.item_embeddings)  # (B, d)
        profile /= np.linalg.norm(profile, axis=1, keepdims=True).clip(min=1e-12)
        return (profile @ self.item_embeddings.T).astype(np.float32)  # (B, n_items)


register_strategy(EmbeddingSimilarity, ("item_embeddings",))
