"""Each segment's most-bought categories, released with differential privacy.

Two DP counts share the release's epsilon: distinct buyers per segment (each user is in
one segment: sensitivity 1) and purchases per (segment, category) with each user's
purchases capped at `contribution_bound` rows for the release (sensitivity: the bound).
A segment is released only when its noisy buyer count reaches `min_group_size`; its top
categories are read from the noisy counts (post-processing: no further cost). The shop's
own top categories are the sum of the noisy cells, released when the noisy buyers of the
whole shop reach the minimum, and stand in for a segment too small to describe. The keys,
segments and categories, are public (the merchant's segment names and the catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.privacy.mechanisms import Release, dp_counts, released_where

SHOP = "(shop)"
"""The shop-wide row's segment (never a segment name: users without one are segment 'all')."""


@dataclass(frozen=True)
class SegmentRelease:
    epsilon: float = 1.0
    """Spent by one release, half on buyers per segment and half on purchases per cell."""
    contribution_bound: int = 5
    """Purchases per user counted in one release."""
    min_group_size: int = 10
    top: int = 2


def private_segment_interests(purchases: pd.DataFrame, buyers: pd.DataFrame, segments: list[str],
                              categories: list[str], settings: SegmentRelease = SegmentRelease()
                              ) -> tuple[pd.DataFrame, list[Release]]:
    """`purchases`: segment, category, n (rows after bounding each user to the bound);
    `buyers`: segment, buyers (distinct). Returns the released table (segment, rank,
    category, noisy_purchases, noisy_buyers, released, source) and the two releases."""
    segments, categories = sorted(set(segments)), sorted(set(categories))
    if not segments or not categories:
        return pd.DataFrame(columns=["segment", "rank", "category", "noisy_purchases", "noisy_buyers", "released",
                                     "source"]), []
    half = settings.epsilon / 2.0
    true_buyers = buyers.set_index("segment")["buyers"].reindex(segments).fillna(0).astype(int).to_numpy()
    noisy_buyers, buyers_release = dp_counts(true_buyers, half, 1, "buyers per segment")
    cells = (purchases.groupby(["segment", "category"])["n"].sum()
             .reindex(pd.MultiIndex.from_product([segments, categories], names=["segment", "category"]))
             .fillna(0).astype(int))
    noisy_cells, cells_release = dp_counts(cells.to_numpy(), half, settings.contribution_bound,
                                           "purchases per segment and category")
    grid = pd.DataFrame({"segment": cells.index.get_level_values(0), "category": cells.index.get_level_values(1),
                         "noisy_purchases": noisy_cells})

    def top_of(rows: pd.DataFrame) -> pd.DataFrame:
        ordered = rows.sort_values(["noisy_purchases", "category"], ascending=[False, True]).head(settings.top)
        return ordered.assign(rank=np.arange(1, len(ordered) + 1))

    shop_buyers = int(noisy_buyers.sum())
    shop_released = bool(released_where(np.array([shop_buyers]), settings.min_group_size)[0])
    shop = top_of(grid.groupby("category", as_index=False)["noisy_purchases"].sum())
    rows = []
    for segment, size, ok in zip(segments, noisy_buyers, released_where(noisy_buyers, settings.min_group_size)):
        if ok:
            for r in top_of(grid[grid["segment"] == segment]).itertuples(index=False):
                rows.append({"segment": segment, "rank": r.rank, "category": r.category,
                             "noisy_purchases": int(r.noisy_purchases), "noisy_buyers": int(size), "released": True,
                             "source": "segment"})
        elif shop_released:
            for r in shop.itertuples(index=False):
                rows.append({"segment": segment, "rank": r.rank, "category": r.category,
                             "noisy_purchases": int(r.noisy_purchases), "noisy_buyers": int(size), "released": False,
                             "source": "shop (segment below the minimum group size)"})
        else:
            rows.append({"segment": segment, "rank": 0, "category": None, "noisy_purchases": 0,
                         "noisy_buyers": int(size), "released": False, "source": "nothing (shop below the minimum)"})
    if shop_released:
        for r in shop.itertuples(index=False):
            rows.append({"segment": SHOP, "rank": r.rank, "category": r.category, "noisy_purchases": int(r.noisy_purchases),
                         "noisy_buyers": shop_buyers, "released": True, "source": "shop"})
    return pd.DataFrame(rows), [buyers_release, cells_release]


def interests_of(table: pd.DataFrame) -> dict[str, list[str]]:
    """{segment: its categories in rank order} from a released table, for the segments
    (the shop-wide row left out: it is already what a small segment was given)."""
    out: dict[str, list[str]] = {}
    for segment, rows in table[table["segment"] != SHOP].sort_values(["segment", "rank"]).groupby("segment"):
        out[segment] = [c for c in rows["category"] if isinstance(c, str)]
    return out or {"all": []}
