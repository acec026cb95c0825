"""Copy variants as arms: the arm of a text, the features a policy sees, and the
propensities of a choice restricted to the arms that have a text."""

import numpy as np
import pytest

from ecom_assets.ml.copy.arms import ARMS, SHORT_COLUMNS, arm_features, arm_of, display_width, restrict, states_discount


def test_the_arm_of_a_text_is_its_language_whether_it_states_a_discount_and_its_length():
    assert arm_of("en", "Nexvi Canvas Sneakers - White.") == "en:plain:short"
    assert arm_of("en", "Save 15% on Nexvi Everyday Canvas Sneakers - White, made for the long walk home.") \
        == "en:deal:long"
    assert arm_of("zh", "芬维豪华被套 S码，仅需65.40元。") == "zh:plain:short"  # a price is not a discount
    assert arm_of("zh", "购买可摩便携洗发水 30毫升，享受25%的折扣，不容错过！") == "zh:deal:short"
    assert states_discount("全场8折") and states_discount("now 12.5 % off") and not states_discount("Pack of 2")
    with pytest.raises(ValueError, match="copy language 'fr'"):
        arm_of("fr", "Bonjour")


def test_chinese_characters_take_two_columns():
    assert display_width("abc") == 3 and display_width("洗发水") == 6 and display_width("ＡＢ") == 4
    assert arm_of("zh", "好" * (SHORT_COLUMNS // 2)) == "zh:plain:short"
    assert arm_of("zh", "好" * (SHORT_COLUMNS // 2 + 1)) == "zh:plain:long"


def test_features_mark_the_arm_the_segment_the_language_match_the_deal_and_the_slot():
    x = arm_features(np.array([0, 2]), 3, np.array(["zh", "en"]), np.array([True, False]), np.array([1, 3]))
    n_arms = len(ARMS)
    assert x.shape == (2, n_arms, n_arms + 3 * 2 + 3 + 1 + 1 + 3)
    np.testing.assert_array_equal(x[:, :, :n_arms], np.broadcast_to(np.eye(n_arms), (2, n_arms, n_arms)))
    match = x[:, :, n_arms + 9]
    np.testing.assert_array_equal(match[0], (ARMS["language"] == "zh").to_numpy(float))
    deal = x[:, :, n_arms + 10]
    np.testing.assert_array_equal(deal[0], (ARMS["family"] == "deal").to_numpy(float))
    assert deal[1].sum() == 0, "no deal feature for an item not on sale"
    np.testing.assert_array_equal(x[1, 0, -3:], [0, 0, 1])
    with pytest.raises(ValueError, match="segment codes"):
        arm_features(np.array([3]), 3, np.array(["en"]), np.array([False]), np.array([1]))
    with pytest.raises(ValueError, match="positions"):
        arm_features(np.array([0]), 3, np.array(["en"]), np.array([False]), np.array([4]))


def test_restricted_propensities_renormalise_over_the_arms_with_a_text():
    dist = np.array([[0.5, 0.3, 0.2], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    available = np.array([[True, True, False], [True, True, False], [False, False, False]])
    np.testing.assert_allclose(restrict(dist, available), [[0.625, 0.375, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
