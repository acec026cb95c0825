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
