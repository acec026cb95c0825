""""Popular in <group>" lists, released with differential privacy.

A shopper who joined after the model's training gets what is popular with their segment
(else their country, else the whole shop) and in the categories they viewed, each slot
saying so ("popular with bargain hunters"). Counted exactly, such a list reveals what the
few shoppers of a small group took. Here every list comes from DP counts:

    bounding     each shopper counts at most `contribution_bound` distinct items (their
                 most recent in the window), once per kind of group
    cells        per kind (segment, country, category, shop) the distinct shoppers per
                 (group, item), over public keys only: the merchant's segments and
                 countries, the catalogue's categories and items (a category's cells are
                 its own items); a shopper adds at most the bound to a kind's cells
    noise        discrete Laplace per cell (scale: bound / (epsilon / 4); OpenDP, as every
                 count in `mechanisms`); the four kinds share the release's epsilon
    minimum      a group is released when its noisy cells sum to at least
                 bound x min_group_size (so, noise aside, at least that many shoppers;
                 a decision on DP counts, post-processing); its items are ranked by noisy
                 count and the top `top` kept
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.privacy.mechanisms import Release, dp_counts

KINDS = ("segment", "country", "category", "shop")
SHOP = "(shop)"


@dataclass(frozen=True)
class PopularRelease:
    epsilon: float = 1.0
    contribution_bound: int = 3
    min_group_size: int = 10
    top: int = 50


def private_popular_items(cells: pd.DataFrame, keys: dict[str, list[str]], items_of: dict[str, list[str]],
                          settings: PopularRelease = PopularRelease()) -> tuple[pd.DataFrame, list[Release]]:
    """`cells`: kind, group, item_id, users (distinct shoppers after bounding); `keys`: kind
    -> its public groups; `items_of`: group -> its public items for the "category" kind,
    and "*" -> every item (the other kinds). Returns the released table (kind, group, rank,
    item_id, noisy_users, released) and one release per kind."""
    eps = settings.epsilon / len(KINDS)
    exact = cells.set_index(["kind", "group", "item_id"])["users"]
    rows, releases = [], []
    for kind in KINDS:
        groups = [SHOP] if kind == "shop" else list(keys.get(kind, []))
        index = [(g, i) for g in groups for i in (items_of.get(g, []) if kind == "category" else items_of["*"])]
        if not index:
            continue
        counts = np.array([exact.get((kind, g, i), 0) for g, i in index], dtype=np.int64)
        noisy, release = dp_counts(counts, eps, settings.contribution_bound,
                                   f"popular items per {kind}")
        releases.append(release)
        frame = pd.DataFrame(index, columns=["group", "item_id"]).assign(noisy_users=noisy)
        for group, part in frame.groupby("group", sort=False):
            released = part["noisy_users"].sum() >= settings.contribution_bound * settings.min_group_size
            if not released:
                rows.append({"kind": kind, "group": group, "rank": 0, "item_id": None, "noisy_users": None,
                             "released": False})
                continue
            ranked = part[part["noisy_users"] > 0].sort_values(["noisy_users", "item_id"], ascending=[False, True],
                                                               kind="stable").head(settings.top)
            rows += [{"kind": kind, "group": group, "rank": r, "item_id": item, "noisy_users": int(n), "released": True}
                     for r, (item, n) in enumerate(zip(ranked["item_id"], ranked["noisy_users"]), start=1)]
    table = pd.DataFrame(rows, columns=["kind", "group", "rank", "item_id", "noisy_users", "released"])
    return table, releases


def popular_lists(released: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(kind, group) -> its released items, most popular first (withheld groups absent)."""
    ok = released[released["released"].astype(bool) & released["item_id"].notna()]
    return {(k, g): part.sort_values("rank")["item_id"].tolist() for (k, g), part in ok.groupby(["kind", "group"])}
