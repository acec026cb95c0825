import numpy as np
import pytest

from ecom_assets.ml.service.confidence import FEATURES, Calibrator
from ecom_assets.ml.service.replies import REASONS, AccountFacts, SupportResponder, has_personal_data


class KeywordEncoder:
    """A stand-in encoder: one axis per keyword, so retrieval is predictable."""

    words = ("refund", "deliver", "password", "退款", "发货")

    def encode(self, texts, batch_size=64):
        rows = np.array([[float(w in t.lower()) for w in self.words] + [0.01] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _calibrator(p: float) -> Calibrator:
    c = Calibrator(allow_one_class=True)
    return c.fit(np.zeros((4, len(FEATURES))), np.array([1, 1, 1, 1]) if p > 0.5 else np.array([0, 0, 0, 0]))


def _responder(threshold=0.5, p=0.9):
    return SupportResponder(
        answer_ids=["refund_time", "shipping_time", "reset_password", "refund_time"],
        languages=["en", "en", "en", "zh"],
        texts=["Your latest refund ({last_refund_item}) was issued on {last_refund_date}.",
               "Standard delivery takes 2-5 days.", "Use the forgot password link.", "退款将在1-3个工作日内原路返回。"],
        weights=0.5, calibrator=_calibrator(p), threshold=threshold, encoder=KeywordEncoder())


def test_each_question_is_answered_or_handed_off_with_its_reason():
    facts = AccountFacts({"t1": {"last_refund_item": "Kettle", "last_refund_date": "2026-10-02"}, "t2": {}})
    out = _responder().reply(
        ["When will my refund arrive?", "When will my refund arrive?", "My email is [email], reset my password",
         "How long to deliver?", "退款多久到账？"], ["t1", "t2", "t3", "t4", "t5"], facts)
    assert out["answer_id"].tolist()[:2] == ["refund_time", "refund_time"]
    assert out.loc[0, "text"] == "Your latest refund (Kettle) was issued on 2026-10-02." and not out.loc[0, "handed_off"]
    assert out.loc[1, "handed_off"] and out.loc[1, "reason"] == f"{REASONS[3]}: last_refund_item, last_refund_date"
    assert out.loc[1, "text"] is None, "nothing is invented for a slot the account has no fact for"
    assert out.loc[2, "handed_off"] and out.loc[2, "reason"] == REASONS[0]
    assert out.loc[3, "text"] == "Standard delivery takes 2-5 days." and out.loc[3, "language"] == "en"
    assert out.loc[4, "language"] == "zh" and out.loc[4, "answer_id"] == "refund_time" and not out.loc[4, "handed_off"]
    assert out["confidence"].between(0, 1).all()


def test_low_confidence_and_out_of_scope_hand_off():
    low = _responder(threshold=0.95, p=0.9).reply(["How long to deliver?"])
    assert low.loc[0, "handed_off"] and low.loc[0, "reason"] == REASONS[2] and low.loc[0, "text"] is None
    english_only = SupportResponder(["a"], ["en"], ["Standard delivery takes 2-5 days."], 0.5, _calibrator(0.9), 0.5,
                                    KeywordEncoder())
    out = english_only.reply(["发货要多久？"])
    assert out.loc[0, "handed_off"] and out.loc[0, "reason"] == REASONS[1] and out.loc[0, "answer_id"] is None


@pytest.mark.parametrize("question, found", [
    ("call me on 13812345678", True), ("my email is a.b@example.com", True), ("我的电话是[phone]", True),
    ("where is my order 12345", False), ("退款多久到账？", False)])
def test_personal_data_in_a_question_is_seen_raw_or_scrubbed(question, found):
    assert has_personal_data(question) is found


def test_the_encoder_matches_a_question_to_an_answered_one():
    from ecom_assets.ml.service.retrieval import DenseRetriever, QuestionBank

    class Axis:
        def encode(self, texts, batch_size=64):
            rows = np.array([[float("log" in t), float("parcel" in t), 0.1] for t in texts], dtype=np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    answers = ["Use the forgot password link.", "Standard delivery takes 2-5 days."]
    bank = QuestionBank(["I cannot log in", "where is my parcel"], np.array([0, 1]))
    without = DenseRetriever(Axis()).build(answers, ["en", "en"]).scores(["log in trouble"], ["en"])[0]
    with_bank = DenseRetriever(Axis()).build(answers, ["en", "en"], bank).scores(["log in trouble"], ["en"])[0]
    assert with_bank[0] > without[0] and with_bank.argmax() == 0
    assert with_bank[1] >= without[1], "an answer scores the larger of its own cosine and its best question's"


def test_account_facts_come_from_the_ticket_s_row_in_its_language():
    import pandas as pd

    from ecom_assets.ml.service.replies import account_facts

    facts = pd.DataFrame({"ticket_id": ["t1", "t2"], "last_order_item_id": ["i1", None],
                          "last_order_at": [pd.Timestamp("2026-10-02 13:00"), None],
                          "last_refund_item_id": [None, None], "last_refund_at": [None, None]})
    catalogue = pd.DataFrame({"item_id": ["i1"], "title_en": ["Blue Tent"], "title_zh": ["蓝色帐篷"]})
    got = account_facts(facts, catalogue, ["t1", "t2", "t3"], ["zh", "en", "en"])
    assert got.fill("{last_order_item} ({last_order_date})", "t1") == ("蓝色帐篷 (2026-10-02)", [])
    assert got.fill("{last_order_item}", "t2") == (None, ["last_order_item"]), "no order: nothing is invented"
    assert got.fill("{last_refund_date}", "t3") == (None, ["last_refund_date"]), "a ticket without facts has none"


def test_a_responder_with_a_bank_routes_paraphrases_through_its_question_classifier():
    from ecom_assets.ml.service.retrieval import QuestionBank

    bank = QuestionBank(["where is my money back", "money back when", "I forgot how to sign in", "cannot sign in",
                         "钱什么时候退回", "退的钱在哪"], np.array([0, 0, 2, 2, 3, 3]))
    classifier_only = {"en": {"dense": 0.0, "lexical": 0.0, "classifier": 1.0},
                       "zh": {"dense": 0.0, "lexical": 0.0, "classifier": 1.0}}
    base = _responder(threshold=0.0)
    responder = SupportResponder(base.answer_ids, base.languages, base.texts, classifier_only, base.calibrator, 0.0,
                                 KeywordEncoder(), bank=bank, classifier_c=100.0)
    out = responder.reply(["when do I get my money back?", "I can't sign in", "我的钱什么时候退回？"])
    # None of them shares a keyword with its answer's text: the answered questions carry them.
    assert out["answer_id"].tolist() == ["refund_time", "reset_password", "refund_time"]
    assert out["language"].tolist() == ["en", "en", "zh"]
    assert SupportResponder(base.answer_ids, base.languages, base.texts, 0.5, base.calibrator, 0.0,
                            KeywordEncoder(), bank=bank).classifier is None, "no strength chosen: no classifier"


def test_a_reply_that_fails_the_text_safety_check_is_handed_off_with_its_kind():
    responder = SupportResponder(["refund", "ship"], ["en", "en"],
                                 ["Your refund ({last_refund_item}) is on its way.", "We guarantee delivery in 2 days."],
                                 0.5, _calibrator(0.9), 0.0, KeywordEncoder())
    facts = AccountFacts({"t1": {"last_refund_item": "Kettle, call 13812345678"}, "t2": {"last_refund_item": "Kettle"}})
    out = responder.reply(["my refund?", "my refund?", "deliver when?"], ["t1", "t2", "t3"], facts)
    assert out.loc[0, "handed_off"] and out.loc[0, "text"] is None
    assert out.loc[0, "reason"] == f"{REASONS[4]}: privacy: contains a phone number"
    assert out.loc[0, "safety"] == "personal data"
    assert not out.loc[1, "handed_off"] and out.loc[1, "safety"] is None
    assert out.loc[2, "reason"].startswith(f"{REASONS[4]}: claim: 'guarantee'") and out.loc[2, "safety"] == "banned claim"
