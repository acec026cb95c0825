"""Content optimisation for generated ad copy: clean-up, then checks that decide whether a
candidate may be published. Every candidate gets its reasons; nothing is silently fixed
into a claim it did not make.

    clean(text, language)            repeated words/phrases and repeated clauses removed
    numbers_in(text)                 every number written in the copy, with its kind
    fact_check(text, facts)          each number must be a catalogue fact of this product
    banned_claims(text, language)    absolute/superlative claims advertising law forbids
    personal_data(text)              e-mail addresses, phone, ID card and bank card numbers (ml.common.pii)
    review(text, facts, language, channel) -> Review(text, passed, reasons)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ecom_assets.ml.common.pii import find_personal_data

# Absolute and superlative claims (China's Advertising Law art. 9(3); UK CAP/ASA and US
# FTC practice on unsubstantiated superlatives). Matched case-insensitively; configurable.
BANNED_CLAIMS: dict[str, list[str]] = {
    "zh": ["最", "第一", "国家级", "顶级", "极品", "唯一", "首选", "绝对", "万能", "全网最低", "史无前例"],
    "en": ["best ever", "the best", "guaranteed", "guarantee", "no.1", "no. 1", "number one", "#1", "cheapest",
           "world's best", "world-class", "unbeatable", "miracle", "100% effective", "risk-free", "lowest price"],
}

# Length bounds per channel, in characters (Chinese counts one per character).
CHANNELS: dict[str, tuple[int, int]] = {"push": (8, 60), "banner": (6, 40), "feed": (15, 140)}

_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:[.,]\d+)*)(\s*%|\s*％)?")  # ASCII lookbehind: "享15%" is a number
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


def numbers_in(text: str) -> list[tuple[float, bool]]:
    """(value, is_percentage) for every number in the text; thousands separators allowed."""
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group(1)
        value = float(raw.replace(",", "")) if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw) else float(raw.replace(",", "."))
        out.append((value, bool(m.group(2))))
    return out


def fact_check(text: str, facts: dict) -> list[str]:
    """Reasons the text states a number that is not this product's: a percentage must be
    its discount (or a percentage in its title, e.g. a fabric share); any other number its
    price, original price or a number in its title (sizes, volumes, pack counts)."""
    discount = facts.get("discount_pct")
    # The exact discount, or it rounded down (a whole percentage that does not overstate it).
    allowed_pct = {round(float(discount), 2), float(math.floor(float(discount) + 1e-9))} if discount else set()
    allowed = set()
    for key in ("price", "effective_price", "original_price", "original"):
        if facts.get(key) is not None:
            allowed.add(round(float(facts[key]), 2))
    for value, is_pct in numbers_in(str(facts.get("title", ""))):  # "50 ml", "Pack of 4", "20% wool"
        (allowed_pct if is_pct else allowed).add(round(value, 2))
    reasons = []
    for value, is_pct in numbers_in(text):
        value = round(value, 2)
        if is_pct and value not in allowed_pct:
            reasons.append(f"fact: {value:g}% is not this product's discount"
                           + (f" ({float(discount):g}%)" if allowed_pct else " (it has none)"))
        elif not is_pct and value not in allowed:
            reasons.append(f"fact: {value:g} is not a price or a number of this product")
    return reasons


def banned_claims(text: str, language: str, extra: dict[str, list[str]] | None = None) -> list[str]:
    terms = [*BANNED_CLAIMS.get(language, []), *((extra or {}).get(language, []))]
    lowered = text.lower()
    return [f"claim: '{t}' is an absolute or superlative claim" for t in terms if t.lower() in lowered]


_PERSONAL_KINDS = {"email": "an e-mail address", "phone": "a phone number", "id_card": "an ID card number",
                   "card": "a bank card number"}


def personal_data(text: str) -> list[str]:
    """One reason per kind of personal data in the copy (the platform's one scrubber finds them)."""
    kinds = dict.fromkeys(f.kind for f in find_personal_data(text))
    return [f"privacy: contains {_PERSONAL_KINDS[k]}" for k in kinds]


def review(text: str, facts: dict, language: str, channel: str = "feed",
           extra_claims: dict[str, list[str]] | None = None) -> Review:
    """Clean the candidate, then every check; passed only when no check objects."""
    cleaned = clean(text, language)
    reasons = []
    low, high = CHANNELS[channel]
    if not low <= len(cleaned) <= high:
        reasons.append(f"length: {len(cleaned)} characters, {channel} allows {low}-{high}")
    if re.search(r"[{}]", cleaned):
        reasons.append("template: an unfilled or malformed slot")
    reasons += fact_check(cleaned, facts)
    reasons += banned_claims(cleaned, language, extra_claims)
    reasons += personal_data(cleaned)
    return Review(cleaned, not reasons, reasons)


def distinct_n(texts: list[str], n: int = 2, language: str = "en") -> float:
    """Share of distinct n-grams among all n-grams (Li et al., 2016): 1.0 = no repetition."""
    grams = [tuple(t[i:i + n]) for text in texts for t in [_tokens(text, language)] for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
