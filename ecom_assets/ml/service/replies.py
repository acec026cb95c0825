"""Replies to customer questions: retrieve, judge, fill the account slots, or hand off.

`SupportResponder` holds what a reply needs: the answers (id, language, text with
optional {slots}), the dense encoder's answer embeddings, the BM25 indexes, the question
classifier (fitted on the bank at start-up: seconds), the fusion weights per language,
the calibrator and the threshold. `reply` answers a batch of questions (already
scrubbed of personal data at the door) and says for each whether it hands off and why:

    personal data      the question still holds personal data, or a placeholder the door
                       put in its place (an account question a person should take)
    out of scope       no answer exists in the question's language
    low confidence     P(top answer right) is below the threshold
    missing account data  the answer has a slot (e.g. {last_order_date}) the customer's
                       account has no fact for: nothing is invented
    unsafe reply       the filled reply fails the text-safety check (ml.common.text_safety):
                       personal data, a banned claim, or a number neither the approved
                       answer nor the account facts state

Slots are filled from `AccountFacts` (per pseudonymous user, read from the warehouse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecom_assets.ml.common.pii import PLACEHOLDERS, find_personal_data
from ecom_assets.ml.common.text_safety import check_text
from ecom_assets.ml.service.confidence import Calibrator, confidence_features
from ecom_assets.ml.service.language import detect_language
from ecom_assets.ml.service.rerank import AnswerReranker, bank_priors, candidate_features
from ecom_assets.ml.service.retrieval import (
    DenseRetriever,
    LexicalRetriever,
    QuestionBank,
    classifier_for,
    fuse_components,
    weights_by_row,
)

SLOT = re.compile(r"\{([a-z_]+)\}")
ACCOUNT_SLOTS = ("last_order_item", "last_order_date", "last_refund_item", "last_refund_date")
REASONS = ("personal data in the question", "out of scope", "low confidence", "missing account data", "unsafe reply")


def slots_of(text: str) -> list[str]:
    return SLOT.findall(text or "")


def has_personal_data(question: str) -> bool:
    return bool(find_personal_data(question or "")) or any(p in (question or "") for p in PLACEHOLDERS.values())


@dataclass
class AccountFacts:
    """Slot values per key, a ticket id (the customer's facts as of that ticket) or a
    pseudonymous user id; None where the account has no such fact."""

    values: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def fill(self, text: str, user_id: str | None) -> tuple[str | None, list[str]]:
        """(the text with its slots filled, []) or (None, the slots with no value)."""
        needed = slots_of(text)
        if not needed:
            return text, []
        facts = self.values.get(user_id or "", {})
        missing = [s for s in needed if not facts.get(s)]
        if missing:
            return None, missing
        return SLOT.sub(lambda m: str(facts[m.group(1)]), text), []

    def values_of(self, user_id: str | None) -> list[str]:
        """The account values a reply to `user_id` may state."""
        return [str(v) for v in self.values.get(user_id or "", {}).values() if v]


def account_facts(facts: pd.DataFrame, catalogue: pd.DataFrame, tickets: list[str], languages: list[str]) -> AccountFacts:
    """Each ticket's slot values from its facts row (marts.support_ticket_facts: the
    customer's newest order and refund before the ticket), item titles in the ticket's
    language (the other language's where it has none); a ticket without a row has none."""
    titles = {}
    for item, en, zh in catalogue[["item_id", "title_en", "title_zh"]].itertuples(index=False):
        titles[(item, "en")], titles[(item, "zh")] = en or zh, zh or en
    facts = facts.set_index("ticket_id")

    def title(item, language):
        return titles.get((item, language)) if pd.notna(item) else None

    def day(value):
        return f"{pd.Timestamp(value):%Y-%m-%d}" if pd.notna(value) else None

    values = {}
    for ticket, language in zip(tickets, languages):
        if ticket in facts.index:
            row = facts.loc[ticket]
            values[ticket] = {"last_order_item": title(row["last_order_item_id"], language),
                              "last_order_date": day(row["last_order_at"]),
                              "last_refund_item": title(row["last_refund_item_id"], language),
                              "last_refund_date": day(row["last_refund_at"])}
    return AccountFacts(values)


@dataclass
class SupportResponder:
    answer_ids: list[str]
    languages: list[str]
    texts: list[str]
    weights: float | dict[str, dict[str, float]]
    """Per language, each component's weight (dense, lexical, classifier); one number is
    the encoder's weight against BM25 in every language."""
    calibrator: Calibrator
    threshold: float
    encoder: object  # encode(texts) -> unit rows (torch or ONNX)
    answer_embeddings: np.ndarray | None = None
    bank: QuestionBank | None = None
    """Questions already answered (FAQ phrasings, past tickets), matched question to question."""
    classifier_c: float | None = None
    """The question classifier's strength chosen on validation; None: no classifier."""
    reranker: AnswerReranker | None = None
    """The learned second stage over the fused ranking, where validation adopted one."""

    def __post_init__(self):
        bank = self.bank or QuestionBank()
        if not isinstance(self.weights, dict):
            w = float(self.weights)
            self.weights = {lang: {"dense": w, "lexical": 1.0 - w} for lang in set(self.languages)}
        self.classifier = classifier_for(bank, self.languages, self.classifier_c) if self.classifier_c else None
        self.prior = bank_priors(bank.answer_index, len(self.texts))
        self.lexical = LexicalRetriever().build(bank.expand(self.texts), self.languages)
        self.dense = DenseRetriever(self.encoder)
        if self.answer_embeddings is None:
            self.dense.build(self.texts, self.languages, bank)
        else:
            self.dense.answer_embeddings, self.dense.languages = self.answer_embeddings, np.asarray(self.languages)
            self.dense.use_bank(bank)
        self.answer_embeddings = self.dense.answer_embeddings

    def rank(self, questions: list[str], languages: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
        """(fused scores, each component's scores), questions x answers."""
        components = {"dense": self.dense.scores(questions, languages),
                      "lexical": self.lexical.scores(questions, languages),
                      "classifier": self.classifier.scores(questions, languages) if self.classifier is not None else None}
        fused = fuse_components(components, weights_by_row(self.weights, languages))
        if self.reranker is not None:
            fused = self.reranker.rerank(fused, candidate_features(
                fused, components, questions, languages, self.texts, self.languages, self.prior,
                self.reranker.config.candidates, self.reranker.config.frequent))
        return fused, components

    def reply(self, questions: list[str], user_ids: list[str | None] | None = None,
              facts: AccountFacts | None = None) -> pd.DataFrame:
        """One row per question: language, answer_id, text (None when handed off),
        confidence, handed_off, reason, safety (the kinds of text-safety finding that
        handed a filled reply off, else None)."""
        n = len(questions)
        user_ids = user_ids if user_ids is not None else [None] * n
        facts = facts or AccountFacts()
        languages = [detect_language(q) for q in questions]
        if not n:
            return pd.DataFrame(columns=["language", "answer_id", "text", "confidence", "handed_off", "reason", "safety"])
        fused, components = self.rank(questions, languages)
        top, x = confidence_features(fused, components["dense"], components["lexical"], components["classifier"])
        confidence = self.calibrator.predict(x)
        in_language = np.isfinite(fused).any(axis=1)
        rows = []
        for i in range(n):
            answer = self.answer_ids[top[i]] if in_language[i] else None
            text, reason, unsafe = None, None, None
            if has_personal_data(questions[i]):
                reason = REASONS[0]
            elif not in_language[i]:
                reason = REASONS[1]
            elif confidence[i] < self.threshold:
                reason = REASONS[2]
            else:
                template = self.texts[top[i]]
                text, missing = facts.fill(template, user_ids[i])
                if text is None:
                    reason = f"{REASONS[3]}: {', '.join(missing)}"
                else:
                    # The platform's one text-safety check: a number in the reply must come
                    # from the approved answer or the account facts filled into it.
                    findings = check_text(text, languages[i], sources=[template, *facts.values_of(user_ids[i])])
                    if findings:
                        text, reason = None, f"{REASONS[4]}: {'; '.join(f.reason for f in findings)}"
                        unsafe = ", ".join(dict.fromkeys(f.kind for f in findings))
            rows.append({"language": languages[i], "answer_id": answer, "text": text,
                         "confidence": float(confidence[i]) if in_language[i] else 0.0,
                         "handed_off": reason is not None, "reason": reason,
                         "safety": unsafe if reason and reason.startswith(REASONS[4]) else None})
        return pd.DataFrame(rows)
