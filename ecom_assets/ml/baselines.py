"""Two reference recommenders: popularity and item-item collaborative filtering.

Both fit on a sparse user x item weight matrix (scipy CSR) built from the training
interactions only, and return top-K item indices with already-seen items excluded.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


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
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


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
        self.similarity = self._prune(sim, self.neighbours)
        self.log_matrix = x.tocsr()
        pop = np.asarray(matrix.sum(axis=0)).ravel()
        self.tie_break = 1e-6 * pop / max(pop.max(), 1e-12)
        return self

    @staticmethod
    def _prune(sim: sp.csr_matrix, keep: int) -> sp.csr_matrix:
        """Keep the `keep` strongest neighbours of each item."""
        rows, cols, vals = [], [], []
        for i in range(sim.shape[0]):
            start, end = sim.indptr[i], sim.indptr[i + 1]
            if end - start > keep:
                idx = np.argpartition(-sim.data[start:end], keep - 1)[:keep] + start
            else:
                idx = np.arange(start, end)
            rows.append(np.full(len(idx), i))
            cols.append(sim.indices[idx])
            vals.append(sim.data[idx])
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=sim.shape)

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        scores = (self.log_matrix[users] @ self.similarity).toarray() + self.tie_break
        return top_k(scores, k, self.matrix if exclude_seen else None, rows=users)
