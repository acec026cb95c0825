import duckdb
import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.privacy.accountant import BudgetExceeded, PrivacyAccountant, PrivacyBudget
from ecom_assets.ml.privacy.bounding import bounded_rows_sql
from ecom_assets.ml.privacy.mechanisms import (
    PrivacyParameterError,
    count_scale,
    dp_counts,
    dp_sums,
    released_where,
    sum_scale,
)
from ecom_assets.ml.privacy.segments import SegmentRelease, interests_of, private_segment_interests


def test_noise_scales_follow_the_laplace_formula_and_opendp_certifies_them():
    assert count_scale(0.5, 5) == pytest.approx(10.0)
    assert sum_scale(2.0, 4, 30.0) == pytest.approx(60.0)
    _, release = dp_counts([10, 20, 30], epsilon=0.5, contribution_bound=5, query="q")
    assert release.noise_scale == pytest.approx(10.0) and release.epsilon == pytest.approx(0.5)
    assert release.sensitivity == 5 and release.cells == 3 and release.mechanism == "discrete Laplace"
    _, release = dp_sums([100.0, 5.0], epsilon=2.0, contribution_bound=4, clip=30.0, query="s")
    assert release.noise_scale == pytest.approx(60.0) and release.epsilon == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(PrivacyParameterError):
        dp_counts([1], epsilon=0.0, contribution_bound=1, query="q")
    with pytest.raises(PrivacyParameterError):
        dp_counts([1], epsilon=1.0, contribution_bound=0, query="q")


def test_dp_counts_are_integers_centred_on_the_truth_with_the_laplace_spread():
    truth = np.full(4000, 50)
    noisy, release = dp_counts(truth, epsilon=1.0, contribution_bound=2, query="q")
    assert noisy.dtype.kind == "i" and not np.array_equal(noisy, truth)
    error = noisy - truth
    # Discrete Laplace with scale 2: mean 0, variance close to 2 b^2 = 8.
    assert abs(error.mean()) < 0.3 and 6.0 < error.var() < 10.0


def test_the_accountant_refuses_a_release_that_would_overspend_the_period():
    budget = PrivacyBudget(epsilon=2.0, period="W")
    accountant = PrivacyAccountant(budget)
    _, first = dp_counts([5], epsilon=1.5, contribution_bound=1, query="segment interests")
    at = pd.Timestamp("2026-11-30 10:00")  # a Monday
    accountant.authorise([first], at)
    accountant.ledger = accountant.entries([first], at, run_id="r1", release_id="x1")
    assert accountant.spent(at)[0] == pytest.approx(1.5) and accountant.remaining(at) == pytest.approx(0.5)
    _, second = dp_counts([5], epsilon=1.0, contribution_bound=1, query="popular in category")
    with pytest.raises(BudgetExceeded, match="popular in category: epsilon 1 asked, 0.5 of 2 left"):
        accountant.authorise([second], at + pd.Timedelta(days=2))
    accountant.authorise([second], at + pd.Timedelta(days=7))  # the next week's budget is fresh


def test_bounded_contributions_hold_and_the_choice_is_deterministic():
    con = duckdb.connect()
    con.execute("CREATE TABLE e AS SELECT 'u' || (i % 3) AS user_id, 'i' || i AS item_id, i AS ts FROM range(100) t(i)")
    sql = bounded_rows_sql("SELECT * FROM e", "user_id", 5, ["user_id", "item_id", "ts"])
    kept = con.execute(sql + " ORDER BY user_id, ts").df()
    assert kept.groupby("user_id").size().max() == 5 and set(kept.columns) == {"user_id", "item_id", "ts"}
    assert kept.equals(con.execute(sql + " ORDER BY user_id, ts").df()), "the same data keeps the same rows"
    with pytest.raises(ValueError):
        bounded_rows_sql("SELECT * FROM e", "user_id; DROP TABLE e", 5, ["ts"])


def test_a_small_segment_is_never_released_on_its_own():
    purchases = pd.DataFrame({"segment": ["big"] * 2 + ["tiny"], "category": ["Beauty", "Sports", "Toys"],
                              "n": [900, 600, 3]})
    buyers = pd.DataFrame({"segment": ["big", "tiny"], "buyers": [200, 1]})
    table, releases = private_segment_interests(purchases, buyers, ["big", "tiny"], ["Beauty", "Sports", "Toys"],
                                                SegmentRelease(epsilon=1.0, contribution_bound=5, min_group_size=30))
    # One buyer plus discrete Laplace noise of scale 2 reaches 30 with probability about e^-14.5.
    tiny = table[table["segment"] == "tiny"]
    assert not tiny["released"].any() and tiny["source"].str.startswith("shop").all()
    assert "Toys" not in set(tiny["category"]), "the one buyer's category is not what the tiny segment is told"
    interests = interests_of(table)
    shop = table.loc[table["segment"] == "(shop)"].sort_values("rank")["category"].tolist()
    assert interests["big"][0] == "Beauty" and interests["tiny"] == shop and "(shop)" not in interests
    assert sum(r.epsilon for r in releases) == pytest.approx(1.0)
    assert {r.query for r in releases} == {"buyers per segment", "purchases per segment and category"}
    assert released_where(np.array([9, 10]), 10).tolist() == [False, True]


def test_the_spend_report_sums_each_period_and_says_what_is_left():
    from ecom_assets.ml.privacy.accountant import spend_report

    ledger = pd.DataFrame({"release_id": ["a", "a", "b", "c"], "query": ["q1", "q2", "q1", "q1"],
                           "epsilon": [0.5, 0.5, 1.0, 2.0], "delta": [0.0] * 4, "period": ["w1", "w1", "w1", "w2"],
                           "created_at": pd.to_datetime(["2026-11-30", "2026-11-30", "2026-12-01", "2026-12-08"])})
    report = spend_report(ledger, PrivacyBudget(epsilon=3.0)).set_index(["period", "query"])
    assert report.loc[("w1", "q1"), "releases"] == 2 and report.loc[("w1", "q1"), "epsilon"] == pytest.approx(1.5)
    assert report.loc[("w1", "q2"), "left_epsilon"] == pytest.approx(1.0), "3 minus everything spent in w1"
    assert report.loc[("w2", "q1"), "left_epsilon"] == pytest.approx(1.0)
    assert spend_report(ledger.iloc[:0], PrivacyBudget()).empty
