"""Re-ranking a list under exposure constraints, and the trade-off it buys.

Each user's candidates (already scored, best first) are re-ranked into a top k, greedily:
position by position, the best remaining candidate is taken unless

    a floor     (`floor_group`, `floor_share`): at least ceil(share * k) of the k places
                go to the group (for example new items) when the candidates hold that
                many; once the places left equal the floor places still owed, only the
                group's candidates may be taken
    a cap       (`cap_column`, `cap_share`): no value (for example one brand) takes more
                than ceil(share * k) places; a candidate whose value is full is skipped

so the list stays as close to the score order as the constraints allow (the greedy is
optimal for a single floor and a single cap on top-k selection by score). The trade-off
curve runs the re-ranking at several levels and reports, for each, quality (NDCG@k) and
exposure concentration (item Gini) and the constrained group's exposure share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.fairness.exposure import exposure_gini, group_exposure, per_user_ndcg


@dataclass(frozen=True)
class ExposureConstraint:
    k: int = 10
    floor_group: str | None = None
    """A value of the candidates' `group` column owed places in every list (None: no floor)."""
    floor_share: float = 0.0
    cap_share: float | None = None
    """Most places any one value of the `cap_value` column may take (None: no cap)."""

    def floor_places(self) -> int:
        return math.ceil(self.floor_share * self.k - 1e-9) if self.floor_group is not None else 0

    def cap_places(self) -> int | None:
        return None if self.cap_share is None else max(1, math.ceil(self.cap_share * self.k - 1e-9))


def rerank_list(items: list, scores: list[float], groups: list, cap_values: list, constraint: ExposureConstraint) -> list:
    """The re-ranked top k of one list (candidates in any order; ties by input order)."""
    order = sorted(range(len(items)), key=lambda i: (-scores[i], i))
    k = min(constraint.k, len(order))
    owed = min(constraint.floor_places(), sum(groups[i] == constraint.floor_group for i in order))
    cap = constraint.cap_places()
    taken, used = [], {}
    chosen = set()
    for position in range(k):
        left = k - position
        must_floor = owed >= left and owed > 0
        pick = None
        for i in order:
            if i in chosen:
                continue
            if cap is not None and used.get(cap_values[i], 0) >= cap:
                continue
            if must_floor and groups[i] != constraint.floor_group:
                continue
            pick = i
            break
        if pick is None:  # the cap leaves nothing (every remaining value is full): relax it
            pick = next((i for i in order if i not in chosen and (not must_floor or groups[i] == constraint.floor_group)),
                        None)
            if pick is None:
                break
        chosen.add(pick)
        taken.append(items[pick])
        used[cap_values[pick]] = used.get(cap_values[pick], 0) + 1
        if groups[pick] == constraint.floor_group and owed > 0:
            owed -= 1
    return taken


def rerank_lists(candidates: pd.DataFrame, constraint: ExposureConstraint) -> pd.DataFrame:
    """`candidates`: user_id, item_id, score, group, cap_value. Returns user_id, item_id,
    rank (1-based) of every user's re-ranked top k."""
    rows = []
    for user, part in candidates.groupby("user_id", sort=False):
        chosen = rerank_list(part["item_id"].tolist(), part["score"].tolist(), part["group"].tolist(),
                             part["cap_value"].tolist(), constraint)
        rows += [(user, item, rank) for rank, item in enumerate(chosen, start=1)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def tradeoff_curve(candidates: pd.DataFrame, truth: pd.DataFrame, catalogue_items, constraints: list[ExposureConstraint],
                   item_groups: pd.Series) -> pd.DataFrame:
    """Per constraint level: NDCG@k (mean over users with held-out items), item exposure
    Gini over the catalogue, and the floor group's exposure share."""
    rows = []
    for constraint in constraints:
        lists = rerank_lists(candidates, constraint)
        shares = group_exposure(lists, item_groups, constraint.k).set_index("group")["exposure_share"]
        rows.append({"floor_group": constraint.floor_group, "floor_share": constraint.floor_share,
                     "cap_share": constraint.cap_share, "k": constraint.k,
                     "ndcg": float(per_user_ndcg(lists, truth, constraint.k).mean()) if len(truth) else np.nan,
                     "exposure_gini": exposure_gini(lists, catalogue_items, constraint.k),
                     "group_exposure_share": float(shares.get(constraint.floor_group, 0.0))
                     if constraint.floor_group is not None else np.nan})
    return pd.DataFrame(rows)


def constrain_lists(lists: pd.DataFrame, floor_groups: pd.Series, cap_values: pd.Series,
                    constraint: ExposureConstraint) -> pd.DataFrame:
    """Served lists (user_id, rank, item_id, score and any other columns; longer than k)
    re-ranked under `constraint` into each user's top k, their other columns kept and
    rank renumbered. `floor_groups` / `cap_values`: item_id -> the item's group / value."""
    candidates = lists.assign(group=floor_groups.reindex(lists["item_id"]).to_numpy(),
                              cap_value=cap_values.reindex(lists["item_id"]).fillna("unknown").to_numpy())
    # Scores are compared within a user's list; the served rank orders ties as it did.
    candidates = candidates.assign(score=-candidates["rank"].astype(float))
    chosen = rerank_lists(candidates[["user_id", "item_id", "score", "group", "cap_value"]], constraint)
    kept = lists.drop(columns=["rank"]).merge(chosen, on=["user_id", "item_id"], how="inner")
    return kept.sort_values(["user_id", "rank"], ignore_index=True)[list(lists.columns)]
