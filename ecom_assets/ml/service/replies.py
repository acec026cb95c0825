"""Replies to customer questions: retrieve, judge, fill the account slots, or hand off.

`SupportResponder` holds what a reply needs: the answers (id, language, text with
optional {slots}), the dense encoder's answer embeddings, the BM25 indexes, the fusion
weight, the calibrator and the threshold. `reply` answers a batch of questions (already
scrubbed of personal data at the door) and says for each whether it hands off and why:

    personal data      the question still holds personal data, or a placeholder the door
                       put in its place (an account question a person should take)
    out of scope       no answer exists in the question's language
    low confidence     P(top answer right) is below the threshold
    missing account data  the answer has a slot (e.g. {last_order_date}) the customer's
                       account has no fact for: nothing is invented

Slots are filled from `AccountFacts` (per pseudonymous user, read from the warehouse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecom_assets.ml.common.pii import PLACEHOLDERS, find_personal_data
from ecom_assets.ml.service.confidence import Calibrator, confidence_features
from ecom_assets.ml.service.language import detect_language
from ecom_assets.ml.service.retrieval import DenseRetriever, LexicalRetriever, QuestionBank, fuse, row_weights

SLOT = re.compile(r"\{([a-z_]+)\}")
ACCOUNT_SLOTS = ("last_order_item", "last_order_date", "last_refund_item", "last_refund_date")
REASONS = ("personal data in the question", "out of scope", "low confidence", "missing account data")


def slots_of(text: str) -> list[str]:
    return SLOT.findall(text or "")


def has_personal_data(question: str) -> bool:
    return bool(find_personal_data(question or "")) or any(p in (question or "") for p in PLACEHOLDERS.values())


@dataclass
class AccountFacts:
    """Slot values per user id (None where the user has no such fact)."""

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


@dataclass
class SupportResponder:
    answer_ids: list[str]
    languages: list[str]
    texts: list[str]
    dense_weight: float | dict[str, float]  # one, or one per language
    calibrator: Calibrator
    threshold: float
    encoder: object  # encode(texts) -> unit rows (torch or ONNX)
    answer_embeddings: np.ndarray | None = None
    bank: QuestionBank | None = None
    """Questions already answered (FAQ phrasings, past tickets), matched question to question."""

    def __post_init__(self):
        bank = self.bank or QuestionBank()
        self.lexical = LexicalRetriever().build(bank.expand(self.texts), self.languages)
        self.dense = DenseRetriever(self.encoder)
        if self.answer_embeddings is None:
            self.dense.build(self.texts, self.languages, bank)
        else:
            self.dense.answer_embeddings, self.dense.languages = self.answer_embeddings, np.asarray(self.languages)
            self.dense.use_bank(bank)
        self.answer_embeddings = self.dense.answer_embeddings

    def rank(self, questions: list[str], languages: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused, dense, lexical) score matrices, questions x answers."""
        dense = self.dense.scores(questions, languages)
        lexical = self.lexical.scores(questions, languages)
        return fuse(dense, lexical, row_weights(self.dense_weight, languages)), dense, lexical

    def reply(self, questions: list[str], user_ids: list[str | None] | None = None,
              facts: AccountFacts | None = None) -> pd.DataFrame:
        """One row per question: language, answer_id, text (None when handed off),
        confidence, handed_off, reason."""
        n = len(questions)
        user_ids = user_ids if user_ids is not None else [None] * n
        facts = facts or AccountFacts()
        languages = [detect_language(q) for q in questions]
        if not n:
            return pd.DataFrame(columns=["language", "answer_id", "text", "confidence", "handed_off", "reason"])
        fused, dense, lexical = self.rank(questions, languages)
        top, x = confidence_features(fused, dense, lexical)
        confidence = self.calibrator.predict(x)
        in_language = np.isfinite(fused).any(axis=1)
        rows = []
        for i in range(n):
            answer = self.answer_ids[top[i]] if in_language[i] else None
            text, reason = None, None
            if has_personal_data(questions[i]):
                reason = REASONS[0]
            elif not in_language[i]:
                reason = REASONS[1]
            elif confidence[i] < self.threshold:
                reason = REASONS[2]
            else:
                text, missing = facts.fill(self.texts[top[i]], user_ids[i])
                if text is None:
                    reason = f"{REASONS[3]}: {', '.join(missing)}"
            rows.append({"language": languages[i], "answer_id": answer, "text": text,
                         "confidence": float(confidence[i]) if in_language[i] else 0.0,
                         "handed_off": reason is not None, "reason": reason})
        return pd.DataFrame(rows)
