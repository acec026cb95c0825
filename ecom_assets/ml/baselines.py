"""Two reference recommenders over the marts' weighted interactions: popularity and
item-item collaborative filtering.

Unlike the sequence strategies in `candidates.py`, these fit on a sparse user x item
matrix of event-type weighted, time-decayed interaction strength (marts.train_interactions),
which is what shows the demo shop's signal is learnable on tiny data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml.candidates import keep_top_k_per_row
from ecom_assets.ml.serving import top_k_indices


def interaction_matrix(user_idx: np.ndarray, item_idx: np.ndarray, weight: np.ndarray,
                       n_users: int, n_items: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.asarray(weight, dtype=np.float32), (user_idx, item_idx)), shape=(n_users, n_items))


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None, rows: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best-scoring items per row, best first; `exclude` marks
    (row, item) pairs that must not be recommended (e.g. already bought)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        seen = exclude[rows] if rows is not None else exclude
        r, c = seen.nonzero()
        scores[r, c] = -np.inf
    return top_k_indices(scores, k)


class PopularityRecommender:
    """Items ranked by total interaction weight."""

    def fit(self, matrix: sp.csr_matrix) -> "PopularityRecommender":
        self.matrix = matrix
        self.popularity = np.asarray(matrix.sum(axis=0)).ravel()
        return self

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        scores = np.broadcast_to(self.popularity, (len(users), len(self.popularity)))
        return top_k(scores, k, self.matrix if exclude_seen else None, rows=users)


class ItemKNNRecommender:
    """Item-item cosine similarity on the (log-damped) interaction matrix (Sarwar et al.,
    2001); a user's score for an item is the similarity-weighted sum over their history.
    Popularity breaks ties, so users with little history still get sensible lists."""

    def __init__(self, neighbours: int = 100):
        self.neighbours = neighbours

    def fit(self, matrix: sp.csr_matrix) -> "ItemKNNRecommender":
        self.matrix = matrix
        x = matrix.copy()
        x.data = np.log1p(x.data)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        xn = x @ sp.diags(1.0 / norms)
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.similarity = keep_top_k_per_row(sim, self.neighbours)
        self.log_matrix = x.tocsr()
        pop = np.asarray(matrix.sum(axis=0)).ravel()
        self.tie_break = 1e-6 * pop / max(pop.max(), 1e-12)
        return self

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        scores = (self.log_matrix[users] @ self.similarity).toarray() + self.tie_break
        return top_k(scores, k, self.matrix if exclude_seen else None, rows=users)
