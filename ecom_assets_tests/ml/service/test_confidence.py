import numpy as np
import pytest

from ecom_assets.ml.service.confidence import (
    FEATURES,
    Calibrator,
    at_threshold,
    confidence_features,
    cross_fitted_probabilities,
    risk_coverage,
    threshold_for_precision,
    wilson_lower,
)


def test_risk_coverage_and_aurc_by_hand():
    curve = risk_coverage(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]))
    np.testing.assert_allclose(curve["risk"], [0.0, 0.5, 1 / 3])
    assert curve["aurc"] == pytest.approx((0 + 0.5 + 1 / 3) / 3)
    assert curve["oracle_aurc"] == pytest.approx((0 + 0 + 1 / 3) / 3)
    assert curve["accuracy"] == pytest.approx(2 / 3)


def test_wilson_lower_bound_by_hand():
    # 9 of 10 right, z = 1: (0.9 + 0.05 - sqrt(0.009 + 0.0025)) / 1.1
    assert wilson_lower(np.array([9.0]), np.array([10.0]), 1.0)[0] == pytest.approx((0.95 - np.sqrt(0.0115)) / 1.1)


def test_threshold_answers_the_largest_set_that_clears_the_target():
    p = np.linspace(0.99, 0.01, 100)
    correct = np.r_[np.ones(40), np.zeros(5), np.ones(5), np.zeros(50)].astype(bool)
    chosen = threshold_for_precision(p, correct, target=0.9, z=0.0)  # z 0: the point estimate
    # the first 50 answers hold 45 right (0.9); beyond that precision only falls
    assert chosen["coverage"] == pytest.approx(0.5) and chosen["precision"] == pytest.approx(0.9)
    assert at_threshold(p, correct, chosen["threshold"])["answered"] == 50
    strict = threshold_for_precision(p, correct, target=0.9, z=1.0)
    assert strict["coverage"] < chosen["coverage"], "a Wilson bound asks for more evidence"
    never = threshold_for_precision(p, np.zeros(100, bool), target=0.9)
    assert never["coverage"] == 0.0 and at_threshold(p, np.zeros(100, bool), never["threshold"])["answered"] == 0


def test_a_threshold_never_splits_equal_probabilities():
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    correct = np.array([1, 1, 0, 0, 0], bool)
    # Answering the first two would be 100% right, but they cannot be told from the third
    # and fourth: the cut falls after the first (100%) or after all four 0.5s (50%).
    assert threshold_for_precision(p, correct, target=0.6, z=0.0)["coverage"] == pytest.approx(0.2)
    assert threshold_for_precision(p, correct, target=0.5, z=0.0)["coverage"] == pytest.approx(0.8)


def test_features_read_margins_and_agreement():
    dense = np.array([[0.9, 0.5, 0.1], [0.3, 0.35, 0.1]], dtype=np.float32)
    lexical = np.array([[4.0, 1.0, 0.0], [0.0, 0.0, 3.0]], dtype=np.float32)
    fused = dense.copy()
    top, x = confidence_features(fused, dense, lexical)
    assert list(top) == [0, 1] and x.shape == (2, len(FEATURES))
    col = {f: i for i, f in enumerate(FEATURES)}
    assert x[0, col["fused_margin"]] == pytest.approx(0.4) and x[1, col["fused_margin"]] == pytest.approx(0.05)
    assert x[0, col["agree"]] == 1 and x[1, col["agree"]] == 0
    assert x[1, col["top_rank_lexical"]] == pytest.approx(np.log(2.0))  # answer 1 is second by BM25 (tied 0s)


def test_calibrated_probabilities_follow_the_evidence_and_round_trip():
    rng = np.random.default_rng(0)
    margin = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < margin  # P(right) = margin
    x = np.column_stack([margin, rng.normal(size=2000)])
    cal = Calibrator().fit(x, correct)
    p = cal.predict(x)
    assert np.corrcoef(p, margin)[0, 1] > 0.95
    high, low = p[margin > 0.8], p[margin < 0.2]
    assert abs(high.mean() - correct[margin > 0.8].mean()) < 0.08 and low.mean() < 0.3
    np.testing.assert_allclose(Calibrator.from_state(cal.state()).predict(x), p)
    crossed = cross_fitted_probabilities(x, correct)
    assert crossed.shape == p.shape and np.corrcoef(crossed, p)[0, 1] > 0.95
    with pytest.raises(ValueError, match="both right and wrong"):
        Calibrator().fit(x[:10], np.ones(10, bool))


def test_replies_are_judged_by_language_with_personal_data_kept_out_of_answered_right():
    import pandas as pd

    from ecom_assets.ml.service.confidence import judge_replies

    judged = pd.DataFrame({
        "language": ["en", "en", "en", "zh"], "category": ["a", "a", "b", "a"],
        "answer_id": ["x", "y", "z", "x"], "agent_answer_id": ["x", "x", "z", "x"],
        "confidence": [0.9, 0.8, 0.2, 0.7], "handed_off": [False, False, True, True],
        "reason": [None, None, "personal data in the question", "low confidence"]})
    rows = judge_replies(judged).set_index(["scope", "value"])
    en = rows.loc[("language", "en")]
    assert en["questions"] == 3 and en["coverage"] == pytest.approx(2 / 3) and en["precision"] == pytest.approx(0.5)
    assert en["answered_correctly"] == pytest.approx(0.5), "the personal-data question is not counted"
    assert pd.isna(rows.loc[("language", "zh")]["precision"]) and rows.loc[("all", "all")]["questions"] == 4


def test_a_calibrator_saved_before_the_classifier_features_reads_its_own_columns():
    from ecom_assets.ml.service.confidence import BASE_FEATURES, FEATURES

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES))).astype(np.float32)
    correct = x[:, 0] + 0.3 * rng.normal(size=200) > 0
    old = Calibrator(features=BASE_FEATURES).fit(x, correct)
    state = old.state()
    del state["features"]  # as an older responder.json holds it
    restored = Calibrator.from_state(state)
    assert restored.features == BASE_FEATURES and len(restored.coef) == len(BASE_FEATURES)
    np.testing.assert_allclose(restored.predict(x), old.predict(x), rtol=1e-5)
    np.testing.assert_allclose(restored.predict(x), restored.predict(x[:, :len(BASE_FEATURES)]))


def test_the_classifier_features_read_its_probability_of_the_chosen_answer():
    fused = np.array([[2.0, 1.0], [1.0, 2.0]], dtype=np.float32)
    classifier = np.log(np.array([[0.8, 0.2], [0.9, 0.1]], dtype=np.float32))
    top, x = confidence_features(fused, fused, fused, classifier)
    col = {name: i for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(x[:, col["classifier_top"]], [0.8, 0.1], rtol=1e-5)
    assert x[:, col["classifier_agree"]].tolist() == [1.0, 0.0]
    _, without = confidence_features(fused, fused, fused)
    assert not without[:, col["classifier_top"]].any()


def test_a_right_answer_that_lacks_the_customer_s_account_data_is_not_counted_against_the_replies():
    import pandas as pd

    from ecom_assets.ml.service.confidence import judge_replies

    judged = pd.DataFrame({
        "language": ["en"] * 3, "category": ["orders"] * 3,
        "answer_id": ["x", "refund_time", "refund_time"], "agent_answer_id": ["x", "refund_time", "shipping_time"],
        "confidence": [0.9, 0.9, 0.9], "handed_off": [False, True, True],
        "reason": [None, "missing account data: last_refund_date", "missing account data: last_refund_date"]})
    en = judge_replies(judged).set_index(["scope", "value"]).loc[("language", "en")]
    # The right template without the data is a correct hand-off; a wrong one that hit a slot stays a miss.
    assert en["answerable"] == 2 and en["answered_correctly"] == pytest.approx(0.5)
