"""Off-policy evaluation: the value of an evaluation policy from rounds logged by another.

Arrays follow the Open Bandit Pipeline's conventions, so the same inputs can be fed to
another implementation and compared:

    reward        (n,)                         observed reward of the logged action
    action        (n,)   int                   the logged action
    position      (n,)   int or None           the slot it was shown in (None: one slot)
    pscore        (n,)                         the logging policy's probability of that action
    action_dist   (n, n_actions, len_list)     the evaluation policy's probabilities
    estimated_rewards (n, n_actions, len_list) a reward model's predictions (DM, DR family)

Estimators (each returns per-round contributions whose mean is the estimate, except the
self-normalised ones, which normalise by the mean importance weight):

    DM        mean over rounds of sum_a pi_e(a|x) q(x, a)                  (the direct method)
    IPW       mean of w r, w = pi_e(a_i|x_i) / pi_b(a_i|x_i)              (Horvitz-Thompson)
    SNIPW     sum w r / sum w                                              (Swaminathan & Joachims 2015)
    DR        DM + mean of w (r - q(x, a_i))                               (Dudik et al. 2014)
    SNDR      DM + sum w (r - q) / sum w
    Switch-DR DR's correction only where w <= tau, DM alone elsewhere     (Wang et al. 2017)

Intervals are a percentile bootstrap over rounds that re-computes the whole estimator on
each resample (the self-normalisation included), with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ESTIMATORS = ("dm", "ipw", "snipw", "dr", "sndr", "switch-dr")


@dataclass(frozen=True)
class LoggedRounds:
    """Checked logged data: every array the estimators need, positions defaulted to 0."""

    reward: np.ndarray
    action: np.ndarray
    position: np.ndarray
    pscore: np.ndarray

    @classmethod
    def of(cls, reward, action, pscore, position=None) -> LoggedRounds:
        reward = np.asarray(reward, dtype=np.float64)
        action = np.asarray(action, dtype=np.int64)
        pscore = np.asarray(pscore, dtype=np.float64)
        n = len(reward)
        position = np.zeros(n, dtype=np.int64) if position is None else np.asarray(position, dtype=np.int64)
        if not (len(action) == len(pscore) == len(position) == n):
            raise ValueError(f"reward, action, pscore and position must have one entry per round ({n})")
        if n == 0:
            raise ValueError("no logged rounds")
        if not np.all((pscore > 0) & (pscore <= 1)):
            bad = int(np.flatnonzero(~((pscore > 0) & (pscore <= 1)))[0])
            raise ValueError(f"pscore must lie in (0, 1]: round {bad} has {float(pscore[bad])}")
        return cls(reward, action, position, pscore)

    def __len__(self) -> int:
        return len(self.reward)


def _check_dist(rounds: LoggedRounds, action_dist: np.ndarray, name: str = "action_dist") -> np.ndarray:
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim != 3 or dist.shape[0] != len(rounds):
        raise ValueError(f"{name} must have shape (n_rounds, n_actions, len_list); got {dist.shape}")
    if rounds.action.max() >= dist.shape[1] or rounds.position.max() >= dist.shape[2]:
        raise ValueError(f"a logged action or position lies outside {name}'s shape {dist.shape}")
    return dist


def importance_weights(rounds: LoggedRounds, action_dist: np.ndarray) -> np.ndarray:
    """w_i = pi_e(a_i, k_i | x_i) / pi_b(a_i, k_i | x_i)."""
    dist = _check_dist(rounds, action_dist)
    return dist[np.arange(len(rounds)), rounds.action, rounds.position] / rounds.pscore


def _dm_term(rounds: LoggedRounds, action_dist: np.ndarray, estimated_rewards: np.ndarray) -> np.ndarray:
    """sum_a pi_e(a | x_i, k_i) q(x_i, a, k_i) at the logged position (OBP's DM convention)."""
    q = _check_dist(rounds, estimated_rewards, "estimated_rewards")
    idx = np.arange(len(rounds))
    return np.sum(action_dist[idx, :, rounds.position] * q[idx, :, rounds.position], axis=1)


def _factual_q(rounds: LoggedRounds, estimated_rewards: np.ndarray) -> np.ndarray:
    return np.asarray(estimated_rewards)[np.arange(len(rounds)), rounds.action, rounds.position]


def _value(name: str, r: np.ndarray, w: np.ndarray, dm: np.ndarray | None, q: np.ndarray | None, tau: float) -> float:
    """An estimator's value from per-round arrays (used on the data and on each resample)."""
    if name == "ipw":
        return float(np.mean(w * r))
    if name == "snipw":
        return float(np.sum(w * r) / np.sum(w))
    if name == "dm":
        return float(np.mean(dm))
    if name == "dr":
        return float(np.mean(dm + w * (r - q)))
    if name == "sndr":
        return float(np.mean(dm) + np.sum(w * (r - q)) / np.sum(w))
    if name == "switch-dr":
        return float(np.mean(dm + (w <= tau) * w * (r - q)))
    raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")


_MODEL_BASED = ("dm", "dr", "sndr", "switch-dr")


@dataclass(frozen=True)
class _Parts:
    """Per-round arrays every estimator is a function of: computed once per policy."""

    reward: np.ndarray
    w: np.ndarray
    dm: np.ndarray | None
    q: np.ndarray | None

    def take(self, rows: np.ndarray) -> _Parts:
        return _Parts(self.reward[rows], self.w[rows], None if self.dm is None else self.dm[rows],
                      None if self.q is None else self.q[rows])


def _parts(rounds: LoggedRounds, action_dist: np.ndarray, estimated_rewards: np.ndarray | None) -> _Parts:
    w = importance_weights(rounds, action_dist)
    if estimated_rewards is None:
        return _Parts(rounds.reward, w, None, None)
    dm = _dm_term(rounds, np.asarray(action_dist, dtype=np.float64), estimated_rewards)
    return _Parts(rounds.reward, w, dm, _factual_q(rounds, estimated_rewards))


def _value_of(name: str, parts: _Parts, tau: float) -> float:
    if name in _MODEL_BASED and parts.dm is None:
        raise ValueError(f"{name} needs estimated_rewards from a reward model")
    return _value(name, parts.reward, parts.w, parts.dm, parts.q, tau)


def estimate(name: str, rounds: LoggedRounds, action_dist: np.ndarray, estimated_rewards: np.ndarray | None = None,
             tau: float = np.inf) -> float:
    """The policy value of `action_dist` by one estimator (`ESTIMATORS`)."""
    return _value_of(name, _parts(rounds, action_dist, estimated_rewards), tau)


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    lower: float
    upper: float

    def as_dict(self) -> dict:
        return {"estimator": self.estimator, "value": self.value, "lower": self.lower, "upper": self.upper}


def _with_interval(name: str, parts: _Parts, tau: float, alpha: float, n_bootstrap: int, seed: int, chunk: int) -> Estimate:
    value = _value_of(name, parts, tau)
    rng = np.random.default_rng(seed)
    n = len(parts.reward)
    boots = []
    for start in range(0, n_bootstrap, chunk):
        for rows in rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n)):
            boots.append(_value_of(name, parts.take(rows), tau))
    lower, upper = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Estimate(name, value, float(lower), float(upper))


def estimate_with_interval(name: str, rounds: LoggedRounds, action_dist: np.ndarray,
                           estimated_rewards: np.ndarray | None = None, tau: float = np.inf, alpha: float = 0.05,
                           n_bootstrap: int = 1000, seed: int = 0, chunk: int = 50) -> Estimate:
    """The estimate and a (1 - alpha) percentile-bootstrap interval: rounds resampled with
    replacement, the whole estimator (normalisation included) recomputed on each."""
    return _with_interval(name, _parts(rounds, action_dist, estimated_rewards), tau, alpha, n_bootstrap, seed, chunk)


def estimate_all(rounds: LoggedRounds, action_dist: np.ndarray, estimated_rewards: np.ndarray | None = None,
                 tau: float | None = None, alpha: float = 0.05, n_bootstrap: int = 1000, seed: int = 0,
                 chunk: int = 50) -> list[Estimate]:
    """Every estimator (the model-based ones only with `estimated_rewards`), with intervals.
    `tau` for Switch-DR defaults to the 95th percentile of the importance weights."""
    parts = _parts(rounds, action_dist, estimated_rewards)
    tau = float(np.percentile(parts.w, 95)) if tau is None else tau
    names = ESTIMATORS if estimated_rewards is not None else ("ipw", "snipw")
    return [_with_interval(n, parts, tau, alpha, n_bootstrap, seed, chunk) for n in names]


def evaluate_policies(rounds: LoggedRounds, policies: dict[str, np.ndarray], estimated_rewards: np.ndarray | None = None,
                      **interval) -> pd.DataFrame:
    """Several policies' action distributions valued on the same logs by every estimator:
    one row per (policy, estimator) with value, lower and upper, and the policy's effective
    sample share (how much of the log speaks for it)."""
    rows = []
    for name, dist in policies.items():
        ess = diagnostics(rounds, dist)["ess_share"]
        rows += [dict(policy=name, **e.as_dict(), ess_share=ess) for e in estimate_all(rounds, dist, estimated_rewards, **interval)]
    return pd.DataFrame(rows)


def diagnostics(rounds: LoggedRounds, action_dist: np.ndarray) -> dict:
    """How far the evaluation policy strays from the logging one: the effective sample size
    (sum w)^2 / sum w^2 (Kish), its share of the rounds, the largest weight, the mean weight
    (1 in expectation when the logging policy covers the evaluation policy's support)."""
    w = importance_weights(rounds, action_dist)
    ess = float(w.sum() ** 2 / np.sum(w ** 2)) if np.any(w) else 0.0
    return {"rounds": len(rounds), "effective_sample_size": ess, "ess_share": ess / len(rounds),
            "max_weight": float(w.max()), "mean_weight": float(w.mean())}


def cross_fitted_rewards(context: np.ndarray | None, rounds: LoggedRounds, n_actions: int, len_list: int = 1,
                         action_context: np.ndarray | None = None, n_folds: int = 3, seed: int = 0,
                         make_model=None, joint_features: np.ndarray | None = None) -> np.ndarray:
    """Estimated rewards (n, n_actions, len_list) from a classifier of reward on (context,
    action features, position one-hot), or on `joint_features` (n, n_actions, d) of each
    (round, action) pair, fit on the other folds for each fold's rounds, so no round's
    prediction comes from a model that saw it (cross-fitting, as DR needs for its
    guarantees). Rewards must be 0/1 (clicks); `make_model()` returns a scikit-learn
    classifier (default: logistic regression)."""
    from sklearn.linear_model import LogisticRegression

    make_model = make_model or (lambda: LogisticRegression(max_iter=1000, C=1.0))
    n = len(rounds)
    actions = np.eye(n_actions) if action_context is None else np.asarray(action_context, dtype=np.float64)
    positions = np.eye(len_list)
    row_of = np.arange(n)
    if joint_features is not None:
        joint = np.asarray(joint_features, dtype=np.float64)

        def features(rows: np.ndarray, act: np.ndarray, pos: np.ndarray) -> np.ndarray:
            return np.hstack([joint[rows, act], positions[pos]])
    else:
        ctx_all = np.asarray(context, dtype=np.float64).reshape(n, -1)

        def features(rows: np.ndarray, act: np.ndarray, pos: np.ndarray) -> np.ndarray:
            return np.hstack([ctx_all[rows], actions[act], positions[pos]])

    folds = np.random.default_rng(seed).permutation(n) % n_folds
    out = np.zeros((n, n_actions, len_list))
    for fold in range(n_folds):
        train, test = folds != fold, folds == fold
        y = rounds.reward[train]
        if len(np.unique(y)) < 2:  # one class in the training folds: its rate is the prediction
            out[test] = float(y.mean()) if len(y) else 0.0
            continue
        model = make_model().fit(features(row_of[train], rounds.action[train], rounds.position[train]), y)
        idx = np.flatnonzero(test)
        for a in range(n_actions):
            for k in range(len_list):
                x = features(idx, np.full(len(idx), a), np.full(len(idx), k))
                out[idx, a, k] = model.predict_proba(x)[:, 1]
    return out


@dataclass(frozen=True)
class OffPolicyGate:
    promote: bool
    reason: str
    candidate: Estimate
    current_value: float


def off_policy_gate(candidate: Estimate, current_value: float | None, current_name: str = "the serving policy") -> OffPolicyGate:
    """A candidate policy serves only if the lower end of its doubly robust interval is not
    below the value the serving policy achieved on the same traffic: a candidate that is
    only probably better stays out. With nothing serving yet (`current_value` None) it serves."""
    if current_value is None:
        return OffPolicyGate(True, "no champion yet", candidate, float("nan"))
    promote = candidate.lower >= current_value
    verdict = ">=" if promote else "<"
    return OffPolicyGate(promote, f"{candidate.estimator} lower bound {candidate.lower:.4f} {verdict} {current_value:.4f} "
                                  f"({current_name}); estimate {candidate.value:.4f}", candidate, current_value)
