"""Exposure with a position discount, by item and by group, and quality by shopper group.

Exposure follows Singh and Joachims ("Fairness of Exposure in Rankings", KDD 2018): the
attention a position gets falls off like the DCG discount, v_j = 1 / log2(1 + j) for
position j = 1, 2, ...; an item's exposure is the sum of v over every list it appears in,
and a group's is the sum over its items. Its share of all exposure, set beside its share
of the catalogue, says whether the lists concentrate attention on it. Concentration over
items is the Gini coefficient of item exposure (0: every item equal, towards 1: a few
items take it all), counting the items that never appear as zero.

Quality by group is the mean per-user NDCG@k with a percentile bootstrap interval over
the group's users (resampled with a seeded generator, so a report is reproducible).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def position_weights(k: int) -> np.ndarray:
    """v_j = 1 / log2(1 + j) for j = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def item_exposure(lists: pd.DataFrame, k: int | None = None) -> pd.Series:
    """Exposure per item from `lists` (user_id, item_id, rank: 1-based), top `k` of each."""
    ranked = lists if k is None else lists[lists["rank"] <= k]
    weights = 1.0 / np.log2(1.0 + ranked["rank"].to_numpy(dtype=np.float64))
    return pd.Series(weights, index=ranked["item_id"].to_numpy()).groupby(level=0).sum()


def gini(values) -> float:
    """Gini coefficient of non-negative values (0 when all are equal or there are none)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if not len(x) or x.sum() <= 0:
        return 0.0
    n = len(x)
    return float((2.0 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def exposure_gini(lists: pd.DataFrame, catalogue_items, k: int | None = None) -> float:
    """Gini of item exposure over the whole catalogue (items never shown count as zero)."""
    exposure = item_exposure(lists, k).reindex(pd.Index(pd.unique(np.asarray(list(catalogue_items))))).fillna(0.0)
    return gini(exposure.to_numpy())


def group_exposure(lists: pd.DataFrame, item_groups: pd.Series, k: int | None = None) -> pd.DataFrame:
    """Per group of `item_groups` (item_id -> group): exposure, its share, the group's share
    of the catalogue and their ratio (1: exposed in proportion to its size)."""
    exposure = item_exposure(lists, k)
    groups = item_groups.astype(object).fillna("unknown")
    by_group = exposure.groupby(groups.reindex(exposure.index).fillna("unknown").to_numpy()).sum()
    size = groups.value_counts()
    table = pd.DataFrame({"exposure": by_group.reindex(size.index).fillna(0.0), "items": size})
    total = float(table["exposure"].sum())
    table["exposure_share"] = table["exposure"] / total if total > 0 else 0.0
    table["catalogue_share"] = table["items"] / float(table["items"].sum())
    table["exposure_ratio"] = table["exposure_share"] / table["catalogue_share"]
    return table.rename_axis("group").reset_index().sort_values("exposure", ascending=False, ignore_index=True)


def price_tiers(prices: pd.Series, tiers: int = 3) -> pd.Series:
    """Price tier per item by quantile of the catalogue's prices ("low", "mid", "high" for
    three; tier numbers otherwise); items without a price are "unknown"."""
    names = ["low", "mid", "high"] if tiers == 3 else [f"tier {i + 1}" for i in range(tiers)]
    known = prices.dropna()
    if known.nunique() < tiers:
        return pd.Series("unknown", index=prices.index)
    cut = pd.qcut(known.rank(method="first"), tiers, labels=names)
    return cut.astype(object).reindex(prices.index).fillna("unknown")


def per_user_ndcg(lists: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """NDCG@k per user with any held-out item (`truth`: user_id, item_id; binary relevance):
    users without a list score 0."""
    relevant = truth.groupby("user_id")["item_id"].apply(set)
    top = lists[lists["rank"] <= k]
    discount = position_weights(k)
    gains = top.assign(hit=[item in relevant.get(u, ()) for u, item in zip(top["user_id"], top["item_id"])])
    dcg = (gains["hit"] * discount[gains["rank"].to_numpy() - 1]).groupby(gains["user_id"]).sum()
    ideal = relevant.apply(lambda items: discount[:min(len(items), k)].sum())
    return (dcg.reindex(relevant.index).fillna(0.0) / ideal).rename("ndcg")


def per_user_hits(lists: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> pd.Series:
    """HR@k per user with any held-out item: 1.0 when the top k holds one of them, else 0
    (users without a list too)."""
    top = lists[lists["rank"] <= k]
    held = pd.MultiIndex.from_frame(truth[["user_id", "item_id"]])
    hit_users = set(top.loc[pd.MultiIndex.from_frame(top[["user_id", "item_id"]]).isin(held), "user_id"])
    users = pd.Index(truth["user_id"].unique())
    return pd.Series(users.isin(hit_users).astype(float), index=users, name="hit").sort_index()


def group_quality(values: pd.Series, user_groups: pd.Series, bootstraps: int = 500, level: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """Mean of `values` (per user) by group of `user_groups` (user_id -> group), with a
    percentile bootstrap interval, and each group's gap to the best group."""
    rng = np.random.default_rng(seed)
    groups = user_groups.reindex(values.index).astype(object).fillna("unknown")
    rows = []
    for group, part in values.groupby(groups.to_numpy()):
        x = part.to_numpy(dtype=np.float64)
        means = x[rng.integers(0, len(x), size=(bootstraps, len(x)))].mean(axis=1) if len(x) else np.zeros(1)
        low, high = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
        rows.append({"group": group, "users": len(x), "mean": float(x.mean()) if len(x) else 0.0,
                     "ci_low": float(low), "ci_high": float(high)})
    table = pd.DataFrame(rows)
    if len(table):
        table["gap_to_best"] = table["mean"].max() - table["mean"]
    return table.sort_values("mean", ascending=False, ignore_index=True)
