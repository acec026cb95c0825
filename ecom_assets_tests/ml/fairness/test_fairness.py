import math

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.fairness.exposure import (
    exposure_gini,
    gini,
    group_exposure,
    group_quality,
    item_exposure,
    per_user_ndcg,
    position_weights,
    price_tiers,
)
from ecom_assets.ml.fairness.rerank import ExposureConstraint, rerank_list, rerank_lists, tradeoff_curve


def _lists(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def test_exposure_follows_the_dcg_discount_by_hand():
    np.testing.assert_allclose(position_weights(3), [1.0, 1 / math.log2(3), 0.5])
    lists = _lists([("u1", "a", 1), ("u1", "b", 2), ("u2", "b", 1), ("u2", "c", 3)])
    exposure = item_exposure(lists)
    assert exposure["a"] == pytest.approx(1.0) and exposure["b"] == pytest.approx(1 + 1 / math.log2(3))
    assert exposure["c"] == pytest.approx(0.5)
    assert item_exposure(lists, k=2).index.tolist() == ["a", "b"], "rank 3 is outside the top 2"


def test_gini_by_hand_and_items_never_shown_count():
    assert gini([1, 1, 1, 1]) == 0.0 and gini([0, 0, 0, 1]) == pytest.approx(0.75) and gini([]) == 0.0
    lists = _lists([("u1", "a", 1)])
    assert exposure_gini(lists, ["a", "b", "c", "d"]) == pytest.approx(0.75)


def test_group_exposure_sets_the_share_beside_the_catalogue_share():
    lists = _lists([("u1", "a", 1), ("u1", "b", 2)])
    groups = pd.Series({"a": "new", "b": "established", "c": "established", "d": "established"})
    table = group_exposure(lists, groups).set_index("group")
    total = 1 + 1 / math.log2(3)
    assert table.loc["new", "exposure_share"] == pytest.approx(1 / total)
    assert table.loc["new", "catalogue_share"] == pytest.approx(0.25)
    assert table.loc["new", "exposure_ratio"] == pytest.approx(4 / total)
    tiers = price_tiers(pd.Series({"a": 1.0, "b": 5.0, "c": 9.0, "d": None}))
    assert tiers.to_dict() == {"a": "low", "b": "mid", "c": "high", "d": "unknown"}


def test_ndcg_per_user_and_quality_by_group_with_intervals():
    lists = _lists([("u1", "x", 1), ("u1", "y", 2), ("u2", "z", 1)])
    truth = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["y", "z", "q"]})
    ndcg = per_user_ndcg(lists, truth, k=10)
    assert ndcg["u1"] == pytest.approx(1 / math.log2(3)) and ndcg["u2"] == 1.0 and ndcg["u3"] == 0.0
    values = pd.Series([1.0, 1.0, 0.0, 1.0, 0.0, 0.0], index=list("abcdef"))
    groups = pd.Series({"a": "returning", "b": "returning", "c": "returning", "d": "new", "e": "new", "f": "new"})
    table = group_quality(values, groups, bootstraps=2000).set_index("group")
    assert table.loc["returning", "mean"] == pytest.approx(2 / 3) and table.loc["new", "mean"] == pytest.approx(1 / 3)
    assert table.loc["returning", "ci_low"] <= 2 / 3 <= table.loc["returning", "ci_high"]
    assert table.loc["new", "gap_to_best"] == pytest.approx(1 / 3)
    constant = group_quality(pd.Series([0.5, 0.5]), pd.Series(["g", "g"]))
    assert constant.loc[0, "ci_low"] == constant.loc[0, "ci_high"] == 0.5


def test_a_floor_gives_the_group_its_places_at_the_least_cost_to_the_order():
    items = [f"old{i}" for i in range(6)] + ["new0", "new1"]
    scores = [9, 8, 7, 6, 5, 4, 1, 0.5]
    groups = ["established"] * 6 + ["new"] * 2
    plain = rerank_list(items, scores, groups, items, ExposureConstraint(k=5))
    assert plain == ["old0", "old1", "old2", "old3", "old4"]
    floored = rerank_list(items, scores, groups, items, ExposureConstraint(k=5, floor_group="new", floor_share=0.4))
    assert floored == ["old0", "old1", "old2", "new0", "new1"], "the best three keep their places"
    # The floor cannot ask for more than the candidates hold.
    assert rerank_list(items, scores, groups, items, ExposureConstraint(k=5, floor_group="new", floor_share=1.0)
                       ) == ["old0", "old1", "old2", "new0", "new1"]


def test_a_cap_keeps_any_one_brand_under_its_share():
    items = ["a1", "a2", "a3", "a4", "b1", "c1"]
    scores = [10, 9, 8, 7, 2, 1]
    brands = ["A", "A", "A", "A", "B", "C"]
    capped = rerank_list(items, scores, ["x"] * 6, brands, ExposureConstraint(k=4, cap_share=0.5))
    assert capped == ["a1", "a2", "b1", "c1"]
    # When every other brand is exhausted the cap gives way rather than leave a place empty.
    assert len(rerank_list(items, scores, ["x"] * 6, brands, ExposureConstraint(k=6, cap_share=0.25))) == 6


def test_the_tradeoff_curve_buys_exposure_with_quality():
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for u in range(60):
        for i in range(20):
            item = f"i{i}"
            rows.append((f"u{u}", item, 20 - i + rng.normal(0, 0.1), "new" if i >= 15 else "established", item))
        truth.append((f"u{u}", f"i{rng.integers(0, 5)}"))
    candidates = pd.DataFrame(rows, columns=["user_id", "item_id", "score", "group", "cap_value"])
    truth = pd.DataFrame(truth, columns=["user_id", "item_id"])
    groups = pd.Series({f"i{i}": "new" if i >= 15 else "established" for i in range(20)})
    curve = tradeoff_curve(candidates, truth, groups.index, [ExposureConstraint(k=10, floor_group="new", floor_share=s)
                                                           for s in (0.0, 0.2, 0.5)], groups)
    assert curve["group_exposure_share"].is_monotonic_increasing and curve["group_exposure_share"].iloc[0] == 0.0
    assert curve["ndcg"].iloc[0] >= curve["ndcg"].iloc[-1]
    plain = rerank_lists(candidates, ExposureConstraint(k=10))
    assert curve["ndcg"].iloc[0] == pytest.approx(per_user_ndcg(plain, truth, 10).mean())
