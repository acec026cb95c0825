"""The hybrid: a weighted blend of candidate strategies, weights tuned on validation.

Each strategy's scores are scaled per user to [0, 1] (divided by the user's best score)
so that counts, cosines and factor products can be added; the weights are found by
coordinate ascent on validation NDCG@10 over a small grid, starting from the best single
strategy. The test split is never looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecom_assets.ml.recsys.candidates import Popularity
from ecom_assets.ml.recsys.evaluation import metrics_from_ranks, target_ranks
from ecom_assets.ml.recsys.sequences import Split
from ecom_assets.ml.recsys.strategy import ALLOWED_MODULES, Strategy, build_strategy, split_prefix

WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)


def scale_per_user(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1] (best item 1, lowest or zero 0), in place when the input
    is already float32: callers pass fresh score matrices, and at 1024 x 50k items a
    copy costs as much as the scoring."""
    scores = np.asarray(scores, dtype=np.float32)
    top = scores.max(axis=1, keepdims=True)
    bottom = np.minimum(scores.min(axis=1, keepdims=True), 0.0)
    span = top - bottom
    span[span <= 0] = 1.0
    scores -= bottom
    scores /= span
    return scores


def zscore_per_user(scores: np.ndarray) -> np.ndarray:
    """Each row standardised (mean 0, sd 1; a constant row is all 0): a strategy's scores
    on a scale that does not depend on how it scores, so that contributions compare."""
    scores = np.asarray(scores, dtype=np.float32)
    sd = scores.std(axis=1, keepdims=True)
    sd[sd <= 0] = 1.0
    return (scores - scores.mean(axis=1, keepdims=True)) / sd


@dataclass
class Blend(Strategy):
    components: dict[str, Strategy]
    weights: dict[str, float] = field(default_factory=dict)
    name: str = "hybrid"

    @property
    def uses_user_identity(self) -> bool:
        return any(c.uses_user_identity for c in self.components.values())

    def fit(self, histories, n_items, times=None):
        """`times` (aligned with histories) reaches the components that use a clock."""
        for c in self.components.values():
            if times is not None and isinstance(c, Popularity):
                c.fit(histories, n_items, times=times)
            else:
                c.fit(histories, n_items)
        self.n_items = n_items
        return self

    def score_parts(self, users, histories) -> dict[str, np.ndarray]:
        """Each weighted component's contribution (its scaled scores times its weight)."""
        return {name: w * scale_per_user(self.components[name].score(users, histories))
                for name, w in self.weights.items() if w}

    @property
    def attribution_names(self) -> list[str]:
        return [name for name, w in self.weights.items() if w]

    def score_and_attribution(self, users, histories) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The blend's scores, and each weighted component's normalised contribution (its
        weight times its standardised score): which strategy an item is credited to. Raw
        scaled parts would credit the strategy whose scores crowd near its maximum."""
        total = np.zeros((len(histories), self.n_items), dtype=np.float32)
        contributions = {}
        for name, w in self.weights.items():
            if w:
                raw = self.components[name].score(users, histories)
                contributions[name] = w * zscore_per_user(raw)
                total += w * scale_per_user(raw)
        return total, contributions

    def score(self, users, histories):
        total = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for part in self.score_parts(users, histories).values():
            total += part
        return total

    def explain(self, users, histories, items: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Each weighted component's part of the score of `items` (B, k; -1 for none): the
        parts add up to the blend's score. Returns (B, k, components), their names."""
        parts = self.score_parts(users, histories)
        safe = np.maximum(items, 0)
        out = np.stack([np.take_along_axis(p, safe, axis=1) for p in parts.values()], axis=2)
        out[items < 0] = 0.0
        return out, list(parts)

    # The save/load contract (strategy.py), applied to each component under its name.
    def get_params(self) -> dict:
        return {"components": {n: c.describe() for n, c in self.components.items()}, "weights": self.weights,
                "name": self.name}

    def state_arrays(self) -> dict:
        return {f"{n}/{k}": v for n, c in self.components.items() for k, v in c.state_arrays().items()}

    @classmethod
    def from_state(cls, params: dict, state: dict, allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> "Blend":
        components = {n: build_strategy(d, split_prefix(state, f"{n}/"), allowed_modules)
                      for n, d in params["components"].items()}
        blend = cls(components, params["weights"], params["name"])
        blend.n_items = next(iter(components.values())).n_items
        return blend


def tune_weights(components: dict[str, Strategy], split: Split, sample: int = 3000, seed: int = 0,
                 rounds: int = 3, metric: str = "NDCG@10") -> tuple[dict[str, float], dict]:
    """Coordinate ascent over WEIGHT_GRID on a sample of the validation split.
    Returns (weights, trace) where trace records the metric after each accepted step."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(split.targets), min(sample, len(split.targets)), replace=False))
    hist = [split.histories[i] for i in rows]
    targets = split.targets[rows]
    scaled = {name: scale_per_user(c.score(split.users[rows], hist)) for name, c in components.items()}
    for name in scaled:  # history exclusion once, shared by every blend
        for r, h in enumerate(hist):
            scaled[name][r, h] = 0.0
    mask = np.zeros_like(next(iter(scaled.values())), dtype=bool)
    for r, h in enumerate(hist):
        mask[r, h] = True

    def value(weights: dict[str, float]) -> float:
        total = sum(w * scaled[n] for n, w in weights.items() if w)
        if isinstance(total, int):
            return 0.0
        total = np.where(mask, -np.inf, total)
        ranks = target_ranks(total, targets, [np.empty(0, dtype=np.int64)] * len(targets),
                             np.random.default_rng(seed), exclude_history=False)
        return metrics_from_ranks(ranks, (10,))[metric]

    singles = {n: value({n: 1.0}) for n in components}
    best_name = max(singles, key=singles.get)
    weights = {n: (1.0 if n == best_name else 0.0) for n in components}
    best = singles[best_name]
    trace = {"single": singles, "steps": [(dict(weights), best)]}
    for _ in range(rounds):
        improved = False
        for name in components:
            if name == best_name:
                continue
            for w in WEIGHT_GRID:
                trial = {**weights, name: w}
                v = value(trial)
                if v > best + 1e-6:
                    best, weights, improved = v, trial, True
                    trace["steps"].append((dict(weights), best))
        if not improved:
            break
    trace["validation_" + metric] = best
    return weights, trace
