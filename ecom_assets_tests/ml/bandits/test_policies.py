"""Policies: exact action probabilities where there is a closed form, seeded Monte Carlo
where there is not, sampling that follows them, and learning that finds the best arm."""

import numpy as np
import pytest

from ecom_assets.ml.bandits.policies import BernoulliTS, EpsilonGreedy, LinearTS, LinUCB, Uniform


def test_epsilon_greedy_probabilities_are_exact_and_ties_share_the_greedy_mass():
    policy = EpsilonGreedy(n_actions=4, epsilon=0.2)
    np.testing.assert_allclose(policy.action_dist(1)[0, :, 0], [0.25] * 4), "untried arms tie"
    policy.update([0, 0, 1, 1, 2, 3], [1, 0, 1, 1, 0, 0])  # rates 0.5, 1.0, 0, 0
    np.testing.assert_allclose(policy.action_dist(2)[1, :, 0], [0.05, 0.85, 0.05, 0.05])
    tie = EpsilonGreedy(n_actions=3, epsilon=0.3).update([0, 1, 2], [1, 1, 0])
    np.testing.assert_allclose(tie.action_dist(1)[0, :, 0], [0.1 + 0.35, 0.1 + 0.35, 0.1])


def test_bernoulli_ts_slot_probabilities_are_a_seeded_distribution_over_a_slate():
    policy = BernoulliTS(n_actions=5, len_list=3, n_sim=20_000, seed=4)
    policy.update([2] * 200 + [4] * 200, [1] * 180 + [0] * 20 + [1] * 20 + [0] * 180)  # 90% and 10%
    for arm in (0, 1, 3):
        policy.update([arm] * 200, [1] * 100 + [0] * 100)  # 50%
    probs = policy.slot_probabilities()
    np.testing.assert_allclose(probs.sum(axis=0), 1.0), "every slot holds one arm"
    assert (probs.sum(axis=1) <= 1 + 1e-12).all(), "an arm is in one slot at most"
    assert probs[2, 0] > 0.99 and probs[4, 0] < 0.01, "the clicked arm leads, the ignored one trails"
    assert np.array_equal(probs, BernoulliTS(5, 3, policy.alpha, policy.beta, n_sim=20_000, seed=4).slot_probabilities())
    assert not policy.exact


def test_sampled_choices_follow_the_reported_probabilities():
    policy = EpsilonGreedy(n_actions=3, epsilon=0.6).update([0, 1, 2], [0, 1, 0])
    actions, pscores = policy.choose(60_000, np.random.default_rng(0))
    dist = policy.action_dist(1)[0, :, 0]
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 60_000, dist, atol=0.01)
    np.testing.assert_allclose(pscores, dist[actions])


def _linear_world(n, rng, d=4, arms=5):
    x = rng.normal(size=(n, arms, d))
    theta = np.array([0.8, -0.5, 0.3, 0.0])
    p = 1 / (1 + np.exp(-(x @ theta - 1.0)))
    return x, p


@pytest.mark.parametrize("make", [lambda: LinUCB(dim=4, n_actions=5, alpha=0.5, epsilon=0.05),
                                  lambda: LinearTS(dim=4, n_actions=5, v=0.3, n_sim=100, seed=2, epsilon=0.05)])
def test_linear_policies_learn_the_better_arms_and_keep_every_arm_possible(make):
    rng = np.random.default_rng(1)
    policy = make()
    clicks_early = clicks_late = 0.0
    for t in range(40):
        x, p = _linear_world(250, rng)
        actions, pscores = policy.choose(x, rng)
        reward = (rng.random(250) < p[np.arange(250), actions]).astype(float)
        policy.update(actions, reward, features=x)
        if t < 5:
            clicks_early += p[np.arange(250), actions].mean() / 5
        if t >= 35:
            clicks_late += p[np.arange(250), actions].mean() / 5
    x, p = _linear_world(2000, rng)
    dist = policy.action_dist(x)[:, :, 0]
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    assert (dist >= 0.05 / 5 - 1e-12).all(), "the epsilon floor keeps propensities positive"
    oracle = p.max(axis=1).mean()
    learned = (dist * p).sum(axis=1).mean()
    uniform = p.mean()
    assert learned > 0.9 * oracle and learned > uniform + 0.5 * (oracle - uniform), (learned, oracle, uniform)
    assert clicks_late > clicks_early


def test_thompson_sampling_reaches_nine_tenths_of_the_oracle_and_beats_uniform():
    rng = np.random.default_rng(5)
    rates = np.array([0.02, 0.03, 0.05, 0.04, 0.08, 0.01])
    policy = BernoulliTS(n_actions=6, n_sim=4_000, seed=0)
    for _ in range(100):
        actions, _ = policy.choose(200, rng)
        policy.update(actions, (rng.random(200) < rates[actions]).astype(float))
    value = policy.action_dist(1)[0, :, 0] @ rates
    assert value >= 0.9 * rates.max() and value > 1.5 * Uniform(6).action_dist(1)[0, :, 0] @ rates


@pytest.mark.parametrize("policy", [
    Uniform(4), EpsilonGreedy(4, epsilon=0.2).update([0, 1, 1], [1, 0, 1]),
    BernoulliTS(4, len_list=2, n_sim=2_000, seed=3).update([0, 2, 2], [1, 1, 0]),
    LinUCB(dim=3, n_actions=4, alpha=0.7).update([1, 2], [1, 0], features=np.arange(24.0).reshape(2, 4, 3) / 24),
    LinearTS(dim=3, n_actions=4, n_sim=50, seed=1).update([0], [1], features=np.ones((1, 4, 3))),
])
def test_a_saved_policy_loads_back_with_the_same_probabilities(policy, tmp_path):
    from ecom_assets.ml.bandits.policies import load_policy, save_policy
    from ecom_assets.ml.common.model_files import ArtefactError

    sha = save_policy(policy, tmp_path / "policy.npz")
    loaded = load_policy(tmp_path / "policy.npz", sha)
    x = np.random.default_rng(0).normal(size=(5, 4, 3))
    arg = x if isinstance(policy, (LinUCB, LinearTS)) else 5
    np.testing.assert_allclose(loaded.action_dist(arg), policy.action_dist(arg))
    with pytest.raises(ArtefactError):
        load_policy(tmp_path / "policy.npz", "0" * 64)
