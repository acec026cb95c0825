"""Content-based candidates from product text embeddings.

A user's profile is the recency-weighted mean of their recent items' embeddings; every
item scores by cosine similarity to it. Needs no interactions with the item itself, so
cold-start items get recommended too. Plugs into the hybrid as one more candidate source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecom_assets.ml.recsys.candidates import recent_items_matrix
from ecom_assets.ml.recsys.strategy import Strategy


@dataclass
class EmbeddingSimilarity(Strategy):
    window: int = 10
    decay: float = 0.8
    name: str = "text"
    fitted_attributes = ("n_items", "item_embeddings")

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
        profile = user_profiles(histories, self.item_embeddings, self.window, self.decay)  # (B, d)
        return (profile @ self.item_embeddings.T).astype(np.float32)  # (B, n_items)


def user_profiles(histories: list[np.ndarray], item_embeddings: np.ndarray, window: int = 10,
                  decay: float = 0.8) -> np.ndarray:
    """(B, d) unit-length recency-weighted means of each user's last `window` items'
    embeddings; zeros for a user with no history."""
    recent = recent_items_matrix(histories, len(item_embeddings), window, decay)  # (B, n_items)
    profile = np.asarray(recent @ item_embeddings, dtype=np.float32)
    return profile / np.linalg.norm(profile, axis=1, keepdims=True).clip(min=1e-12)
