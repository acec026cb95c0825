"""The one text-safety check shared by ad copy and support replies."""

from ecom_assets.ml.common.text_safety import (
    KINDS,
    banned_claims,
    check_text,
    counts_by_kind,
    facts_stated,
    kind_of,
)

FACTS = {"product_name": "Linen Shirt 2-Pack", "title": "Linen Shirt 2-Pack", "brand": "Como", "category": "Shirts",
         "price": "74.90", "effective_price": 74.9, "original": 99.0, "discount_pct": 24.3}


def test_copy_numbers_are_judged_against_the_catalogue():
    assert check_text("Linen Shirt 2-Pack now 74.90, was 99, save 24%!", "en", facts=FACTS) == []
    reasons = [f.reason for f in check_text("Save 30% - only 59!", "en", facts=FACTS)]
    assert reasons == ["fact: 30% is not this product's discount (24.3%)",
                       "fact: 59 is not a price or a number of this product"]
    assert {f.kind for f in check_text("Save 30%", "en", facts=FACTS)} == {"unsupported fact"}


def test_replies_may_state_only_what_the_answer_and_the_account_state():
    template = "Your refund for {last_refund_item} was issued on {last_refund_date}; it takes 3-5 days."
    sources = [template, "Kettle", "2026-10-02"]
    assert check_text("Your refund for Kettle was issued on 2026-10-02; it takes 3-5 days.", "en", sources=sources) == []
    found = check_text("Your refund was issued on 2026-10-02; it takes 1 day.", "en", sources=sources)
    assert [f.reason for f in found] == ["fact: 1 is stated by neither the answer nor the account"]


def test_claims_and_personal_data_are_found_in_both_languages():
    assert [f.kind for f in check_text("The best kettle, guaranteed.", "en")] == ["banned claim"] * 3
    assert [f.reason for f in check_text("全网最低价", "zh")][0] == "claim: '最' is an absolute or superlative claim"
    assert banned_claims("您最近的订单已发货，最后一件已签收。", "zh") == [], "最近 (recent) and 最后 (last) claim nothing"
    leak = check_text("Mail a.b@example.com or call 13812345678", "en")
    assert [f.reason for f in leak] == ["privacy: contains an e-mail address", "privacy: contains a phone number"]
    assert kind_of(leak[0].reason) == "personal data" and kind_of("length: too long") is None


def test_counts_are_per_text_and_list_every_kind():
    findings = [check_text("the best, the best", "en"), check_text("fine", "en"),
                check_text("save 99%", "en", facts=FACTS) + check_text("call 13812345678", "en")]
    assert counts_by_kind(findings) == {"personal data": 1, "banned claim": 1, "unsupported fact": 1}
    assert list(counts_by_kind([])) == list(KINDS)


def test_facts_stated_name_each_catalogue_fact_a_line_states():
    stated = facts_stated("Como Linen Shirt 2-Pack: 74.90 (was 99), 24% off", FACTS, "en")
    assert stated == ["product Linen Shirt 2-Pack", "brand Como", "title number 2", "price 74.9", "original price 99",
                      "discount 24%"]
    assert facts_stated("A shirt for summer", FACTS, "en") == []
