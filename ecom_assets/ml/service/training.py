"""Training the shop's customer-service responder from its answered tickets.

    pairs before `valid_start`          fine-tune the encoder (question -> its answer text);
                                        with the FAQ's phrasings, the question bank that the
                                        retrievers match against and the classifier learns from
    pairs in [valid_start, cutoff)      stop the fine-tune, choose the classifier's strength and
                                        the fusion weights (per language), fit the calibrator
                                        and choose the hand-off threshold (cross-fitted
                                        probabilities, target precision)

Every answer in `answers` (both languages) is a candidate for every question of its
language, as at reply time. Nothing from the cutoff on is read: the replies to those
tickets are the honest test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecom_assets.ml.service.confidence import (
    Calibrator,
    confidence_features,
    cross_fitted_probabilities,
    threshold_for_precision,
)
from ecom_assets.ml.service.replies import SupportResponder
from ecom_assets.ml.service.rerank import AnswerReranker, RerankConfig, bank_priors, candidate_features, fit_reranker
from ecom_assets.ml.service.retrieval import (
    DenseRetriever,
    LexicalRetriever,
    QuestionBank,
    choose_weights,
    classifier_for,
    fuse_components,
    retrieval_metrics,
    weights_by_row,
)
from ecom_assets.ml.service.tuning import PairTuneConfig, PairTuneResult, finetune_pairs, lexical_hard_negatives

RESPONDER_FILE = "responder.json"
RERANKER_FILE = "reranker.txt"  # LightGBM's text model


@dataclass
class ResponderSettings:
    target_precision: float = 0.95
    wilson_z: float = 1.0
    tune: PairTuneConfig = field(default_factory=PairTuneConfig)
    hard_pool: int = 10
    classifier_strengths: tuple[float, ...] = (10.0, 100.0)
    """The question classifier's inverse L2 strengths tried on validation."""
    rerank: bool = True
    """Try the learned reranker on validation (kept only where it beats the linear fusion there)."""
    rerank_config: RerankConfig = field(default_factory=RerankConfig)
    seed: int = 0


@dataclass
class ResponderTraining:
    weights: dict[str, dict[str, float]]  # per language, per component (dense, lexical, classifier)
    classifier_c: float | None  # None: no classifier (too few answered questions)
    reranker: AnswerReranker | None  # None: the linear fusion serves
    calibrator: Calibrator
    threshold: dict
    tune: PairTuneResult | None
    validation: dict
    fusion_trace: list[dict]


def question_bank(answers: pd.DataFrame, pairs: pd.DataFrame | None = None) -> QuestionBank:
    """The FAQ's own questions (`answers.question`, where given) and the questions of
    answered tickets (`pairs`), each pointing at its answer's row in `answers`."""
    index = {(a, lang): i for i, (a, lang) in enumerate(zip(answers["answer_id"], answers["language"]))}
    questions, rows = [], []
    if "question" in answers:
        for i, q in enumerate(answers["question"]):
            if isinstance(q, str) and q.strip():
                questions.append(q)
                rows.append(i)
    if pairs is not None:
        for q, a, lang in zip(pairs["question"], pairs["answer_id"], pairs["language"]):
            if (a, lang) in index and isinstance(q, str):
                questions.append(q)
                rows.append(index[(a, lang)])
    return QuestionBank(questions, np.asarray(rows, dtype=np.int64))


def relevance_matrix(pairs: pd.DataFrame, answers: pd.DataFrame) -> np.ndarray:
    index = {(a, lang): i for i, (a, lang) in enumerate(zip(answers["answer_id"], answers["language"]))}
    out = np.zeros((len(pairs), len(answers)), dtype=bool)
    for r, key in enumerate(zip(pairs["answer_id"], pairs["language"])):
        if key in index:
            out[r, index[key]] = True
    return out


def train_responder(encoder, pairs: pd.DataFrame, answers: pd.DataFrame, valid_start, cutoff,
                    settings: ResponderSettings = ResponderSettings(), log=print) -> ResponderTraining:
    """`pairs`: question, answer_id, language, created_at; `answers`: answer_id, language,
    answer. Fine-tunes `encoder` in place (when there are training pairs and a budget)."""
    pairs = pairs[pd.to_datetime(pairs["created_at"]) < pd.Timestamp(cutoff)]
    fit = pairs[pd.to_datetime(pairs["created_at"]) < pd.Timestamp(valid_start)].reset_index(drop=True)
    valid = pairs[pd.to_datetime(pairs["created_at"]) >= pd.Timestamp(valid_start)].reset_index(drop=True)
    if not len(valid):
        raise ValueError(f"no answered ticket between {valid_start} and {cutoff} to validate on")
    texts, languages = answers["answer"].tolist(), answers["language"].tolist()
    relevant_valid = relevance_matrix(valid, answers)
    valid_q, valid_lang = valid["question"].tolist(), valid["language"].tolist()
    # Validation questions meet the answers as replies will: with the questions answered
    # before them (the FAQ's and the fit window's tickets) in the bank, never their own.
    bank = question_bank(answers, fit)
    lexical_valid = LexicalRetriever().build(bank.expand(texts), languages).scores(valid_q, valid_lang)

    def dense_valid(enc) -> np.ndarray:
        return DenseRetriever(enc).build(texts, languages, bank).scores(valid_q, valid_lang)

    # The fine-tune's validation scores, one per evaluation in its history's order: the
    # weights it keeps are those of its best evaluation, whose scores need no second pass.
    evaluations: list[np.ndarray] = []

    def tune_mrr(enc) -> float:
        evaluations.append(dense_valid(enc))
        return retrieval_metrics(evaluations[-1], relevant_valid)["MRR"]

    tune = None
    if len(fit) and settings.tune.max_seconds > 0:
        text_of = {(a, lang): t for a, lang, t in zip(answers["answer_id"], answers["language"], answers["answer"])}
        fit_answers = [text_of[(a, lang)] for a, lang in zip(fit["answer_id"], fit["language"])]
        relevant_fit = relevance_matrix(fit, answers)
        lexical_fit = LexicalRetriever().build(texts, languages).scores(fit["question"].tolist(), fit["language"].tolist())
        keys = [f"{a}\x1f{lang}" for a, lang in zip(answers["answer_id"], answers["language"])]
        picked = lexical_hard_negatives(np.where(np.isfinite(lexical_fit), lexical_fit, 0.0), relevant_fit.argmax(axis=1),
                                        keys, settings.hard_pool, np.random.default_rng(settings.seed))
        negatives = [texts[j] if j >= 0 else None for j in picked]
        tune = finetune_pairs(encoder, fit["question"].tolist(), fit_answers, tune_mrr, settings.tune,
                              negatives=negatives, log=log)
    steps = [h["step"] for h in tune.history] if tune is not None else []
    dense = evaluations[steps.index(tune.best_step)] if len(steps) == len(evaluations) and steps else dense_valid(encoder)
    classifier_c, classifier_valid, classifier_mrr = None, None, None
    for c in settings.classifier_strengths:
        model = classifier_for(bank, languages, c)
        if model is None:
            break
        scores = model.scores(valid_q, valid_lang)
        mrr = retrieval_metrics(scores, relevant_valid)["MRR"]
        if classifier_mrr is None or mrr > classifier_mrr:
            classifier_c, classifier_valid, classifier_mrr = c, scores, mrr
    components = {"dense": dense, "lexical": lexical_valid, "classifier": classifier_valid}
    overall, trace = choose_weights(components, relevant_valid)
    # Weights per language: the encoder, the word index and the classifier are not equally
    # good in each.
    weight = {}
    for language in sorted(set(languages)):
        rows = np.flatnonzero(np.asarray(valid_lang) == language)
        weight[language] = (choose_weights({k: (m[rows] if m is not None else None) for k, m in components.items()},
                                           relevant_valid[rows])[0] if len(rows) else overall)
    fused = fuse_components(components, weights_by_row(weight, valid_lang, default=overall))
    linear_mrr = retrieval_metrics(fused, relevant_valid)["MRR"]
    reranker, rerank_trace = None, []
    if settings.rerank:
        candidates = candidate_features(fused, components, valid_q, valid_lang, texts, languages,
                                        bank_priors(bank.answer_index, len(texts)), settings.rerank_config.candidates,
                                        settings.rerank_config.frequent)
        days = pd.to_datetime(valid["created_at"]).dt.floor("D").to_numpy()  # one day's tickets in one fold
        fitted = fit_reranker(fused, candidates, relevant_valid, groups=days, config=settings.rerank_config)
        reranker, rerank_trace = fitted.reranker, fitted.trace
        if reranker is not None:  # calibrate on out-of-fold scores, as replies will meet them
            fused = fitted.out_of_fold
    top, x = confidence_features(fused, dense, lexical_valid, classifier_valid)
    correct = relevant_valid[np.arange(len(valid)), top]
    probabilities = cross_fitted_probabilities(x, correct, seed=settings.seed)
    threshold = threshold_for_precision(probabilities, correct, settings.target_precision, z=settings.wilson_z)
    calibrator = Calibrator(allow_one_class=True).fit(x, correct)
    validation = {**{k: round(v, 4) if isinstance(v, float) else v for k, v in retrieval_metrics(fused, relevant_valid).items()},
                  "dense_MRR": round(retrieval_metrics(dense, relevant_valid)["MRR"], 4),
                  "lexical_MRR": round(retrieval_metrics(lexical_valid, relevant_valid)["MRR"], 4),
                  "classifier_MRR": None if classifier_mrr is None else round(classifier_mrr, 4),
                  "linear_fusion_MRR": round(linear_mrr, 4), "reranker": reranker is not None,
                  "rerank_trace": rerank_trace,
                  "top1_accuracy": round(float(correct.mean()), 4), "fit_pairs": int(len(fit)),
                  "validation_pairs": int(len(valid))}
    for language in sorted(set(valid_lang)):
        rows = np.asarray(valid_lang) == language
        validation[f"top1_accuracy_{language}"] = round(float(correct[rows].mean()), 4)
    log(f"responder: weights by language {weight}, classifier C {classifier_c}, reranker "
        f"{'adopted' if reranker else 'not adopted'} {rerank_trace}, validation MRR {validation['MRR']:.4f}, "
        f"threshold {threshold['threshold']:.3f} answers {threshold['coverage']:.1%} at precision {threshold['precision']}")
    validation["bank_questions"] = len(bank.questions)
    return ResponderTraining(weight, classifier_c, reranker, calibrator, threshold, tune, validation, trace)


def responder_weights(settings: dict) -> dict[str, dict[str, float]]:
    """Per-language component weights from a saved responder.json (one written before the
    classifier existed held the encoder's weight per language, BM25 taking the rest)."""
    if "weights" in settings:
        return settings["weights"]
    dense = settings["dense_weight"]
    if not isinstance(dense, dict):
        return {"en": {"dense": dense, "lexical": 1.0 - dense}, "zh": {"dense": dense, "lexical": 1.0 - dense}}
    return {lang: {"dense": w, "lexical": 1.0 - w} for lang, w in dense.items()}


@dataclass
class SavedResponder:
    """What a model folder holds beside the encoder: responder.json's settings, the
    calibrator and the reranker (None where validation kept the linear fusion)."""

    settings: dict
    calibrator: Calibrator
    reranker: AnswerReranker | None

    @property
    def weights(self) -> dict[str, dict[str, float]]:
        return responder_weights(self.settings)

    @property
    def max_length(self) -> int:
        return int(self.settings.get("max_length", 64))

    def responder(self, encoder, answers: pd.DataFrame, bank: QuestionBank,
                  answer_embeddings: np.ndarray | None = None) -> SupportResponder:
        """The responder over `answers` (answer_id, language, answer) with this bank."""
        return SupportResponder(answers["answer_id"].tolist(), answers["language"].tolist(), answers["answer"].tolist(),
                                self.weights, self.calibrator, self.settings["threshold"], encoder,
                                answer_embeddings=answer_embeddings, bank=bank,
                                classifier_c=self.settings.get("classifier_c"), reranker=self.reranker)


def save_responder(folder: Path, trained: ResponderTraining, target_precision: float, max_length: int) -> None:
    """Write responder.json (and the reranker's model) into a model version's folder."""
    rerank = None
    if trained.reranker is not None:
        (folder / RERANKER_FILE).write_text(trained.reranker.to_string())
        rerank = {"file": RERANKER_FILE, "candidates": trained.reranker.config.candidates,
                  "frequent": trained.reranker.config.frequent, "rounds": trained.reranker.rounds}
    (folder / RESPONDER_FILE).write_text(json.dumps({
        "weights": trained.weights, "classifier_c": trained.classifier_c, "reranker": rerank,
        "threshold": trained.threshold["threshold"], "target_precision": target_precision,
        "calibrator": trained.calibrator.state(), "max_length": max_length}, indent=2))


def load_responder(folder: Path) -> SavedResponder:
    """The responder files of a (verified) model folder."""
    settings = json.loads((folder / RESPONDER_FILE).read_text())
    rerank = settings.get("reranker")
    reranker = (AnswerReranker.from_string((folder / rerank["file"]).read_text(),
                                           RerankConfig(candidates=rerank["candidates"], frequent=rerank["frequent"]))
                if rerank else None)
    return SavedResponder(settings, Calibrator.from_state(settings["calibrator"]), reranker)


def validation_mrr(encoder, saved: SavedResponder, pairs: pd.DataFrame, answers: pd.DataFrame, valid_start,
                   cutoff) -> float:
    """A saved responder's MRR on the answered tickets of [valid_start, cutoff), with the
    bank of the tickets before it, ranked as its replies rank: how a champion is scored
    again on a challenger's validation window."""
    created = pd.to_datetime(pairs["created_at"])
    valid = pairs[(created >= pd.Timestamp(valid_start)) & (created < pd.Timestamp(cutoff))]
    bank = question_bank(answers, pairs[created < pd.Timestamp(valid_start)])
    fused, _ = saved.responder(encoder, answers, bank).rank(valid["question"].tolist(), valid["language"].tolist())
    return retrieval_metrics(fused, relevance_matrix(valid, answers))["MRR"]
