"""Recommendation quality per segment, released with differential privacy.

The report a merchant shares beyond the data team (how well each shopper segment is
served) is a mean per group: NDCG@10 and hit rate of the served strategy's lists on the
test window. Each shopper is in one segment and contributes one value in [0, 1] to each
mean, so per segment three DP aggregates suffice: the shopper count (discrete Laplace,
sensitivity 1), the NDCG sum and the hit sum (Laplace, values clipped to [0, 1],
sensitivity 1), each with a third of the release's epsilon. The means are their ratios
(post-processing); a segment whose noisy count is below the minimum group size is withheld;
the shop-wide row is the sum of the noisy cells. An interval for a mean, from the noisy
figures alone: the sampling error of a mean of [0, 1] values (at most
sqrt(m (1 - m) / n)) and the noise's (Laplace variance 2 b^2 on the sum, over n^2), both
post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.privacy.mechanisms import Release, dp_counts, dp_sums, released_where

SHOP = "(shop)"


@dataclass(frozen=True)
class GroupMetricsRelease:
    epsilon: float = 0.5
    min_group_size: int = 10


def private_group_metrics(per_user: pd.DataFrame, groups: list[str], settings: GroupMetricsRelease = GroupMetricsRelease()
                          ) -> tuple[pd.DataFrame, list[Release]]:
    """`per_user`: group, ndcg, hit (one row per shopper, values in [0, 1]); `groups`: the
    public group names. Returns (group, noisy_users, ndcg_10, hit_rate_10, ndcg_low,
    ndcg_high, released) and the three releases."""
    eps = settings.epsilon / 3
    frame = per_user.assign(ndcg=per_user["ndcg"].clip(0, 1), hit=per_user["hit"].clip(0, 1))
    by = frame.groupby("group").agg(users=("ndcg", "size"), ndcg=("ndcg", "sum"), hit=("hit", "sum")).reindex(groups)
    by = by.fillna(0.0)
    users, r_users = dp_counts(by["users"].to_numpy(), eps, 1, "shoppers per segment (quality report)")
    ndcg, r_ndcg = dp_sums(by["ndcg"].to_numpy(), eps, 1, 1.0, "NDCG@10 sum per segment")
    hits, r_hits = dp_sums(by["hit"].to_numpy(), eps, 1, 1.0, "hits@10 per segment")
    rows = list(zip(groups, users, ndcg, hits, released_where(users, settings.min_group_size)))
    total = (SHOP, int(users.sum()), float(ndcg.sum()), float(hits.sum()),
             bool(users.sum() >= settings.min_group_size))
    out = []
    for group, n, s_ndcg, s_hit, ok in [*rows, total]:
        n_safe = max(int(n), 1)
        mean = float(np.clip(s_ndcg / n_safe, 0, 1))
        cells = len(groups) if group == SHOP else 1  # the shop's sum carries every cell's noise
        spread = 1.96 * np.sqrt(mean * (1 - mean) / n_safe + 2 * cells * r_ndcg.noise_scale ** 2 / n_safe ** 2)
        out.append({"group": group, "noisy_users": int(n) if ok else None,
                    "ndcg_10": mean if ok else None, "hit_rate_10": float(np.clip(s_hit / n_safe, 0, 1)) if ok else None,
                    "ndcg_low": max(0.0, mean - spread) if ok else None, "ndcg_high": min(1.0, mean + spread) if ok else None,
                    "released": bool(ok)})
    return pd.DataFrame(out), [r_users, r_ndcg, r_hits]
