import math

import numpy as np
import pytest

from ecom_assets.ml.service.language import detect_language, words
from ecom_assets.ml.service.retrieval import (
    LexicalRetriever,
    choose_fusion,
    fuse,
    normalise_answer,
    ranks_of,
    retrieval_metrics,
    standardise,
)


@pytest.mark.parametrize("text, language", [
    ("Where is my order?", "en"), ("我的订单在哪里？", "zh"), ("iPhone 充电器多少钱", "zh"),
    ("Does the SKU-123 fit a 2019 model? 谢谢", "en"), ("", "en"),
])
def test_language_is_detected_from_the_script(text, language):
    assert detect_language(text) == language


def test_words_drop_stop_words_and_segment_chinese():
    assert words("Is the return window 30 days?") == ["return", "window", "30", "days"]
    assert words("Is it?") == ["is", "it"], "a question of stop words only keeps them"
    zh = words("我的订单什么时候发货？")
    assert "订单" in zh and "发货" in zh and "的" not in zh and "？" not in zh


def test_bm25_matches_the_lucene_formula_by_hand():
    answers = ["return within 30 days", "delivery takes 3 days", "returns are free"]
    scores = LexicalRetriever(k1=1.5, b=0.75).build(answers, ["en"] * 3).scores(["return days"], ["en"])[0]
    docs = [words(a) for a in answers]
    avgdl = np.mean([len(d) for d in docs])

    def term(t, d):
        df = sum(t in x for x in docs)
        idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
        tf = d.count(t)
        # Lucene's variant: no (k1 + 1) in the numerator (a constant factor, same ranking)
        return idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(d) / avgdl))

    expected = [term("return", d) + term("days", d) for d in docs]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_questions_only_meet_answers_of_their_language():
    answers = ["Refunds take 5 days", "退款需要5天"]
    s = LexicalRetriever().build(answers, ["en", "zh"]).scores(["退款要多久", "how long do refunds take"])
    assert np.isneginf(s[0, 0]) and np.isfinite(s[0, 1]) and s[0, 1] > 0
    assert np.isneginf(s[1, 1]) and s[1, 0] > 0


def test_answers_equal_up_to_case_and_full_stops_are_one():
    assert normalise_answer("Yes.") == normalise_answer("yes") == "yes"
    assert normalise_answer("No") != normalise_answer("yes")


def test_ranks_count_ties_with_wrong_answers_as_half():
    scores = np.array([[0.9, 0.5, 0.5, 0.1],   # relevant 0: rank 1
                       [0.0, 0.0, 0.0, 0.0],   # relevant 2, tied with 3 others: 1 + 1.5
                       [0.2, 0.8, 0.3, -np.inf]])  # relevant 0, two above: 3
    relevant = np.zeros((3, 4), bool)
    relevant[0, 0] = relevant[1, 2] = relevant[2, 0] = True
    np.testing.assert_allclose(ranks_of(scores, relevant), [1.0, 2.5, 3.0])
    m = retrieval_metrics(scores, relevant)
    assert m["MRR"] == pytest.approx((1 + 1 / 2.5 + 1 / 3) / 3) and m["Recall@1"] == pytest.approx(1 / 3)


def test_standardise_keeps_excluded_answers_out():
    z = standardise(np.array([[1.0, 3.0, -np.inf], [2.0, 2.0, 2.0]], dtype=np.float32))
    np.testing.assert_allclose(z[0, :2], [-1.0, 1.0], atol=1e-6)
    assert np.isneginf(z[0, 2]) and np.all(z[1] == 0)


def test_fusion_weight_is_chosen_where_both_retrievers_help():
    # Dense is right on question 0 only, lexical on question 1 only; together they get both.
    dense = np.array([[3.0, 1.0, 0.0], [2.0, 1.5, 1.0]], dtype=np.float32)
    lexical = np.array([[1.0, 1.2, 0.0], [0.0, 5.0, 0.0]], dtype=np.float32)
    relevant = np.array([[True, False, False], [False, True, False]])
    weight, trace = choose_fusion(dense, lexical, relevant)
    assert 0.0 < weight < 1.0
    assert retrieval_metrics(fuse(dense, lexical, weight), relevant)["MRR"] == 1.0
    assert len(trace) == 11 and max(t["MRR"] for t in trace) == 1.0


def test_each_question_may_fuse_with_its_language_s_weight():
    from ecom_assets.ml.service.retrieval import fuse_components, weights_by_row

    dense = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 0.0]], dtype=np.float32)
    lexical = np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]], dtype=np.float32)
    weights = weights_by_row({"en": {"dense": 1.0, "lexical": 0.0}, "zh": {"dense": 0.0, "lexical": 1.0}}, ["en", "zh"])
    fused = fuse_components({"dense": dense, "lexical": lexical, "classifier": None}, weights)
    assert fused[0].argmax() == 0 and fused[1].argmax() == 2, "English follows the encoder, Chinese the words"
    assert weights_by_row({}, ["en"])["dense"].tolist() == [0.5], "a language without weights gets the even default"
    masked = fuse(np.array([[1.0, -np.inf]], dtype=np.float32), np.array([[0.5, -np.inf]], dtype=np.float32), 0.0)
    assert np.isneginf(masked[0, 1]) and np.isfinite(masked[0, 0])


def test_a_question_bank_finds_the_answer_a_paraphrase_shares_no_word_with():
    from ecom_assets.ml.service.retrieval import QuestionBank

    answers = ["Use the forgot password link on the sign-in page.", "Standard delivery takes 2-5 working days."]
    bank = QuestionBank(["I cannot log in to my account", "when does my parcel arrive"], np.array([0, 1]))
    question = ["help, I cannot log in"]
    plain = LexicalRetriever().build(answers, ["en", "en"]).scores(question, ["en"])[0]
    assert plain.max() == 0, "the answers share no content word with the question"
    expanded = LexicalRetriever().build(bank.expand(answers), ["en", "en"]).scores(question, ["en"])[0]
    assert expanded.argmax() == 0 and expanded[0] > 0
    assert bank.expand(answers)[1].endswith("when does my parcel arrive")


def test_three_components_fuse_as_a_weighted_sum_of_standardised_scores():
    from ecom_assets.ml.service.retrieval import fuse_components

    dense = np.array([[1.0, 0.0, -np.inf]], dtype=np.float32)
    lexical = np.array([[0.0, 2.0, -np.inf]], dtype=np.float32)
    classifier = np.array([[-3.0, -1.0, -np.inf]], dtype=np.float32)
    fused = fuse_components({"dense": dense, "lexical": lexical, "classifier": classifier},
                            {"dense": 0.5, "lexical": 0.2, "classifier": 0.3})
    # Each row standardised over the two answers of its language: z = (+1, -1) or (-1, +1).
    np.testing.assert_allclose(fused[0, :2], [0.5 - 0.2 - 0.3, -0.5 + 0.2 + 0.3], atol=1e-6)
    assert np.isneginf(fused[0, 2])
    alone = fuse_components({"dense": dense, "lexical": lexical, "classifier": None}, {"dense": 1.0, "lexical": 0.0})
    np.testing.assert_allclose(alone, standardise(dense))


def test_the_weight_grid_covers_the_simplex_and_ties_go_to_the_even_weighting():
    from ecom_assets.ml.service.retrieval import choose_weights, weight_grid

    grid = weight_grid(["a", "b", "c"], 0.1)
    assert len(grid) == 66 and all(abs(sum(g.values()) - 1.0) < 1e-9 for g in grid)
    # Both retrievers rank the one question perfectly: every weighting ties at MRR 1.
    scores = np.array([[2.0, 1.0, 0.0]], dtype=np.float32)
    weights, trace = choose_weights({"dense": scores, "lexical": scores}, np.array([[True, False, False]]))
    assert weights == {"dense": 0.5, "lexical": 0.5} and len(trace) == 11


def test_the_question_classifier_learns_which_answer_paraphrases_want():
    from ecom_assets.ml.service.retrieval import QuestionBank, classifier_for

    # Answers: use a coupon, an expired coupon (en, then zh), delivery time (en; nobody asked yet).
    languages = ["en", "en", "zh", "zh", "en"]
    bank = QuestionBank(["how do I use a coupon", "can I use my coupon", "how do I use an expired coupon",
                         "can I still use an expired coupon", "怎么使用优惠券", "如何使用优惠券", "怎么使用过期优惠券",
                         "过期优惠券还能用吗"], np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    model = classifier_for(bank, languages, c=100.0)
    scores = model.scores(["how can I use a coupon?", "my coupon expired, can I use it?", "优惠券怎么使用？",
                           "过期的优惠券能用吗？"], ["en", "en", "zh", "zh"])
    assert scores.argmax(axis=1).tolist() == [0, 1, 2, 3]
    assert np.isneginf(scores[0, 2]) and np.isneginf(scores[2, 0]), "only answers of the question's language"
    assert scores[0, 4] <= scores[0, :2].min(), "an answer nobody asked for gets the row's floor"
    assert classifier_for(QuestionBank(["a", "b"], np.array([0, 0])), languages) is None
