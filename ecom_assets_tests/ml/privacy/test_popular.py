"""The DP "popular in" release: public keys, the minimum group size, the budget split."""

import pandas as pd
import pytest

from ecom_assets.ml.privacy.popular import PopularRelease, popular_lists, private_popular_items


def _cells(crowd: int):
    rows = [("segment", "crowd", "lamp", crowd), ("segment", "crowd", "mug", crowd // 2), ("segment", "vip", "telescope", 1),
            ("shop", "(shop)", "lamp", crowd), ("shop", "(shop)", "mug", crowd // 2), ("shop", "(shop)", "telescope", 1)]
    return pd.DataFrame(rows, columns=["kind", "group", "item_id", "users"])


KEYS = {"segment": ["crowd", "vip"], "country": [], "category": []}
ITEMS = {"*": ["lamp", "mug", "telescope"]}


def test_a_group_too_small_to_hide_in_is_withheld_and_the_rest_ranked():
    table, releases = private_popular_items(_cells(200), KEYS, ITEMS,
                                            PopularRelease(epsilon=1e6, contribution_bound=2, min_group_size=10))
    lists = popular_lists(table)
    assert lists[("segment", "crowd")][:2] == ["lamp", "mug"]
    assert ("segment", "vip") not in lists, "one buyer of a telescope is not released"
    assert not table.loc[(table["kind"] == "segment") & (table["group"] == "vip"), "released"].any()
    assert lists[("shop", "(shop)")][0] == "lamp"
    # Epsilon split evenly over the four kinds; a kind with no public groups releases nothing.
    assert [r.query for r in releases] == ["popular items per segment", "popular items per shop"]
    assert all(r.epsilon == pytest.approx(1e6 / 4) and r.contribution_bound == 2 for r in releases)


def test_noise_scale_is_the_bound_over_the_kind_s_epsilon():
    _, releases = private_popular_items(_cells(50), KEYS, ITEMS, PopularRelease(epsilon=2.0, contribution_bound=3))
    assert all(r.noise_scale == pytest.approx(3 / 0.5) for r in releases)
    assert releases[0].cells == 2 * 3, "every (group, item) key is noised, zeros included"


def test_quality_per_segment_is_released_from_dp_sums_and_small_segments_withheld():
    from ecom_assets.ml.privacy.group_metrics import GroupMetricsRelease, private_group_metrics

    per_user = pd.DataFrame({"group": ["a"] * 40 + ["b"] * 60 + ["tiny"] * 2,
                             "ndcg": [0.5] * 40 + [0.25] * 60 + [1.0] * 2, "hit": [1.0] * 40 + [0.0] * 60 + [1.0] * 2})
    table, releases = private_group_metrics(per_user, ["a", "b", "tiny", "empty"],
                                            GroupMetricsRelease(epsilon=3e6, min_group_size=10))
    rows = table.set_index("group")
    assert rows.loc["a", "ndcg_10"] == pytest.approx(0.5, abs=1e-3) and rows.loc["a", "hit_rate_10"] == pytest.approx(1.0)
    assert rows.loc["b", "ndcg_10"] == pytest.approx(0.25, abs=1e-3) and rows.loc["b", "noisy_users"] == 60
    assert not rows.loc["tiny", "released"] and pd.isna(rows.loc["tiny", "ndcg_10"])
    assert not rows.loc["empty", "released"]
    assert rows.loc["(shop)", "noisy_users"] == 102
    assert rows.loc["a", "ndcg_low"] < 0.5 < rows.loc["a", "ndcg_high"]
    assert [r.sensitivity for r in releases] == [1.0, 1.0, 1.0]
    assert sum(r.epsilon for r in releases) == pytest.approx(3e6, rel=1e-6)
