"""Offline evaluation under the leave-one-out, rank-all-items protocol.

For one held-out target per user, HR@K is 1 if the target ranks in the top K, and
NDCG@K is 1 / log2(rank + 2) then (0-based rank; Järvelin & Kekäläinen, 2002). Items in
the user's history are excluded from the ranking; ties are broken uniformly at random
(rank = #better + a uniform draw among the equally scored), never in the target's favour.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from ecom_assets.ml.recsys.candidates import Strategy
from ecom_assets.ml.recsys.sequences import Split

ScoreFn = Callable[[np.ndarray, list[np.ndarray]], np.ndarray]


def target_ranks(scores: np.ndarray, targets: np.ndarray, histories: Sequence[np.ndarray],
                 rng: np.random.Generator, exclude_history: bool = True) -> np.ndarray:
    """0-based rank of each row's target among all items (history excluded)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude_history:
        for r, h in enumerate(histories):
            scores[r, h] = -np.inf
    t = scores[np.arange(len(targets)), targets]
    better = (scores > t[:, None]).sum(axis=1)
    ties = (scores == t[:, None]).sum(axis=1) - 1  # not counting the target itself
    ranks = better + np.floor(rng.random(len(targets)) * (ties + 1)).astype(np.int64)
    return np.where(np.isneginf(t), scores.shape[1], ranks)  # a target in the history cannot be found


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = (10, 20)) -> dict[str, float]:
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    out["MRR"] = float((1.0 / (ranks + 1.0)).mean())
    return out


def ranks_for(score: ScoreFn, split: Split, batch_size: int = 1024, seed: int = 0,
              users: np.ndarray | None = None) -> np.ndarray:
    """Ranks of the split's targets, scoring `batch_size` users at a time."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(split.targets)) if users is None else users
    out = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), batch_size):
        idx = rows[start:start + batch_size]
        hist = [split.histories[i] for i in idx]
        out[start:start + len(idx)] = target_ranks(score(split.users[idx], hist), split.targets[idx], hist, rng)
    return out


def evaluate(strategy: Strategy, split: Split, ks: Sequence[int] = (10, 20), batch_size: int = 1024,
             seed: int = 0) -> dict[str, float]:
    t0 = time.perf_counter()
    metrics = metrics_from_ranks(ranks_for(strategy.score, split, batch_size, seed), ks)
    metrics["score_seconds"] = time.perf_counter() - t0
    return metrics
