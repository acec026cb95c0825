"""Off-policy estimators against values worked out by hand, and against the truth of a
simulated logging policy."""

import numpy as np
import pytest

from ecom_assets.ml.bandits.ope import (
    LoggedRounds,
    cross_fitted_rewards,
    diagnostics,
    estimate,
    estimate_all,
    estimate_with_interval,
    importance_weights,
)

# Four rounds, two actions, one slot. By hand:
#   w = pi_e(a_i) / pscore = [0.9/0.5, 0.8/0.5, 0.5/0.25, 1.0/0.8] = [1.8, 1.6, 2.0, 1.25], sum 6.65
#   IPW = (1.8 + 2.0) / 4 = 0.95;  SNIPW = 3.8 / 6.65
#   DM rows: 0.9*0.6+0.1*0.3 = 0.57, 0.2*0.5+0.8*0.2 = 0.26, 0.5*0.4+0.5*0.7 = 0.55, 1.0*0.1 = 0.1 -> mean 0.37
#   residuals r - q(a_i) = [0.4, -0.2, 0.3, -0.1]; w * residual = [0.72, -0.32, 0.6, -0.125], sum 0.875
#   DR = 0.37 + 0.875 / 4;  SNDR = 0.37 + 0.875 / 6.65;  Switch-DR (tau 1.7) = 0.37 + (-0.32 - 0.125) / 4
ROUNDS = LoggedRounds.of(reward=[1, 0, 1, 0], action=[0, 1, 1, 0], pscore=[0.5, 0.5, 0.25, 0.8])
PI_E = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])[:, :, None]
Q = np.array([[0.6, 0.3], [0.5, 0.2], [0.4, 0.7], [0.1, 0.9]])[:, :, None]


@pytest.mark.parametrize("name, expected", [
    ("ipw", 0.95), ("snipw", 3.8 / 6.65), ("dm", 0.37), ("dr", 0.37 + 0.875 / 4), ("sndr", 0.37 + 0.875 / 6.65),
])
def test_each_estimator_matches_the_hand_computed_value(name, expected):
    assert estimate(name, ROUNDS, PI_E, Q) == pytest.approx(expected, abs=1e-12)


def test_switch_dr_corrects_only_where_the_weight_is_small():
    assert estimate("switch-dr", ROUNDS, PI_E, Q, tau=1.7) == pytest.approx(0.37 + (-0.32 - 0.125) / 4, abs=1e-12)
    assert estimate("switch-dr", ROUNDS, PI_E, Q, tau=np.inf) == pytest.approx(estimate("dr", ROUNDS, PI_E, Q))
    assert estimate("switch-dr", ROUNDS, PI_E, Q, tau=0.0) == pytest.approx(estimate("dm", ROUNDS, PI_E, Q))


def test_weights_and_diagnostics():
    np.testing.assert_allclose(importance_weights(ROUNDS, PI_E), [1.8, 1.6, 2.0, 1.25])
    d = diagnostics(ROUNDS, PI_E)
    assert d["effective_sample_size"] == pytest.approx(6.65 ** 2 / (1.8 ** 2 + 1.6 ** 2 + 2 ** 2 + 1.25 ** 2))
    assert d["max_weight"] == 2.0 and d["mean_weight"] == pytest.approx(6.65 / 4)


def test_positions_index_the_third_axis():
    rounds = LoggedRounds.of(reward=[1, 1], action=[0, 1], pscore=[0.5, 0.5], position=[1, 0])
    dist = np.zeros((2, 2, 2))
    dist[0, 0, 1] = 1.0  # round 0: the evaluation policy puts action 0 in slot 1, as logged
    dist[1, 0, 0] = 1.0  # round 1: it puts action 0 in slot 0, the log has action 1 there
    assert estimate("ipw", rounds, dist) == pytest.approx((2.0 + 0.0) / 2)


def test_bad_inputs_are_refused_with_the_round():
    with pytest.raises(ValueError, match="round 1 has 0.0"):
        LoggedRounds.of(reward=[1, 0], action=[0, 0], pscore=[0.5, 0.0])
    with pytest.raises(ValueError, match="one entry per round"):
        LoggedRounds.of(reward=[1, 0], action=[0], pscore=[0.5, 0.5])
    with pytest.raises(ValueError, match="needs estimated_rewards"):
        estimate("dr", ROUNDS, PI_E)
    with pytest.raises(ValueError, match="shape"):
        estimate("ipw", ROUNDS, PI_E[:3])


def _simulated(n, seed=0):
    """Uniform logging over 4 actions; the click rate depends on a binary context and the
    action. The evaluation policy's true value is known exactly."""
    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, 2, n)
    rate = np.array([[0.02, 0.05, 0.10, 0.03], [0.08, 0.04, 0.02, 0.12]])  # [context, action]
    action = rng.integers(0, 4, n)
    reward = (rng.random(n) < rate[ctx, action]).astype(float)
    pi_e = np.where(ctx[:, None] == 0, [0.1, 0.1, 0.7, 0.1], [0.1, 0.0, 0.1, 0.8])[:, :, None]
    truth = 0.5 * (rate[0] @ [0.1, 0.1, 0.7, 0.1]) + 0.5 * (rate[1] @ [0.1, 0.0, 0.1, 0.8])
    return LoggedRounds.of(reward, action, np.full(n, 0.25)), ctx, pi_e, truth


def test_estimators_recover_the_truth_and_their_intervals_cover_it():
    rounds, ctx, pi_e, truth = _simulated(40_000)
    q = cross_fitted_rewards(ctx[:, None].astype(float), rounds, n_actions=4)
    assert q.shape == (40_000, 4, 1) and ((q >= 0) & (q <= 1)).all()
    results = {e.estimator: e for e in estimate_all(rounds, pi_e, q, n_bootstrap=200, seed=1)}
    assert set(results) == {"dm", "ipw", "snipw", "dr", "sndr", "switch-dr"}
    for name in ("ipw", "snipw", "dr", "sndr"):
        e = results[name]
        assert e.lower <= e.value <= e.upper
        assert abs(e.value - truth) / truth < 0.1, (name, e.value, truth)
        assert e.lower <= truth <= e.upper, (name, e, truth)


def test_the_bootstrap_is_seeded_and_narrows_with_more_rounds():
    small, _, pi_small, _ = _simulated(2_000, seed=3)
    large, _, pi_large, _ = _simulated(32_000, seed=3)
    a = estimate_with_interval("ipw", small, pi_small, n_bootstrap=300, seed=7)
    assert a == estimate_with_interval("ipw", small, pi_small, n_bootstrap=300, seed=7)
    b = estimate_with_interval("ipw", large, pi_large, n_bootstrap=300, seed=7)
    assert (b.upper - b.lower) < 0.5 * (a.upper - a.lower), "16x the rounds: about a quarter of the width"
