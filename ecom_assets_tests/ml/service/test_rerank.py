import numpy as np
import pytest

from ecom_assets.ml.service.rerank import (
    FEATURES,
    AnswerReranker,
    Candidates,
    RerankConfig,
    answer_priors,
    candidate_features,
    fit_reranker,
    is_polar,
    lift,
)
from ecom_assets.ml.service.retrieval import retrieval_metrics


def test_lift_puts_the_candidates_on_top_in_their_new_order():
    fused = np.array([[3.0, 2.0, 1.0, -np.inf, 0.0]], dtype=np.float32)
    out = lift(fused, Candidates(np.array([[0, 2]]), np.zeros((1, 2, len(FEATURES)))), np.array([[0.1, 0.9]]))
    assert np.argsort(-out[0])[:3].tolist() == [2, 0, 1], "the reranked pair first, then the fused order"
    assert np.isneginf(out[0, 3])


def test_priors_count_earlier_answers_up_to_case_and_full_stops():
    np.testing.assert_allclose(answer_priors(["Yes.", "It fits", "No"], ["yes", "YES.", "it fits", "maybe"]),
                               np.log1p([2, 1, 0]))
    assert is_polar("Does it fit a 2019 model?", "en") and not is_polar("What size is it?", "en")
    assert is_polar("这个能放进洗碗机吗？", "zh") and not is_polar("尺寸是多少？", "zh")


def _polar_shop(n_questions=400, seed=0):
    """Polar questions want "Yes, it does." (answer 0), which the fused scores put third;
    open questions want their own answer, which the fused scores put first."""
    rng = np.random.default_rng(seed)
    n = 40
    answers = ["Yes, it does."] + [f"It measures {i} cm across the base." for i in range(1, n)]
    questions, relevant, fused = [], np.zeros((n_questions, n), dtype=bool), rng.normal(size=(n_questions, n))
    for q in range(n_questions):
        own = 1 + q % (n - 1)
        if q % 2 == 0:
            questions.append(f"Does the model {q} fit?")
            relevant[q, 0] = True
            fused[q, own], fused[q, (own % (n - 1)) + 1], fused[q, 0] = 5.0, 4.5, 4.0
        else:
            questions.append(f"How wide is model {q}?")
            relevant[q, own] = True
            fused[q, own] = 5.0
    prior = answer_priors(answers, ["Yes, it does."] * 30 + answers[1:])
    return questions, answers, relevant, fused.astype(np.float32), prior


def test_the_reranker_learns_what_the_linear_fusion_cannot_and_is_adopted():
    questions, answers, relevant, fused, prior = _polar_shop()
    langs_q, langs_a = ["en"] * len(questions), ["en"] * len(answers)
    candidates = candidate_features(fused, {"dense": fused, "lexical": None}, questions, langs_q, answers, langs_a,
                                    prior, candidates=10)
    assert candidates.features.shape == (len(questions), 10, len(FEATURES))
    fitted = fit_reranker(fused, candidates, relevant, config=RerankConfig(rounds=(20, 50), min_data_in_leaf=5,
                                                                           threads=1))
    assert fitted.linear_mrr == pytest.approx(0.5 / 3 + 0.5, abs=1e-6)
    assert fitted.reranker is not None and fitted.cv_mrr > 0.95
    # Out-of-fold scores are honest: no question was scored by a model that saw it.
    assert retrieval_metrics(fitted.out_of_fold, relevant)["MRR"] == pytest.approx(fitted.cv_mrr)
    new_q, new_a, new_rel, new_fused, new_prior = _polar_shop(100, seed=1)
    new = candidate_features(new_fused, {"dense": new_fused, "lexical": None}, new_q, ["en"] * 100, new_a,
                             ["en"] * len(new_a), new_prior, candidates=10)
    reranked = fitted.reranker.rerank(new_fused, new)
    assert retrieval_metrics(reranked, new_rel)["MRR"] > 0.95
    restored = AnswerReranker.from_string(fitted.reranker.to_string())
    np.testing.assert_allclose(restored.scores(new), fitted.reranker.scores(new))


def test_a_reranker_that_cannot_beat_the_linear_fusion_is_not_adopted():
    questions, answers, relevant, fused, prior = _polar_shop()
    perfect = np.where(relevant, 10.0, fused).astype(np.float32)
    candidates = candidate_features(perfect, {"dense": perfect, "lexical": None}, questions, ["en"] * len(questions),
                                    answers, ["en"] * len(answers), prior, candidates=10)
    fitted = fit_reranker(perfect, candidates, relevant, config=RerankConfig(rounds=(20,), min_data_in_leaf=5, threads=1))
    assert fitted.linear_mrr == 1.0 and fitted.reranker is None
