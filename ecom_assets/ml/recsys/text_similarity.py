"""Content-based candidates from product text embeddings.

A user's profile is the recency-weighted mean of their recent items' embeddings; every
item scores by cosine similarity to it. Needs no interactions with the item itself, so
cold-start items get recommended too. Plugs into the hybrid as one more candidate source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

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


@dataclass
class AttributeSimilarity(Strategy):
    """Content-based candidates from item attributes (brand, categories, any attribute ids):
    each item a TF-IDF weighted, unit-length vector over its attributes; a user's profile
    the recency-weighted sum of their recent items' vectors; every item scores by its dot
    product with the profile. Like text similarity, it reaches items nobody took yet."""

    window: int = 5
    decay: float = 0.8
    name: str = "attributes"
    fitted_attributes = ("n_items", "item_attributes")

    def with_attributes(self, item_attributes: list[list[int]] | sp.spmatrix, n_attributes: int | None = None
                        ) -> "AttributeSimilarity":
        """`item_attributes`: per item (in item order) its attribute ids, or an item x
        attribute matrix."""
        if sp.issparse(item_attributes):
            m = sp.csr_matrix(item_attributes, dtype=np.float32)
        else:
            rows = np.repeat(np.arange(len(item_attributes)), [len(a) for a in item_attributes])
            cols = np.concatenate([np.asarray(a, dtype=np.int64) for a in item_attributes] or [np.empty(0, np.int64)])
            width = n_attributes if n_attributes is not None else (int(cols.max()) + 1 if len(cols) else 1)
            m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(item_attributes), width))
        m.data[:] = 1.0
        document_frequency = np.asarray((m > 0).sum(axis=0)).ravel()
        idf = np.log((1.0 + m.shape[0]) / (1.0 + document_frequency)) + 1.0
        m = sp.csr_matrix(m.multiply(idf[None, :]))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel()).clip(min=1e-12)
        self.item_attributes = sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)
        return self

    def fit(self, histories, n_items):
        if getattr(self, "item_attributes", None) is None or self.item_attributes.shape[0] != n_items:
            raise ValueError(f"{self.name}: give the attributes of each of the {n_items} items (with_attributes) before fit")
        self.n_items = n_items
        return self

    def score(self, users, histories):
        recent = recent_items_matrix(histories, self.n_items, self.window, self.decay)  # (B, n_items)
        profile = np.asarray((recent @ self.item_attributes).todense(), dtype=np.float32)  # (B, n_attributes)
        # sparse (n_items, n_attributes) @ dense (n_attributes, B): a dense product, no sparse fill-in
        return np.ascontiguousarray((self.item_attributes @ profile.T).T, dtype=np.float32)
