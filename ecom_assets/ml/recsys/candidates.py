"""Candidate strategies: each fits on training histories only and scores every item for
a batch of users (the contract, saving and loading included, is in `strategy.py`).

Scoring takes a batch so that callers bound memory by chunking users. Strategies that
ignore user identity (all but the matrix factorisations) use only the histories, so they
also serve users unseen at training time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml.recsys.strategy import Strategy


def recent_items_matrix(histories: list[np.ndarray], n_items: int, window: int | None, decay: float) -> sp.csr_matrix:
    """(B, n_items) weights of each user's last `window` items: decay**k for the k-th most
    recent (k = 0 for the last item); repeated items add up."""
    rows, cols, vals = [], [], []
    for r, h in enumerate(histories):
        recent = h[::-1] if window is None else h[::-1][:window]
        rows.append(np.full(len(recent), r))
        cols.append(recent)
        vals.append(decay ** np.arange(len(recent), dtype=np.float64))
    if not rows:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(histories), n_items), dtype=np.float32)


def user_item_matrix(histories: list[np.ndarray], n_items: int, binary: bool = True) -> sp.csr_matrix:
    m = recent_items_matrix(histories, n_items, None, 1.0)
    if binary:
        m.data[:] = 1.0
    return m


def keep_top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Sparsify a similarity matrix to each row's k largest entries."""
    m = m.tocsr()
    m.sort_indices()
    indptr, indices, data = m.indptr, m.indices, m.data
    keep = np.zeros(len(data), dtype=bool)
    for i in range(m.shape[0]):
        start, end = indptr[i], indptr[i + 1]
        if end - start <= k:
            keep[start:end] = True
        else:
            keep[start + np.argpartition(-data[start:end], k - 1)[:k]] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(indptr))
    return sp.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=m.shape, dtype=np.float32)


def cosine_item_similarity(histories: list[np.ndarray], n_items: int, neighbours: int = 100) -> sp.csr_matrix:
    """Item-item cosine over users' (binary) histories, top `neighbours` per item."""
    x = user_item_matrix(histories, n_items)
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xn = (x @ sp.diags(1.0 / norms)).tocsc()
    sim = (xn.T @ xn).tocsr()
    sim.setdiag(0.0)
    sim.eliminate_zeros()
    return keep_top_k_per_row(sim, neighbours)


@dataclass
class Popularity(Strategy):
    """Items by how often they were taken, time-decayed when the histories' times are
    given: each event counts 2^(-age / half_life_days), age measured back from the
    newest event. Without times (sequence datasets), `recent_window` can restrict the
    count to each user's last items instead."""

    half_life_days: float | None = None
    recent_window: int | None = None
    name: str = "popularity"
    fitted_attributes = ("n_items", "popularity")

    def fit(self, histories, n_items, times: list[np.ndarray] | None = None):
        self.n_items = n_items
        if times is not None and self.half_life_days:
            items = np.concatenate(histories) if histories else np.empty(0, np.int64)
            t = np.concatenate(times).astype("datetime64[s]").astype(np.float64) if times else np.empty(0)
            age_days = (t.max() - t) / 86_400.0 if len(t) else t
            self.popularity = np.bincount(items, weights=0.5 ** (age_days / self.half_life_days), minlength=n_items)
        else:
            m = recent_items_matrix(histories, n_items, self.recent_window, 1.0)
            self.popularity = np.asarray(m.sum(axis=0)).ravel()
        return self

    def score(self, users, histories):
        return np.broadcast_to(self.popularity.astype(np.float32), (len(histories), self.n_items)).copy()


@dataclass
class ItemKNN(Strategy):
    """Item-based collaborative filtering (Sarwar et al., 2001; Deshpande & Karypis,
    2004): cosine similarity of items over users, scored from the user's recent items,
    the most recent weighing most.

    With `dp_epsilon` set, the similarity comes from item and pair counts released with
    differential privacy (`ml.privacy.cooccurrence`: each user's `dp_max_items` most recent
    distinct items counted, every cell noised, neighbours from the `dp_neighbour_pool` most
    taken items when set); `privacy_releases` then lists what one fit spent, for the ledger."""

    neighbours: int = 100
    window: int = 3
    decay: float = 0.5
    name: str = "item_knn"
    dp_epsilon: float | None = None
    dp_max_items: int = 5
    dp_seed: int | None = None
    dp_neighbour_pool: int | None = None
    fitted_attributes = ("n_items", "similarity")

    def fit(self, histories, n_items):
        self.n_items = n_items
        if self.dp_epsilon is None:
            self.similarity = cosine_item_similarity(histories, n_items, self.neighbours)
            self.privacy_releases = []
        else:
            from ecom_assets.ml.privacy.cooccurrence import CooccurrenceRelease, private_cosine_similarity

            self.similarity, self.privacy_releases = private_cosine_similarity(
                histories, n_items, CooccurrenceRelease(self.dp_epsilon, self.dp_max_items, seed=self.dp_seed,
                                    neighbour_pool=self.dp_neighbour_pool),
                self.neighbours)
        return self

    def score(self, users, histories):
        recent = recent_items_matrix(histories, self.n_items, self.window, self.decay)
        return np.asarray((recent @ self.similarity).todense(), dtype=np.float32)


@dataclass
class Transitions(Strategy):
    """What follows the user's last items: counts of item i -> item j among consecutive
    pairs in training histories (a first-order Markov chain, as in FPMC's MC part,
    Rendle et al., 2010). `skip` adds i -> j two steps later at half weight. Item cosine
    and popularity break ties where the chain knows nothing."""

    window: int = 1
    decay: float = 0.5
    skip: bool = False
    normalise: bool = False
    cosine_tie_break: float = 1e-3
    popularity_tie_break: float = 1e-6
    name: str = "transitions"
    fitted_attributes = ("n_items", "transitions", "similarity", "popularity")

    def fit(self, histories, n_items):
        self.n_items = n_items
        src, dst, w = [], [], []
        for h in histories:
            for gap, weight in ((1, 1.0), (2, 0.5)) if self.skip else ((1, 1.0),):
                if len(h) > gap:
                    src.append(h[:-gap])
                    dst.append(h[gap:])
                    w.append(np.full(len(h) - gap, weight))
        t = sp.csr_matrix((np.concatenate(w), (np.concatenate(src), np.concatenate(dst))),
                          shape=(n_items, n_items), dtype=np.float32) if src else sp.csr_matrix((n_items, n_items), dtype=np.float32)
        if self.normalise:
            out = np.asarray(t.sum(axis=1)).ravel()
            out[out == 0] = 1.0
            t = sp.diags(1.0 / out) @ t
        self.transitions = t.tocsr()
        self.similarity = cosine_item_similarity(histories, n_items) if self.cosine_tie_break else None
        pop = np.asarray(user_item_matrix(histories, n_items).sum(axis=0)).ravel()
        self.popularity = (pop / max(pop.max(), 1.0)).astype(np.float32)
        return self

    def score(self, users, histories):
        recent = recent_items_matrix(histories, self.n_items, self.window, self.decay)
        scores = np.asarray((recent @ self.transitions).todense(), dtype=np.float32)
        if self.similarity is not None:
            scores += self.cosine_tie_break * np.asarray((recent @ self.similarity).todense(), dtype=np.float32)
        scores += self.popularity_tie_break * self.popularity
        return scores


@dataclass
class MatrixFactorisation(Strategy):
    """Implicit-feedback matrix factorisation with the `implicit` library: ALS (Hu,
    Koren & Volinsky, 2008) or BPR (Rendle et al., 2009). Scores are user . item factors,
    so a user must have been in training."""

    algorithm: str = "als"  # "als" | "bpr"
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 20
    learning_rate: float = 0.01  # bpr only
    alpha: float = 20.0  # als confidence scaling
    seed: int = 0
    name: str = ""
    uses_user_identity = True
    fitted_attributes = ("n_items", "user_factors", "item_factors")

    def __post_init__(self):
        self.name = self.name or self.algorithm

    def fit(self, histories, n_items):
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        self.n_items = n_items
        ui = user_item_matrix(histories, n_items)
        # implicit parallelises itself; nested BLAS threads only contend (it warns otherwise).
        with threadpool_limits(1, "blas"):
            if self.algorithm == "als":
                model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                                iterations=self.iterations, alpha=self.alpha, random_state=self.seed)
            elif self.algorithm == "bpr":
                model = BayesianPersonalizedRanking(factors=self.factors, learning_rate=self.learning_rate,
                                                    regularization=self.regularization, iterations=self.iterations,
                                                    random_state=self.seed)
            else:
                raise ValueError(f"unknown algorithm {self.algorithm!r}: use 'als' or 'bpr'")
            model.fit(ui, show_progress=False)
        self.user_factors = np.asarray(model.user_factors)
        self.item_factors = np.asarray(model.item_factors)
        return self

    def score(self, users, histories):
        return (self.user_factors[users] @ self.item_factors.T).astype(np.float32)
