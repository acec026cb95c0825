"""Top-K recommendation lists for many users, in bounded memory, with an explanation.

Users are scored `chunk_size` at a time (memory ~ chunk_size x n_items x 4 bytes), items
the user must not see again (e.g. already bought) and items nobody may see (hidden, out
of stock) are excluded before the top K is taken.

Each recommended item gets an anchor for its reason: the item of the user's recent
history most strongly linked to it in `explainer` (an item x item matrix, such as
transitions or cosine similarity), or -1 when nothing in the history links to it (then
the reason is popularity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml.recsys.candidates import Strategy


@dataclass
class TopK:
    users: np.ndarray  # (n, k) user index per slot
    items: np.ndarray  # (n, k) recommended item index, best first; -1 where fewer than k were allowed
    scores: np.ndarray  # (n, k)
    anchors: np.ndarray  # (n, k) history item explaining the recommendation, -1 if none
    origins: np.ndarray  # (n, k) index into origin_names: the strategy with the largest normalised contribution
    origin_names: list[str]


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def explain(histories: list[np.ndarray], items: np.ndarray, explainer: sp.csr_matrix, window: int = 10) -> np.ndarray:
    """For each (user, recommended item), the recent history item with the strongest link
    to it in `explainer` (rows: history items, columns: recommended items)."""
    anchors = np.full(items.shape, -1, dtype=np.int64)
    for r, h in enumerate(histories):
        recent = np.unique(h[::-1][:window])
        if len(recent) == 0:
            continue
        valid = items[r] >= 0
        links = explainer[recent][:, items[r][valid]].toarray()  # (len(recent), k)
        best = links.argmax(axis=0)
        strength = links[best, np.arange(links.shape[1])]
        anchors[r, valid] = np.where(strength > 0, recent[best], -1)
    return anchors


def recommend(strategy: Strategy, users: np.ndarray, histories: list[np.ndarray], k: int,
              exclude: list[np.ndarray] | None = None, blocked: np.ndarray | None = None,
              explainer: sp.csr_matrix | None = None, chunk_size: int = 1024) -> TopK:
    """Top `k` items per user. `exclude[i]`: items user i must not get again; `blocked`:
    boolean mask over items that nobody may get."""
    n = len(users)
    attributed = getattr(strategy, "score_and_attribution", None)
    origin_names = list(getattr(strategy, "attribution_names", None) or [getattr(strategy, "name", "model")])
    out_origins = np.zeros((n, k), dtype=np.int64)
    out_items = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), -np.inf, dtype=np.float32)
    out_anchors = np.full((n, k), -1, dtype=np.int64)
    for start in range(0, n, chunk_size):
        rows = slice(start, min(start + chunk_size, n))
        hist = histories[rows]
        if attributed is not None:
            scores, parts = attributed(users[rows], hist)
            scores = np.asarray(scores, dtype=np.float32)
        else:
            scores, parts = strategy.score(users[rows], hist).astype(np.float32, copy=False), None
        if blocked is not None:
            scores[:, blocked] = -np.inf
        if exclude is not None:
            for r, items in enumerate(exclude[rows]):
                scores[r, items] = -np.inf
        idx = top_k_indices(scores, k)
        best = np.take_along_axis(scores, idx, axis=1)
        idx = np.where(np.isneginf(best), -1, idx)
        out_items[rows, : idx.shape[1]] = idx
        out_scores[rows, : idx.shape[1]] = best
        if parts:
            safe = np.maximum(idx, 0)
            stacked = np.stack([np.take_along_axis(parts[name], safe, axis=1) if name in parts
                                else np.full(safe.shape, -np.inf, np.float32) for name in origin_names])
            out_origins[rows, : idx.shape[1]] = stacked.argmax(axis=0)
        if explainer is not None:
            out_anchors[rows, : idx.shape[1]] = explain(hist, idx, explainer)
    return TopK(np.repeat(users[:, None], k, axis=1), out_items, out_scores, out_anchors, out_origins, origin_names)
