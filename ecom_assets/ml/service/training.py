"""Training the shop's customer-service responder from its answered tickets.

    pairs before `valid_start`          fine-tune the encoder (question -> its answer text)
    pairs in [valid_start, cutoff)      stop the fine-tune, choose the fusion weight, fit the
                                        calibrator and choose the hand-off threshold
                                        (cross-fitted probabilities, target precision)

Every answer in `answers` (both languages) is a candidate for every question of its
language, as at reply time. Nothing from the cutoff on is read: the replies to those
tickets are the honest test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecom_assets.ml.service.confidence import (
    Calibrator,
    confidence_features,
    cross_fitted_probabilities,
    threshold_for_precision,
)
from ecom_assets.ml.service.retrieval import (
    DenseRetriever,
    LexicalRetriever,
    QuestionBank,
    choose_fusion,
    fuse,
    retrieval_metrics,
    row_weights,
)
from ecom_assets.ml.service.tuning import PairTuneConfig, PairTuneResult, finetune_pairs, lexical_hard_negatives


@dataclass
class ResponderSettings:
    target_precision: float = 0.95
    wilson_z: float = 1.0
    tune: PairTuneConfig = field(default_factory=PairTuneConfig)
    hard_pool: int = 10
    seed: int = 0


@dataclass
class ResponderTraining:
    dense_weight: dict[str, float]  # per language
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
        tune = finetune_pairs(encoder, fit["question"].tolist(), fit_answers,
                              lambda enc: retrieval_metrics(dense_valid(enc), relevant_valid)["MRR"], settings.tune,
                              negatives=negatives, log=log)
    dense = dense_valid(encoder)
    overall, trace = choose_fusion(dense, lexical_valid, relevant_valid)
    # One weight per language: the encoder and the word index are not equally good in each.
    weight = {}
    for language in sorted(set(languages)):
        rows = np.flatnonzero(np.asarray(valid_lang) == language)
        weight[language] = choose_fusion(dense[rows], lexical_valid[rows], relevant_valid[rows])[0] if len(rows) else overall
    fused = fuse(dense, lexical_valid, row_weights(weight, valid_lang, overall))
    top, x = confidence_features(fused, dense, lexical_valid)
    correct = relevant_valid[np.arange(len(valid)), top]
    probabilities = cross_fitted_probabilities(x, correct, seed=settings.seed)
    threshold = threshold_for_precision(probabilities, correct, settings.target_precision, z=settings.wilson_z)
    calibrator = Calibrator(allow_one_class=True).fit(x, correct)
    validation = {**{k: round(v, 4) if isinstance(v, float) else v for k, v in retrieval_metrics(fused, relevant_valid).items()},
                  "dense_MRR": round(retrieval_metrics(dense, relevant_valid)["MRR"], 4),
                  "lexical_MRR": round(retrieval_metrics(lexical_valid, relevant_valid)["MRR"], 4),
                  "top1_accuracy": round(float(correct.mean()), 4), "fit_pairs": int(len(fit)),
                  "validation_pairs": int(len(valid))}
    log(f"responder: encoder weight by language {weight}, validation MRR {validation['MRR']:.4f}, threshold {threshold['threshold']:.3f} "
        f"answers {threshold['coverage']:.1%} at precision {threshold['precision']}")
    validation["bank_questions"] = len(bank.questions)
    return ResponderTraining(weight, calibrator, threshold, tune, validation, trace)
