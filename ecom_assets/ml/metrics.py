"""Top-K ranking metrics over recommendation lists.

`recommended` is an (n_users, >=k) array of item indices, best first; `relevant` holds
each user's set of held-out items. Users with no relevant items are skipped, as is
standard (they carry no signal). Definitions follow Järvelin & Kekäläinen (2002) for
NDCG with binary gains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _hits(recommended: np.ndarray, relevant: Sequence[set], k: int) -> tuple[np.ndarray, np.ndarray]:
    rec = np.asarray(recommended)[:, :k]
    hits = np.array([[item in rel for item in row] for row, rel in zip(rec, relevant)], dtype=bool).reshape(len(rec), -1)
    n_rel = np.array([len(rel) for rel in relevant])
    return hits, n_rel


def hit_rate_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    hits, n_rel = _hits(recommended, relevant, k)
    mask = n_rel > 0
    return float(hits[mask].any(axis=1).mean()) if mask.any() else 0.0


def recall_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    hits, n_rel = _hits(recommended, relevant, k)
    mask = n_rel > 0
    return float((hits[mask].sum(axis=1) / n_rel[mask]).mean()) if mask.any() else 0.0


def ndcg_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    hits, n_rel = _hits(recommended, relevant, k)
    mask = n_rel > 0
    if not mask.any():
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits[mask] * discounts).sum(axis=1)
    ideal = np.array([discounts[: min(n, hits.shape[1])].sum() for n in n_rel[mask]])
    return float((dcg / ideal).mean())
