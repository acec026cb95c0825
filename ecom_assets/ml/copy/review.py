"""Content optimisation for generated ad copy: clean-up, then checks that decide whether a
candidate may be published. Every candidate gets its reasons; nothing is silently fixed
into a claim it did not make.

    clean(text, language)            repeated words/phrases and repeated clauses removed
    numbers_in(text)                 every number written in the copy, with its kind
    fact_check(text, facts)          each number must be a catalogue fact of this product
    banned_claims(text, language)    absolute/superlative claims advertising law forbids
    personal_data(text)              e-mail addresses, phone, ID card and bank card numbers
    attribute_check(text, facts, language, vocabulary)   a colour, material, pattern, style or fit
                                     the product does not have (ml.copy.attributes)
    review(text, facts, language, channel) -> Review(text, passed, reasons)

The last three are the platform's one text-safety check (ml.common.text_safety), which the
support replies run too; here their reasons are the review's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ecom_assets.ml.common.text_safety import BANNED_CLAIMS, catalogue_numbers, check_text, numbers_in, unsupported_numbers
from ecom_assets.ml.common.text_safety import banned_claims as safety_banned_claims
from ecom_assets.ml.common.text_safety import personal_data as safety_personal_data

__all__ = ["BANNED_CLAIMS", "CHANNELS", "Review", "attribute_check", "banned_claims", "clean", "distinct_n", "fact_check", "numbers_in",
           "personal_data", "review"]

# Length bounds per channel, in characters (Chinese counts one per character).
CHANNELS: dict[str, tuple[int, int]] = {"push": (8, 60), "banner": (6, 40), "feed": (15, 140)}

_CLAUSE = {"en": re.compile(r"(?<=[.!?;,])\s+"), "zh": re.compile(r"(?<=[。！？；，])")}  # "74.90" is no clause end


@dataclass
class Review:
    text: str
    passed: bool
    reasons: list[str] = field(default_factory=list)


def _tokens(text: str, language: str) -> list[str]:
    return list(text.replace(" ", "")) if language == "zh" else text.split()


def clean(text: str, language: str, max_n: int = 4) -> str:
    """Collapse immediately repeated words/phrases (up to `max_n` tokens: "great great" ->
    "great"; for Chinese, characters) and drop a clause that repeats an earlier one."""
    text = re.sub(r"\s+", " ", text).strip()
    for n in range(max_n, 0, -1):
        if language == "zh":
            text = re.sub(r"(.{%d})(?:\1)+" % n, r"\1", text) if n > 1 else re.sub(r"([^\d\s])\1{2,}", r"\1", text)
        else:
            words = r"\S+(?:\s+\S+){%d}" % (n - 1)
            text = re.sub(r"\b(%s)(?:\s+\1\b)+" % words, r"\1", text, flags=re.IGNORECASE)
    seen, kept = set(), []
    for clause in _CLAUSE["zh" if language == "zh" else "en"].split(text):
        key = re.sub(r"[\W_]+", "", clause.lower())
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(clause)
    return " ".join(kept).strip() if language != "zh" else "".join(kept).strip()


def fact_check(text: str, facts: dict) -> list[str]:
    """Reasons the text states a number that is not this product's: a percentage must be
    its discount (or a percentage in its title, e.g. a fabric share); any other number its
    price, original price or a number in its title (sizes, volumes, pack counts)."""
    return [f.reason for f in unsupported_numbers(text, catalogue_numbers(facts), facts.get("discount_pct"))]


def banned_claims(text: str, language: str, extra: dict[str, list[str]] | None = None) -> list[str]:
    return [f.reason for f in safety_banned_claims(text, language, extra)]


def personal_data(text: str) -> list[str]:
    """One reason per kind of personal data in the copy (the platform's one scrubber finds them)."""
    return [f.reason for f in safety_personal_data(text)]


def attribute_check(text: str, facts: dict, language: str, vocabulary) -> list[str]:
    """Reasons the text states a colour, material, pattern, style or fit the product does
    not have (facts["attributes"]: its attribute map; facts["product_text"]: its title and
    description)."""
    from ecom_assets.ml.copy.attributes import unsupported_attributes

    return [f.reason for f in unsupported_attributes(text, language, vocabulary, facts.get("attributes") or {},
                                                     facts.get("product_text") or "")]


def published_line_problems(text: str, facts: dict, language: str, vocabulary) -> list[str]:
    """Everything a published line is checked for again: the text-safety check (facts,
    claims, personal data) and the attribute check."""
    return [f.reason for f in check_text(text, language, facts=facts)] + attribute_check(text, facts, language, vocabulary)


def review(text: str, facts: dict, language: str, channel: str = "feed",
           extra_claims: dict[str, list[str]] | None = None, vocabulary=None) -> Review:
    """Clean the candidate, then every check; passed only when no check objects.
    `vocabulary` (an AttributeVocabulary) adds the attribute-faithfulness check."""
    cleaned = clean(text, language)
    reasons = []
    low, high = CHANNELS[channel]
    if not low <= len(cleaned) <= high:
        reasons.append(f"length: {len(cleaned)} characters, {channel} allows {low}-{high}")
    if re.search(r"[{}]", cleaned):
        reasons.append("template: an unfilled or malformed slot")
    reasons += [f.reason for f in check_text(cleaned, language, facts=facts, extra_claims=extra_claims)]
    if vocabulary is not None:
        reasons += attribute_check(cleaned, facts, language, vocabulary)
    return Review(cleaned, not reasons, reasons)


def distinct_n(texts: list[str], n: int = 2, language: str = "en") -> float:
    """Share of distinct n-grams among all n-grams (Li et al., 2016): 1.0 = no repetition."""
    grams = [tuple(t[i:i + n]) for text in texts for t in [_tokens(text, language)] for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
