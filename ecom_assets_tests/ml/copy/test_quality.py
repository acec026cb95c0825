"""BLEU-4 / ROUGE under the AdvertiseGen protocol, and the retrieval baseline."""

import pytest

from ecom_assets.ml.copy.quality import bleu4_chars, distinct_2_chars, retrieval_baseline, rouge_words, score_rows


def test_identical_copy_scores_one_and_disjoint_copy_zero():
    text = "简约的白色牛仔外套，十分百搭。"
    assert bleu4_chars(text, text) == pytest.approx(1.0)
    assert rouge_words(text, text)["rouge-l"] == pytest.approx(1.0, abs=1e-6)
    assert rouge_words("一二三", "四五六")["rouge-1"] == pytest.approx(0.0, abs=1e-6)
    assert score_rows([text], [text])["bleu_4"] == pytest.approx(100.0)


def test_rouge_1_is_the_word_overlap_f_score():
    # Words: 白色 / 上衣 / 好看 against 白色 / 裙子 / 好看 / 显瘦: 2 shared, P = 2/3, R = 2/4, F = 4/7.
    scores = rouge_words("白色 上衣 好看", "白色 裙子 好看 显瘦")
    assert scores["rouge-1"] == pytest.approx(4 / 7, abs=1e-6)


def test_bleu_is_on_characters_with_smoothing():
    # Sharing characters but no 4-gram still scores above zero (method 3 smooths missing orders).
    assert 0.0 < bleu4_chars("白色外套", "白外色套") < 0.5
    assert bleu4_chars("", "白色") == 0.0


def test_retrieval_returns_the_copy_of_the_most_overlapping_attribute_list():
    train = ["类型#上衣*颜色#白色", "类型#上衣*颜色#白色*材质#牛仔布", "类型#裙*颜色#黑色"]
    copies = ["a", "b", "c"]
    assert retrieval_baseline(["类型#上衣*材质#牛仔布*颜色#白色", "类型#裙*颜色#红色"], train, copies) == ["b", "c"]


def test_distinct_2_counts_distinct_character_bigrams():
    assert distinct_2_chars(["白色白色"]) == pytest.approx(2 / 3, abs=1e-4)  # 白色 色白 白色
