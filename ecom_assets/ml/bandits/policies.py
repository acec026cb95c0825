"""Policies that choose an arm (a copy variant, a list) per impression and say exactly how
likely each choice was: the logs must carry true propensities, or no estimator can
value another policy from them.

Every policy has
    update(action, reward, features=None, position=None)   learn from logged impressions
    action_dist(features | n_rounds) -> (n, n_actions, len_list)  the probability of each
                                      arm in each slot (exact where a closed form exists,
                                      else Monte Carlo with a fixed seed, stated in `exact`)
    choose(features | n_rounds, rng) -> (actions, pscores)     sample from that distribution

Contextual policies read joint features of shape (n, n_actions, d): a row per impression,
a vector per arm (context x arm interactions, the arm's own traits), so one linear model
generalises across arms that share traits (family, language, length, discount).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _argmax_dist(scores: np.ndarray) -> np.ndarray:
    """One-hot of the best arm per row, ties split evenly (so the probability is exact)."""
    best = scores >= scores.max(axis=1, keepdims=True) - 1e-12
    return best / best.sum(axis=1, keepdims=True)


def sample_actions(dist: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An arm per row from (n, n_actions) probabilities, and the probability it had."""
    cum = np.cumsum(dist, axis=1)
    u = rng.random(len(dist))[:, None] * cum[:, -1:]
    actions = np.minimum((u > cum).sum(axis=1), dist.shape[1] - 1)
    return actions, dist[np.arange(len(dist)), actions]


class _Policy:
    n_actions: int
    len_list: int = 1
    exact: bool = True

    def choose(self, features_or_n, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A single-slot choice per round, with its propensity."""
        dist = self.action_dist(features_or_n)[:, :, 0]
        return sample_actions(dist, rng)


@dataclass
class Uniform(_Policy):
    """Every arm equally likely: the reference every learner must clearly beat."""

    n_actions: int

    def update(self, action, reward, features=None, position=None) -> Uniform:
        return self

    def action_dist(self, features_or_n) -> np.ndarray:
        n = features_or_n if isinstance(features_or_n, int) else len(features_or_n)
        return np.full((n, self.n_actions, 1), 1.0 / self.n_actions)


@dataclass
class EpsilonGreedy(_Policy):
    """The arm with the best observed reward rate, or with probability epsilon a uniform
    one: P(a) = epsilon / K + (1 - epsilon) [a is best] (ties share the greedy mass)."""

    n_actions: int
    epsilon: float = 0.1
    pulls: np.ndarray = field(default=None)
    rewards: np.ndarray = field(default=None)

    def __post_init__(self):
        self.pulls = np.zeros(self.n_actions) if self.pulls is None else self.pulls
        self.rewards = np.zeros(self.n_actions) if self.rewards is None else self.rewards

    def update(self, action, reward, features=None, position=None) -> EpsilonGreedy:
        np.add.at(self.pulls, np.asarray(action), 1.0)
        np.add.at(self.rewards, np.asarray(action), np.asarray(reward, dtype=float))
        return self

    def action_dist(self, features_or_n) -> np.ndarray:
        n = features_or_n if isinstance(features_or_n, int) else len(features_or_n)
        rate = np.where(self.pulls > 0, self.rewards / np.maximum(self.pulls, 1), np.inf)  # untried arms first
        greedy = _argmax_dist(rate[None, :])[0]
        dist = self.epsilon / self.n_actions + (1 - self.epsilon) * greedy
        return np.broadcast_to(dist[None, :, None], (n, self.n_actions, 1)).copy()


@dataclass
class BernoulliTS(_Policy):
    """Bernoulli Thompson sampling over arms, for a slate of `len_list` slots: draw a click
    rate per arm from its Beta posterior, show the arms in the order of their draws. The
    probability of arm a in slot k has no closed form; it is the frequency over `n_sim`
    seeded draws (as the Open Bandit Pipeline computes it)."""

    n_actions: int
    len_list: int = 1
    alpha: np.ndarray = field(default=None)  # prior successes + clicks, per arm
    beta: np.ndarray = field(default=None)
    n_sim: int = 10_000
    seed: int = 0
    exact: bool = False

    def __post_init__(self):
        self.alpha = np.ones(self.n_actions) if self.alpha is None else np.asarray(self.alpha, dtype=float).copy()
        self.beta = np.ones(self.n_actions) if self.beta is None else np.asarray(self.beta, dtype=float).copy()

    def update(self, action, reward, features=None, position=None) -> BernoulliTS:
        reward = np.asarray(reward, dtype=float)
        np.add.at(self.alpha, np.asarray(action), reward)
        np.add.at(self.beta, np.asarray(action), 1.0 - reward)
        return self

    def slot_probabilities(self) -> np.ndarray:
        """(n_actions, len_list): P(arm a shown in slot k), by seeded Monte Carlo."""
        rng = np.random.default_rng(self.seed)
        draws = rng.beta(self.alpha, self.beta, size=(self.n_sim, self.n_actions))
        ranked = np.argsort(-draws, axis=1)[:, : self.len_list]
        probs = np.zeros((self.n_actions, self.len_list))
        for k in range(self.len_list):
            probs[:, k] = np.bincount(ranked[:, k], minlength=self.n_actions) / self.n_sim
        return probs

    def action_dist(self, features_or_n) -> np.ndarray:
        n = features_or_n if isinstance(features_or_n, int) else len(features_or_n)
        return np.broadcast_to(self.slot_probabilities()[None], (n, self.n_actions, self.len_list)).copy()


@dataclass
class _Linear(_Policy):
    """One ridge regression of reward on joint (impression, arm) features, shared by all
    arms: A = ridge I + sum x x', b = sum r x. Updating from 1e6 impressions is two matrix
    products."""

    dim: int
    n_actions: int
    ridge: float = 1.0
    A: np.ndarray = field(default=None)
    b: np.ndarray = field(default=None)

    def __post_init__(self):
        self.A = self.ridge * np.eye(self.dim) if self.A is None else self.A
        self.b = np.zeros(self.dim) if self.b is None else self.b

    def update(self, action, reward, features=None, position=None):
        features = np.asarray(features, dtype=float)
        x = features[np.arange(len(features)), np.asarray(action)]
        self.A = self.A + x.T @ x
        self.b = self.b + x.T @ np.asarray(reward, dtype=float)
        return self

    @property
    def theta(self) -> np.ndarray:
        return np.linalg.solve(self.A, self.b)


@dataclass
class LinUCB(_Linear):
    """Upper confidence bound on the linear reward (Li et al., WWW 2010, shared model):
    score = x' theta + alpha sqrt(x' A^-1 x); the best score wins, with probability
    epsilon a uniform arm instead (so that every arm keeps a positive propensity and the
    logs stay usable for off-policy evaluation)."""

    alpha: float = 1.0
    epsilon: float = 0.05

    def action_dist(self, features) -> np.ndarray:
        x = np.asarray(features, dtype=float)
        inv = np.linalg.inv(self.A)
        width = np.sqrt(np.einsum("nad,de,nae->na", x, inv, x))
        scores = x @ self.theta + self.alpha * width
        dist = self.epsilon / self.n_actions + (1 - self.epsilon) * _argmax_dist(scores)
        return dist[:, :, None]


@dataclass
class LinearTS(_Linear):
    """Linear Thompson sampling (Agrawal and Goyal, ICML 2013): draw theta from
    N(A^-1 b, v^2 A^-1), show the arm with the best drawn reward. P(arm) per impression is
    the frequency over `n_sim` seeded draws."""

    v: float = 0.5
    n_sim: int = 200
    seed: int = 0
    epsilon: float = 0.0
    exact: bool = False

    def action_dist(self, features, chunk: int = 1024) -> np.ndarray:
        x = np.asarray(features, dtype=float)
        cov = self.v ** 2 * np.linalg.inv(self.A)
        rng = np.random.default_rng(self.seed)
        thetas = rng.multivariate_normal(self.theta, (cov + cov.T) / 2, size=self.n_sim)  # (S, d), the same draws for every row
        dist = np.empty((len(x), self.n_actions))
        for start in range(0, len(x), chunk):
            best = np.einsum("nad,sd->nsa", x[start:start + chunk], thetas).argmax(axis=2)  # (rows, S)
            dist[start:start + chunk] = np.stack([(best == a).mean(axis=1) for a in range(self.n_actions)], axis=1)
        dist = self.epsilon / self.n_actions + (1 - self.epsilon) * dist
        return dist[:, :, None]


# ------------------------------------------------------------------ persistence
# The classes a policy file may name: this module's own, looked up by name (no pickle).
_CLASSES = {cls.__name__: cls for cls in (Uniform, EpsilonGreedy, BernoulliTS, LinUCB, LinearTS)}


def save_policy(policy: _Policy, path) -> str:
    """A policy as one array file: its scalar settings in the spec, its learned state
    (counts, posterior parameters, A and b) as arrays. Returns the file's sha256."""
    from dataclasses import fields

    from ecom_assets.ml.common.model_files import write_arrays

    params, arrays = {}, {}
    for f in fields(policy):
        value = getattr(policy, f.name)
        (arrays if isinstance(value, np.ndarray) else params)[f.name] = value
    return write_arrays(path, {"class": type(policy).__name__, "params": params}, arrays)


def load_policy(path, expected_sha256: str | None = None) -> _Policy:
    """The policy saved by `save_policy`, its file checked against `expected_sha256`."""
    from ecom_assets.ml.common.model_files import read_arrays

    spec, arrays = read_arrays(path, expected_sha256)
    cls = _CLASSES.get(spec.get("class"))
    if cls is None:
        raise ValueError(f"{path}: not a policy file of this version (class {spec.get('class')!r})")
    return cls(**spec["params"], **{k: np.asarray(v, dtype=float) for k, v in arrays.items()})
