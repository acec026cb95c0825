"""The fairness report's groupings, bounds, trade-off and served-list constraint."""

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.fairness.report import (
    FairnessBounds,
    FairnessReport,
    TradeoffLevels,
    concerns,
    exposure_report,
    item_groups,
    quality_report,
    render_html,
    tradeoff,
    user_groups,
)
from ecom_assets.ml.fairness.rerank import ExposureConstraint, constrain_lists

AS_OF = pd.Timestamp("2026-10-01")


def _items(n=12):
    return pd.DataFrame({"item_id": [f"i{j}" for j in range(n)],
                         "brand": ["A" if j < 6 else "B" for j in range(n)],
                         "category_l2": ["c1" if j % 2 else "c2" for j in range(n)],
                         "price": np.arange(n, dtype=float) + 1,
                         "launch_date": [AS_OF - pd.Timedelta(days=10 if j >= 9 else 400) for j in range(n)]})


def test_items_are_new_when_launched_within_the_window_and_tiered_by_price():
    groups = item_groups(_items(), AS_OF, new_item_days=60)
    assert groups.loc[["i9", "i10", "i11"], "item_age"].eq("new").all()
    assert groups.loc["i0", "item_age"] == "established"
    assert groups.loc["i0", "price_tier"] == "low" and groups.loc["i11", "price_tier"] == "high"
    missing = _items().assign(launch_date=pd.NaT)
    assert item_groups(missing, AS_OF).loc["i0", "item_age"] == "unknown"


def test_shoppers_are_grouped_by_activity_tertile_and_tenure():
    users = pd.DataFrame({"user_id": [f"u{j}" for j in range(7)], "segment": ["s"] * 7,
                          "preferred_language": ["en", "zh"] * 3 + [None]})
    counts = pd.Series([1, 2, 3, 4, 5, 6], index=[f"u{j}" for j in range(6)])
    groups = user_groups(users, counts, counts > 0)
    assert groups.loc["u0", "activity"] == "light" and groups.loc["u5", "activity"] == "heavy"
    assert groups.loc["u6", "activity"] == "new" and groups.loc["u6", "tenure"] == "new"
    assert groups.loc["u6", "language"] == "unknown"


def _lists_and_truth():
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for u in range(60):
        order = rng.permutation(12)
        rows += [(f"u{u}", f"i{j}", r + 1) for r, j in enumerate(order[:8])]
        truth.append((f"u{u}", f"i{order[0] if u < 30 else order[7]}"))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"]), pd.DataFrame(truth, columns=["user_id", "item_id"])


def test_quality_by_group_and_the_bounds_it_crosses():
    lists, truth = _lists_and_truth()
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(60)], "segment": ["hit"] * 30 + ["miss"] * 30,
                          "preferred_language": "en"})
    counts = pd.Series(1, index=users["user_id"])
    quality = quality_report(lists, truth, user_groups(users, counts, counts > 0), k=5, bootstraps=200)
    seg = quality[quality["dimension"] == "segment"].set_index("group")
    assert seg.loc["hit", "ndcg_5"] == pytest.approx(1.0) and seg.loc["miss", "ndcg_5"] == pytest.approx(0.0)
    exposure, gini = exposure_report(lists, item_groups(_items(), AS_OF), k=5)
    assert set(exposure["dimension"]) == {"brand", "category", "price_tier", "item_age"}
    report = FairnessReport(exposure, quality, pd.DataFrame(), {"exposure_gini": gini})
    found = concerns(report, FairnessBounds(max_exposure_gini=0.99, max_brand_share=0.99, max_quality_gap=0.5,
                                            min_group_users=10))
    assert [c for c in found if c.startswith("segment")] == ["segment miss: NDCG 100% below hit (intervals apart) > 50%"]
    assert not any(c.startswith("language") for c in found), "one language: no gap"
    assert concerns(report, FairnessBounds(max_quality_gap=0.5, min_group_users=31, max_brand_share=0.99)) == []
    assert any("Gini" in c for c in concerns(report, FairnessBounds(max_exposure_gini=0.0, min_group_users=99)))
    assert "<svg" in render_html(report)


def test_a_floor_for_new_items_raises_their_exposure_and_a_cap_limits_a_brand():
    lists, truth = _lists_and_truth()
    groups = item_groups(_items(), AS_OF)
    curve = tradeoff(lists.assign(score=-lists["rank"].astype(float)), truth, groups,
                     TradeoffLevels(new_item_floors=(0.0, 0.4), brand_caps=(None, 0.4), k=5))
    assert len(curve) == 4
    no_floor = curve[(curve["floor_share"] == 0) & curve["cap_share"].isna()].iloc[0]
    floor = curve[(curve["floor_share"] == 0.4) & curve["cap_share"].isna()].iloc[0]
    assert floor["new_item_exposure_share"] > no_floor["new_item_exposure_share"]
    served = lists.assign(score=1.0, reason="r")
    capped = constrain_lists(served, groups["item_age"], groups["brand"], ExposureConstraint(k=5, cap_share=0.6))
    assert list(capped.columns) == list(served.columns)
    per_user = capped.assign(brand=groups["brand"].reindex(capped["item_id"]).to_numpy()).groupby(
        ["user_id", "brand"]).size()
    assert per_user.max() <= 3 and (capped.groupby("user_id")["rank"].max() == 5).all()
