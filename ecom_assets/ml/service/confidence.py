"""How sure the top answer is right, and when to hand the question to a person.

Features of a ranked question: the fused top score and its margin to the second answer,
the encoder's top cosine and margin, BM25's top score (standardised), whether the two
retrievers' top answers agree, where the fused top answer sits in each retriever's own
ranking, and, where a question classifier exists, the probability it gives the fused top
answer and whether its own best is the same (zeros without one). A logistic regression on held-out questions turns them into a probability
that the top answer is right (`Calibrator`); `threshold_for_precision` picks the lowest
probability whose answered set still reaches a target precision, judged by a Wilson lower
bound so that a handful of lucky validation questions cannot set it. Selective answering
is read as a risk-coverage curve (risk = share wrong among the answered, answering the
most confident first) and its area, AURC (lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.service.retrieval import standardise

FEATURES = ("fused_top", "fused_margin", "dense_top", "dense_margin", "lexical_top", "agree",
            "top_rank_dense", "top_rank_lexical", "classifier_top", "classifier_agree")
BASE_FEATURES = FEATURES[:8]
"""What a calibrator saved before the classifier features existed was fitted on."""


def _top2(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: index of the best, its score, and the margin to the second best (0 when one)."""
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-finite, axis=1)[:, :2]
    rows = np.arange(len(scores))
    top = finite[rows, order[:, 0]]
    second = finite[rows, order[:, 1]] if scores.shape[1] > 1 else top
    both = np.isfinite(second) & np.isfinite(top)
    margin = np.zeros(len(scores))
    margin[both] = top[both] - second[both]
    return order[:, 0], np.where(np.isfinite(top), top, 0.0), margin


def _rank_of(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    chosen = scores[np.arange(len(scores)), items][:, None]
    return 1.0 + (scores > chosen).sum(axis=1)


def confidence_features(fused: np.ndarray, dense: np.ndarray | None, lexical: np.ndarray | None,
                        classifier: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the fused top answer per question, a (Q, len(FEATURES)) feature matrix)."""
    top, fused_top, fused_margin = _top2(fused)
    q = len(fused)
    zero = np.zeros(q, np.float32)
    if dense is not None:
        dense_best, dense_top, dense_margin = _top2(dense)
        rank_dense = np.log(_rank_of(dense, top))
    else:
        dense_best, dense_top, dense_margin, rank_dense = top, zero, zero, zero
    if lexical is not None:
        z = standardise(lexical)
        lexical_best, lexical_top, _ = _top2(z)
        rank_lexical = np.log(_rank_of(lexical, top))
    else:
        lexical_best, lexical_top, rank_lexical = top, zero, zero
    agree = (dense_best == lexical_best).astype(np.float32)
    if classifier is not None:
        chosen = classifier[np.arange(q), top]
        classifier_top = np.where(np.isfinite(chosen), np.exp(np.minimum(chosen, 0.0)), 0.0)
        classifier_agree = (np.where(np.isfinite(classifier), classifier, -np.inf).argmax(axis=1) == top).astype(np.float32)
    else:
        classifier_top, classifier_agree = zero, zero
    x = np.column_stack([fused_top, fused_margin, dense_top, dense_margin, lexical_top, agree, rank_dense, rank_lexical,
                         classifier_top, classifier_agree])
    return top, x.astype(np.float32)


@dataclass
class Calibrator:
    """Logistic regression (standardised features, L2) on held-out questions: P(top answer right)."""

    c: float = 1.0
    features: tuple[str, ...] = FEATURES
    """The columns of `confidence_features` it reads (a calibrator saved by an older
    version reads the ones it was fitted on)."""

    allow_one_class: bool = False
    """When every held-out answer was right (or every one wrong) nothing separates them: with
    this set, P(right) is Laplace's rule of succession, (right + 1) / (n + 2), for every
    question; without it that is an error."""

    def _columns(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] == len(FEATURES) and tuple(self.features) != FEATURES:
            return x[:, [FEATURES.index(f) for f in self.features]]
        return x

    def fit(self, x: np.ndarray, correct: np.ndarray) -> "Calibrator":
        from sklearn.linear_model import LogisticRegression

        x = self._columns(x)
        correct = np.asarray(correct, dtype=int)
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0).clip(min=1e-6)
        if not len(correct) or correct.min() == correct.max():
            if not self.allow_one_class:
                raise ValueError("calibration needs held-out questions answered both right and wrong")
            p = (correct.sum() + 1.0) / (len(correct) + 2.0)
            self.coef, self.intercept = np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
            return self
        model = LogisticRegression(C=self.c, max_iter=1000).fit((x - self.mean) / self.scale, correct)
        self.coef, self.intercept = model.coef_[0].astype(np.float64), float(model.intercept_[0])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self._columns(x)
        logit = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def state(self) -> dict:
        return {"c": self.c, "mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "features": list(self.features)}

    @classmethod
    def from_state(cls, state: dict) -> "Calibrator":
        out = cls(c=state["c"], features=tuple(state.get("features") or BASE_FEATURES))
        out.mean, out.scale = np.asarray(state["mean"]), np.asarray(state["scale"])
        out.coef, out.intercept = np.asarray(state["coef"]), float(state["intercept"])
        return out


def cross_fitted_probabilities(x: np.ndarray, correct: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each held-out question's probability from a calibrator fit on the other folds (what
    a threshold is chosen on, so it is not chosen on the calibrator's own training fit)."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(x)) % folds
    out = np.zeros(len(x))
    for f in range(folds):
        fit = fold != f
        out[fold == f] = Calibrator(allow_one_class=True).fit(x[fit], correct[fit]).predict(x[fold == f])
    return out


def wilson_lower(successes: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    n = np.maximum(n, 1)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def threshold_for_precision(probabilities: np.ndarray, correct: np.ndarray, target: float, z: float = 1.0
                            ) -> dict:
    """The lowest probability threshold whose answered set (probability >= it) has a Wilson
    lower bound (z) on precision of at least `target`, answering the most questions; when no
    threshold reaches it, nothing is answered (threshold above 1)."""
    order = np.argsort(-probabilities, kind="stable")
    p, c = probabilities[order], np.asarray(correct, dtype=float)[order]
    answered = np.arange(1, len(p) + 1)
    hits = np.cumsum(c)
    # A threshold can only cut between distinct probabilities.
    last_of_value = np.r_[p[1:] != p[:-1], True]
    ok = (wilson_lower(hits, answered, z) >= target) & last_of_value
    if not ok.any():
        return {"threshold": 1.0 + 1e-9, "coverage": 0.0, "precision": None, "target": target, "z": z}
    k = int(np.flatnonzero(ok).max())
    return {"threshold": float(p[k]), "coverage": float((k + 1) / len(p)), "precision": float(hits[k] / (k + 1)),
            "target": target, "z": z}


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> dict:
    """Risk (share wrong among the answered) at each coverage, answering the most confident
    first; AURC is its mean over the coverages 1/n .. 1 (lower is better), beside the
    best possible AURC for the same accuracy (every right answer ranked first)."""
    c = np.asarray(correct, dtype=float)
    order = np.argsort(-np.asarray(confidence), kind="stable")
    answered = np.arange(1, len(c) + 1)
    risk = 1.0 - np.cumsum(c[order]) / answered
    oracle = 1.0 - np.cumsum(np.sort(c)[::-1]) / answered
    return {"coverage": answered / len(c), "risk": risk, "aurc": float(risk.mean()) if len(c) else 0.0,
            "oracle_aurc": float(oracle.mean()) if len(c) else 0.0, "accuracy": float(c.mean()) if len(c) else 0.0}


def at_threshold(probabilities: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    answered = probabilities >= threshold
    n = int(answered.sum())
    return {"coverage": float(answered.mean()) if len(answered) else 0.0,
            "precision": float(np.asarray(correct)[answered].mean()) if n else None, "answered": n,
            "questions": int(len(answered))}


def judge_replies(judged: pd.DataFrame) -> pd.DataFrame:
    """Replies against the agents' answers (columns language, category, answer_id,
    agent_answer_id, confidence, handed_off, reason), overall and per language and
    category: coverage, precision of the answered, AURC and top-1 accuracy, and the share
    answered right among the questions a reply may answer at all. Those leave out a
    question with personal data (always a person's) and one whose right answer needs
    account data the customer does not have (the reply found that answer and handed off
    instead of inventing the slot); a wrong answer that hit a slot stays in, as a miss."""
    correct = judged["answer_id"] == judged["agent_answer_id"]
    reason = judged["reason"].fillna("")
    personal = reason.str.startswith("personal data")
    unanswerable = reason.str.startswith("missing account data") & correct
    judged = judged.assign(correct=correct, eligible=~personal & ~unanswerable, personal=personal)
    groups = [(("all", "all"), judged), *[(("language", k), g) for k, g in judged.groupby("language")],
              *[(("category", k), g) for k, g in judged.groupby("category")]]
    rows = []
    for (scope, value), part in groups:
        answered, eligible, ranked = part[~part["handed_off"]], part[part["eligible"]], part[~part["personal"]]
        curve = risk_coverage(ranked["confidence"].to_numpy(), ranked["correct"].to_numpy()) if len(ranked) else None
        rows.append({"scope": scope, "value": value, "questions": len(part), "answerable": len(eligible),
                     "coverage": float((~part["handed_off"]).mean()),
                     "precision": float(answered["correct"].mean()) if len(answered) else None,
                     "answered_correctly": float((~eligible["handed_off"] & eligible["correct"]).mean()) if len(eligible) else None,
                     "aurc": curve["aurc"] if curve else None, "top1_accuracy": curve["accuracy"] if curve else None})
    return pd.DataFrame(rows)
