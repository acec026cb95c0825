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


def map_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """Mean average precision at k: AP@k = sum_i P@i * rel_i / min(|rel|, k)."""
    hits, n_rel = _hits(recommended, relevant, k)
    mask = n_rel > 0
    if not mask.any():
        return 0.0
    h = hits[mask]
    precision = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    ap = (precision * h).sum(axis=1) / np.minimum(n_rel[mask], h.shape[1])
    return float(ap.mean())


# ----------------------------------------------------------------- beyond accuracy
def catalogue_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    items = np.unique(recommended[recommended >= 0])
    return float(len(items) / n_items) if n_items else 0.0


def intra_list_diversity(recommended: np.ndarray, item_group: np.ndarray) -> float:
    """Mean share of item pairs within a list that belong to different groups (e.g.
    categories); 0 = every list from one group (Ziegler et al., 2005, with a 0/1 distance)."""
    groups = np.where(recommended >= 0, item_group[np.maximum(recommended, 0)], -1)
    scores = []
    for row, valid in zip(groups, recommended >= 0):
        g = row[valid]
        n = len(g)
        if n < 2:
            continue
        _, counts = np.unique(g, return_counts=True)
        same_pairs = (counts * (counts - 1)).sum() / 2
        scores.append(1.0 - same_pairs / (n * (n - 1) / 2))
    return float(np.mean(scores)) if scores else 0.0


def novelty(recommended: np.ndarray, item_popularity: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p(i)) of recommended items, p(i) = share of users who
    interacted with i (Zhou et al., 2010); unseen items count as seen by one user."""
    items = recommended[recommended >= 0]
    p = np.maximum(item_popularity[items], 1) / max(n_users, 1)
    return float((-np.log2(p)).mean()) if len(items) else 0.0


def popularity_bias(recommended: np.ndarray, item_popularity: np.ndarray) -> float:
    """Average popularity (interaction count) of recommended items."""
    items = recommended[recommended >= 0]
    return float(item_popularity[items].mean()) if len(items) else 0.0


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 = perfectly even, -> 1 = all on one."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = len(v)
    if n == 0 or v.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * v).sum()) / (n * v.sum()) - (n + 1) / n)


def exposure_gini(recommended: np.ndarray, item_group: np.ndarray, n_groups: int) -> float:
    """How unevenly recommendation slots are spread over groups (brands, categories),
    every group counted, including those never shown."""
    items = recommended[recommended >= 0]
    return gini(np.bincount(item_group[items], minlength=n_groups))


def ranking_agreement(offline: dict[str, float], online: dict[str, float]) -> dict:
    """Do two measurements order the same strategies alike? Kendall's tau-b and
    Spearman's rho between the two scores (higher is better in both), each with its
    p-value, whether the winner is the same, and the pairs the two order differently."""
    from scipy.stats import kendalltau, spearmanr

    names = sorted(set(offline) & set(online))
    if len(names) < 2:
        raise ValueError(f"need at least two strategies measured both ways, got {names}")
    a, b = np.array([offline[n] for n in names]), np.array([online[n] for n in names])
    tau, tau_p = kendalltau(a, b)
    rho, rho_p = spearmanr(a, b)
    discordant = [f"{x} vs {y}" for i, x in enumerate(names) for j, y in enumerate(names)
                  if i < j and (a[i] - a[j]) * (b[i] - b[j]) < 0]
    return {"strategies": len(names), "kendall_tau": float(tau), "kendall_p": float(tau_p),
            "spearman_rho": float(rho), "spearman_p": float(rho_p),
            "offline_best": names[int(np.argmax(a))], "online_best": names[int(np.argmax(b))],
            "same_best": bool(np.argmax(a) == np.argmax(b)), "discordant_pairs": discordant}
