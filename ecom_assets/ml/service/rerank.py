"""A learned second stage over the fused ranking: LightGBM lambdarank on each question's
top candidates.

The linear fusion adds standardised scores; it cannot say "BM25's score counts when the
encoder is unsure", nor use what the scores do not hold: how long an answer is, how often
the same answer text was given before (a "yes" answers many questions), whether a yes/no
question meets an answer that starts with yes or no, or whether the numbers of the
question reappear in the answer. Per (question, candidate) the features are:

    fused score, its gap to the question's top, the candidate's fused position
    per component (dense, lexical, classifier): standardised score and rank
    answer words (log), question words, content words shared, numbers shared
    answer prior: log(1 + times the answer was given to an earlier question)
    polar question; answer opens affirmative / negative; the prior on polar questions

The candidates are the fused top `candidates`, plus the few answers with the largest prior
(so a frequent short answer is always considered). It is trained on the validation
questions: rounds chosen by grouped K-fold cross-validation, and adopted only when its
cross-validated MRR beats the linear fusion's on the same questions (`fit_reranker`).
Its out-of-fold scores are what a calibrator may be fitted on. Candidates are lifted above
every other answer in their new order; the rest keep the fused order below them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ecom_assets.ml.service.language import words
from ecom_assets.ml.service.retrieval import COMPONENTS, normalise_answer, retrieval_metrics, standardise

FEATURES = ("fused", "fused_gap", "fused_position",
            *(f"{c}_{kind}" for c in COMPONENTS for kind in ("z", "rank")),
            "answer_words", "question_words", "shared_words", "shared_numbers", "question_numbers",
            "answer_prior", "polar_question", "answer_affirmative", "answer_negative", "polar_prior")
# Polar (yes/no) questions and answers that open with a yes or a no, per language.
_POLAR_EN = re.compile(r"^\W*(is|are|does|do|did|can|could|will|would|should|has|have|had|was|were|may|might|must)\b", re.I)
_POLAR_ZH = re.compile(r"(吗|么)[？?\s]*$|是不是|能不能|可不可以|有没有|会不会|行不行")
_YES = {"en": re.compile(r"^\W*(yes|yeah|yep|yup|sure|absolutely|definitely|correct|it does|it will)\b", re.I),
        "zh": re.compile(r"^\W*(是的|是|可以|能|会|有|对)")}
_NO = {"en": re.compile(r"^\W*(no|nope|not|it does not|it doesn't|it won't)\b", re.I),
       "zh": re.compile(r"^\W*(不|没|否|无法)")}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def is_polar(question: str, language: str) -> bool:
    return bool((_POLAR_ZH if language == "zh" else _POLAR_EN).search(question or ""))


def answer_priors(answer_texts: list[str], earlier_answers: list[str]) -> np.ndarray:
    """log(1 + how often each answer's text (normalised) was the answer to an earlier question)."""
    counts: dict[str, int] = {}
    for a in earlier_answers:
        key = normalise_answer(a)
        counts[key] = counts.get(key, 0) + 1
    return np.log1p(np.array([counts.get(normalise_answer(a), 0) for a in answer_texts], dtype=np.float32))


def bank_priors(answer_index: np.ndarray, n_answers: int) -> np.ndarray:
    """log(1 + answered questions per answer row) from a question bank's answer indices."""
    return np.log1p(np.bincount(np.asarray(answer_index, dtype=np.int64), minlength=n_answers)[:n_answers]).astype(np.float32)


def _ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty_like(order)
    out[np.arange(len(scores))[:, None], order] = np.arange(scores.shape[1])[None, :]
    return out


@dataclass
class Candidates:
    index: np.ndarray  # (Q, k) answer indices
    features: np.ndarray  # (Q, k, len(FEATURES))


def candidate_features(fused: np.ndarray, components: dict[str, np.ndarray | None], questions: list[str],
                       question_languages: list[str], answers: list[str], answer_languages: list[str],
                       prior: np.ndarray, candidates: int = 50, frequent: int = 5) -> Candidates:
    n_answers = fused.shape[1]
    k = min(candidates, n_answers)
    index = np.argsort(-np.where(np.isfinite(fused), fused, -np.inf), axis=1, kind="stable")[:, :k]
    common = np.argsort(-prior, kind="stable")[:frequent]
    answer_languages = np.asarray(answer_languages)
    for q in range(len(index)):
        extra = [j for j in common if j not in index[q] and answer_languages[j] == question_languages[q]]
        if extra and k > len(extra):
            index[q, k - len(extra):] = extra
    rows = np.arange(len(index))[:, None]
    top = np.where(np.isfinite(fused), fused, -np.inf).max(axis=1, keepdims=True)
    cols = [fused[rows, index], fused[rows, index] - top, np.broadcast_to(np.arange(k), index.shape)]
    for name in COMPONENTS:
        m = components.get(name)
        if m is None:
            cols += [np.zeros(index.shape), np.full(index.shape, n_answers)]
        else:
            cols += [standardise(m)[rows, index], _ranks(np.where(np.isfinite(m), m, -np.inf))[rows, index]]
    answer_words = [set(words(a, lang)) for a, lang in zip(answers, answer_languages)]
    answer_numbers = [set(_NUMBER.findall(a or "")) for a in answers]
    yes = np.array([bool(_YES.get(lang, _YES["en"]).match(a or "")) for a, lang in zip(answers, answer_languages)])
    no = np.array([bool(_NO.get(lang, _NO["en"]).match(a or "")) for a, lang in zip(answers, answer_languages)])
    n_words = np.log1p([len(w) for w in answer_words])
    per_question = []
    for q, (text, lang) in enumerate(zip(questions, question_languages)):
        qw, qn, polar = set(words(text, lang)), set(_NUMBER.findall(text or "")), float(is_polar(text, lang))
        c = index[q]
        per_question.append(np.column_stack([
            n_words[c], np.full(k, np.log1p(len(qw))), [len(qw & answer_words[j]) for j in c],
            [len(qn & answer_numbers[j]) for j in c], np.full(k, len(qn)), prior[c], np.full(k, polar),
            yes[c], no[c], prior[c] * polar]))
    x = np.concatenate([np.stack([np.asarray(col, dtype=np.float32) for col in cols], axis=2),
                        np.stack(per_question).astype(np.float32)], axis=2)
    return Candidates(index, np.nan_to_num(x, neginf=-1e3, posinf=1e3))


def lift(fused: np.ndarray, candidates: Candidates, scores: np.ndarray) -> np.ndarray:
    """The fused matrix with each question's candidates placed above every other answer,
    ordered by `scores` (Q, k)."""
    out = fused.astype(np.float64).copy()
    finite = np.where(np.isfinite(out), out, -np.inf)
    ceiling = finite.max(axis=1, keepdims=True)
    rows = np.arange(len(out))[:, None]
    placed = ceiling + 1.0 + (scores - scores.min(axis=1, keepdims=True))
    keep = np.isfinite(out[rows, candidates.index])
    out[rows, candidates.index] = np.where(keep, placed, -np.inf)
    return out.astype(np.float32)


@dataclass
class RerankConfig:
    candidates: int = 50
    frequent: int = 5
    rounds: tuple[int, ...] = (50, 100, 200)
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 50
    folds: int = 5
    seed: int = 0
    threads: int = 2


@dataclass
class AnswerReranker:
    booster: object
    rounds: int
    config: RerankConfig = field(default_factory=RerankConfig)

    def scores(self, candidates: Candidates) -> np.ndarray:
        q, k, f = candidates.features.shape
        return self.booster.predict(candidates.features.reshape(-1, f), num_iteration=self.rounds).reshape(q, k)

    def rerank(self, fused: np.ndarray, candidates: Candidates) -> np.ndarray:
        return lift(fused, candidates, self.scores(candidates))

    def to_string(self) -> str:
        return self.booster.model_to_string(num_iteration=self.rounds)

    @classmethod
    def from_string(cls, text: str, config: RerankConfig | None = None) -> "AnswerReranker":
        import lightgbm as lgb

        booster = lgb.Booster(model_str=text)
        return cls(booster, booster.current_iteration(), config or RerankConfig())


@dataclass
class RerankFit:
    reranker: AnswerReranker | None  # None: the linear fusion was as good or better
    out_of_fold: np.ndarray  # (Q, N) reranked scores of each question from the folds it was not trained on
    trace: list[dict]
    linear_mrr: float
    cv_mrr: float


def _params(config: RerankConfig) -> dict:
    return {"objective": "lambdarank", "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
            "min_data_in_leaf": config.min_data_in_leaf, "feature_fraction": 0.8, "bagging_fraction": 0.8,
            "bagging_freq": 1, "lambdarank_truncation_level": 20, "verbose": -1, "seed": config.seed,
            "num_threads": config.threads, "deterministic": True, "force_row_wise": True}


def _train(x: np.ndarray, y: np.ndarray, config: RerankConfig, rounds: int):
    import lightgbm as lgb

    q, k, f = x.shape
    data = lgb.Dataset(x.reshape(-1, f), y.reshape(-1).astype(int), group=[k] * q, feature_name=list(FEATURES),
                       free_raw_data=True)
    return lgb.train(_params(config), data, num_boost_round=rounds)


def fit_reranker(fused: np.ndarray, candidates: Candidates, relevant: np.ndarray, groups: np.ndarray | None = None,
                 config: RerankConfig = RerankConfig()) -> RerankFit:
    """Train on these (validation) questions. `groups` keeps related questions (one
    product's, one day's) in one fold; by default each question is its own group."""
    q = len(fused)
    labels = relevant[np.arange(q)[:, None], candidates.index]
    linear = retrieval_metrics(fused, relevant)["MRR"]
    groups = np.arange(q) if groups is None else np.asarray(groups)
    unique = np.unique(groups)
    rng = np.random.default_rng(config.seed)
    fold_of_group = dict(zip(unique, rng.permutation(len(unique)) % config.folds))
    fold = np.array([fold_of_group[g] for g in groups])
    best_rounds = max(config.rounds)
    predictions = {r: np.zeros(candidates.index.shape) for r in config.rounds}
    usable = labels.any(axis=1)  # a question whose answer is not among the candidates teaches nothing
    for f in range(config.folds):
        train, held = (fold != f) & usable, fold == f
        if not train.any() or not held.any():
            continue
        booster = _train(candidates.features[train], labels[train], config, best_rounds)
        for r in config.rounds:
            predictions[r][held] = booster.predict(candidates.features[held].reshape(-1, len(FEATURES)),
                                                   num_iteration=r).reshape(-1, candidates.index.shape[1])
    trace = []
    for r in config.rounds:
        mrr = retrieval_metrics(lift(fused, candidates, predictions[r]), relevant)["MRR"]
        trace.append({"rounds": r, "cv_MRR": round(mrr, 5)})
    best = max(trace, key=lambda t: (t["cv_MRR"], -t["rounds"]))
    out_of_fold = lift(fused, candidates, predictions[best["rounds"]])
    if best["cv_MRR"] <= linear or not usable.any():
        return RerankFit(None, out_of_fold, trace, linear, best["cv_MRR"])
    booster = _train(candidates.features[usable], labels[usable], config, best["rounds"])
    return RerankFit(AnswerReranker(booster, best["rounds"], config), out_of_fold, trace, linear, best["cv_MRR"])
