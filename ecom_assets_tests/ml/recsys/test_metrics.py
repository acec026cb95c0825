"""Ranking and beyond-accuracy metrics against hand-computed values."""

import math

import numpy as np
import pytest

from ecom_assets.ml.recsys.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k


def test_metrics_match_hand_computed_values():
    rec = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    rel = [{2, 9}, {10}, set()]  # third user has nothing held out: skipped
    assert hit_rate_at_k(rec, rel, 3) == pytest.approx(0.5)
    assert recall_at_k(rec, rel, 3) == pytest.approx((1 / 2 + 0) / 2)
    # user 1: hit at rank 2 -> DCG 1/log2(3); ideal with 2 relevant: 1 + 1/log2(3)
    expected = ((1 / math.log2(3)) / (1 + 1 / math.log2(3)) + 0.0) / 2
    assert ndcg_at_k(rec, rel, 3) == pytest.approx(expected)
    assert ndcg_at_k(np.array([[5, 6]]), [{5}], 2) == pytest.approx(1.0)
    assert recall_at_k(rec, rel, 1) == 0.0


def test_beyond_accuracy_metrics_by_hand():
    from ecom_assets.ml.recsys.metrics import (
        catalogue_coverage,
        exposure_gini,
        gini,
        intra_list_diversity,
        map_at_k,
        novelty,
        popularity_bias,
    )

    rec = np.array([[0, 1, 2], [0, 3, -1]])
    group = np.array([0, 0, 1, 1, 2])
    assert catalogue_coverage(rec, 5) == pytest.approx(4 / 5)
    # list 1: pairs (0,1) same, (0,2) (1,2) differ -> 2/3; list 2: (0,3) differ -> 1
    assert intra_list_diversity(rec, group) == pytest.approx((2 / 3 + 1) / 2)
    pop = np.array([8, 4, 2, 1, 0])
    assert popularity_bias(rec, pop) == pytest.approx((8 + 4 + 2 + 8 + 1) / 5)
    assert novelty(rec, pop, 8) == pytest.approx((0 + 1 + 2 + 0 + 3) / 5)
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)
    assert exposure_gini(rec, group, 3) == pytest.approx(gini(np.array([3, 2, 0])))
    # AP: hits at ranks 1 and 3 of 2 relevant -> (1/1 + 2/3) / 2
    assert map_at_k(np.array([[5, 6, 7]]), [{5, 7}], 3) == pytest.approx((1 + 2 / 3) / 2)


def test_ranking_agreement_between_offline_and_online_orders():
    from ecom_assets.ml.recsys.metrics import ranking_agreement

    same = ranking_agreement({"a": 0.3, "b": 0.2, "c": 0.1}, {"a": 9.0, "b": 5.0, "c": 1.0, "d": 7.0})
    assert same["strategies"] == 3 and same["kendall_tau"] == pytest.approx(1.0) and same["same_best"]
    assert same["discordant_pairs"] == []
    flipped = ranking_agreement({"a": 0.3, "b": 0.2, "c": 0.1}, {"a": 1.0, "b": 5.0, "c": 3.0})
    # pairs: (a,b) discordant, (a,c) discordant, (b,c) concordant -> tau = (1 - 2) / 3
    assert flipped["kendall_tau"] == pytest.approx(-1 / 3) and flipped["discordant_pairs"] == ["a vs b", "a vs c"]
    assert flipped["offline_best"] == "a" and flipped["online_best"] == "b" and not flipped["same_best"]
    with pytest.raises(ValueError, match="at least two"):
        ranking_agreement({"a": 1.0}, {"a": 1.0, "b": 2.0})
