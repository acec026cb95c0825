"""Attribute lists and the attribute-faithfulness check of the copy review."""

import pytest

from ecom_assets.ml.copy.attributes import (
    AttributeFormatError,
    AttributeVocabulary,
    attribute_coverage,
    attribute_map,
    parse_attributes,
    unsupported_attributes,
)

SHIRT = "类型#上衣*材质#牛仔布*颜色#白色*风格#简约*图案#刺绣"
ROWS = [("zh", SHIRT), ("zh", "类型#裙*颜色#浅蓝色*材质#真丝*图案#碎花*版型#显瘦*版型#h"), ("zh", "类型#裤*颜色#黑色*风格#复古")]


def _vocabulary() -> AttributeVocabulary:
    return AttributeVocabulary.build(ROWS)


def test_parse_keeps_repeated_keys_and_names_a_bad_part():
    assert parse_attributes("类型#裙*风格#简约*风格#清新") == [("类型", "裙"), ("风格", "简约"), ("风格", "清新")]
    assert attribute_map(parse_attributes("风格#简约*风格#清新")) == {"风格": {"简约", "清新"}}
    with pytest.raises(AttributeFormatError, match="'颜色白色'"):
        parse_attributes("类型#裙*颜色白色")


def test_vocabulary_holds_checked_keys_only_and_skips_tiny_latin_values():
    vocabulary = _vocabulary().values["zh"]
    assert {"白色", "浅蓝色", "黑色"} <= vocabulary["颜色"] and "显瘦" in vocabulary["版型"]
    assert "h" not in vocabulary["版型"], "a one-letter fit would be found inside any word"
    assert "类型" not in vocabulary, "the product type is not an attribute copy can get wrong this way"


def test_a_colour_the_product_does_not_have_is_rejected_with_the_reason():
    have = attribute_map(parse_attributes(SHIRT))
    findings = unsupported_attributes("黑色牛仔外套，简约百搭。", "zh", _vocabulary(), have)
    assert [(f.key, f.value) for f in findings] == [("颜色", "黑色")]
    assert findings[0].reason == "attribute: states 颜色 '黑色', which the product does not have (颜色: 白色)"
    assert unsupported_attributes("白色牛仔外套，刺绣点缀，简约百搭。", "zh", _vocabulary(), have) == []


def test_longest_value_wins_synonyms_and_the_products_own_text_count():
    vocabulary = _vocabulary()
    dress = attribute_map(parse_attributes("类型#裙*颜色#浅蓝色*材质#蚕丝"))
    assert unsupported_attributes("浅蓝色的裙身，真丝面料。", "zh", vocabulary, dress) == [], "浅蓝色 is not 蓝色; 真丝 is 蚕丝"
    # No attribute list: what the title and description say is what the product has.
    assert unsupported_attributes("黑色款，复古有型。", "zh", vocabulary, {}, product_text="复古直筒裤 黑色") == []
    assert [f.value for f in unsupported_attributes("白色款", "zh", vocabulary, {}, product_text="复古直筒裤 黑色")] == ["白色"]


def test_english_values_are_whole_words():
    vocabulary = _vocabulary()
    assert unsupported_attributes("A redesigned classic.", "en", vocabulary, {}) == []
    assert [f.value for f in unsupported_attributes("Now in red, pure cotton.", "en", vocabulary, {},
                                                    product_text="Nexvi Canvas Sneakers - White")] == ["red", "cotton"]


def test_coverage_counts_the_listed_values_the_text_mentions():
    pairs = parse_attributes(SHIRT)
    assert attribute_coverage("白色牛仔布上衣，刺绣。", pairs) == pytest.approx(4 / 5)  # 上衣, 牛仔布, 白色, 刺绣 of 5 values
