"""A/B read-outs: assignment, sample-ratio mismatch, the false-positive rate of A/A tests,
power at the planned effect, and p-values that survive daily peeking."""

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.bandits.abtest import (
    always_valid_pvalues,
    assign,
    minimum_detectable_effect,
    power,
    readout,
    srm_check,
)


def test_assignment_is_deterministic_salted_and_follows_the_weights():
    users = [f"u_{i:024x}" for i in range(100_000)]
    arms = assign(users, ["control", "treatment"], salt="exp-1", weights=[0.3, 0.7])
    assert list(assign(users[:50], ["control", "treatment"], salt="exp-1", weights=[0.3, 0.7])) == list(arms[:50])
    assert abs((arms == "control").mean() - 0.3) < 0.005
    other = assign(users, ["control", "treatment"], salt="exp-2", weights=[0.3, 0.7])
    assert 0.45 < ((arms == "control") == (other == "control")).mean() < 0.65, "a new salt reshuffles"
    with pytest.raises(ValueError):
        assign(users[:3], ["a", "b"], salt="s", weights=[0.5, 0.6])


def test_a_one_point_traffic_imbalance_at_1e5_users_is_flagged():
    assert srm_check({"a": 50_500, "b": 49_500})["mismatch"]
    assert not srm_check({"a": 50_020, "b": 49_980})["mismatch"]
    assert srm_check({"a": 30_000, "b": 70_000}, {"a": 0.3, "b": 0.7})["p_value"] == pytest.approx(1.0)


def _per_user(rng, n, rates, revenue=20.0):
    arms = np.repeat(list(rates), n)
    converted = np.concatenate([rng.random(n) < p for p in rates.values()]).astype(int)
    return pd.DataFrame({"arm": arms, "converted": converted, "revenue": converted * rng.exponential(revenue, len(arms))})


def test_a_readout_reports_lift_interval_and_revenue():
    rng = np.random.default_rng(0)
    table = readout(_per_user(rng, 20_000, {"control": 0.10, "new": 0.12}), control="control").set_index("arm")
    new = table.loc["new"]
    assert new["lift_low"] < 0.02 < new["lift_high"] and new["p_value"] < 0.001
    assert new["relative_low"] < 0.2 < new["relative_high"]
    assert new["revenue_low"] < new["revenue_diff"] < new["revenue_high"]
    assert not new["srm_mismatch"] and table.loc["control", "users"] == 20_000
    with pytest.raises(ValueError, match="control arm"):
        readout(_per_user(rng, 10, {"a": 0.1}), control="b")


def test_five_hundred_aa_tests_reject_about_five_percent():
    rng = np.random.default_rng(11)
    rejections = [readout(_per_user(rng, 3_000, {"a": 0.1, "b": 0.1}), control="a").iloc[1]["p_value"] < 0.05
                  for _ in range(500)]
    assert 0.03 <= np.mean(rejections) <= 0.07, np.mean(rejections)


def test_power_at_the_planned_effect_is_eighty_percent():
    baseline, n = 0.08, 10_000
    mde = minimum_detectable_effect(baseline, n, power=0.8)
    assert power(baseline, mde, n) == pytest.approx(0.8, abs=1e-3)
    rng = np.random.default_rng(3)
    hits = [readout(_per_user(rng, n, {"a": baseline, "b": baseline + mde}), control="a").iloc[1]["p_value"] < 0.05
            for _ in range(300)]
    assert np.mean(hits) >= 0.75, np.mean(hits)  # 0.8 expected; 300 runs have a standard error of 2.3 points


def _daily_looks(rng, days, per_day, p_a, p_b):
    a = rng.random((days, per_day)) < p_a
    b = rng.random((days, per_day)) < p_b
    n = per_day * np.arange(1, days + 1)
    sa, sb = a.sum(axis=1).cumsum(), b.sum(axis=1).cumsum()
    return pd.DataFrame({"n_a": n, "sum_a": sa, "sumsq_a": sa, "n_b": n, "sum_b": sb, "sumsq_b": sb})


def test_always_valid_p_values_survive_daily_peeking_where_the_z_test_does_not():
    from statsmodels.stats.proportion import proportions_ztest

    rng = np.random.default_rng(8)
    naive, valid = [], []
    for _ in range(400):
        looks = _daily_looks(rng, 14, 500, 0.1, 0.1)
        ps = [proportions_ztest([r.sum_b, r.sum_a], [r.n_b, r.n_a])[1] for r in looks.itertuples()]
        naive.append(min(ps) < 0.05)
        valid.append(always_valid_pvalues(looks)[-1] < 0.05)
    assert np.mean(naive) > 0.1, "peeking daily at a z-test inflates false positives"
    assert np.mean(valid) <= 0.05, np.mean(valid)
    effect = [always_valid_pvalues(_daily_looks(rng, 14, 2_000, 0.10, 0.12))[-1] < 0.05 for _ in range(50)]
    assert np.mean(effect) > 0.8, "a real effect is still found"
    p = always_valid_pvalues(_daily_looks(rng, 5, 100, 0.1, 0.3))
    assert (np.diff(p) <= 0).all(), "an always-valid p-value never goes back up"
