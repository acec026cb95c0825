"""One safety check for every generated text: ad copy and support replies.

    personal data     an e-mail address, phone, ID card or bank card number (ml.common.pii)
    banned claim      an absolute or superlative claim advertising law forbids (China's
                      Advertising Law art. 9(3); UK CAP/ASA and US FTC practice on
                      unsubstantiated superlatives)
    unsupported fact  a number the text states that its source does not: for copy, the
                      product's price, original price, discount or a number in its title;
                      for a reply, a number of the approved answer or of the account facts
                      filled into it

`check_text` returns one `Finding` per problem; its `reason` keeps the wording the review
and the reports show ("fact: ...", "claim: ...", "privacy: ..."), its `kind` the category
counted in the UI. `facts_stated` says which catalogue facts a published line states, so
that a reviewer can check each against the catalogue.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from ecom_assets.ml.common.pii import find_personal_data

KINDS = ("personal data", "banned claim", "unsupported fact")

BANNED_CLAIMS: dict[str, list[str]] = {
    "zh": ["最", "第一", "国家级", "顶级", "极品", "唯一", "首选", "绝对", "万能", "全网最低", "史无前例"],
    "en": ["best ever", "the best", "guaranteed", "guarantee", "no.1", "no. 1", "number one", "#1", "cheapest",
           "world's best", "world-class", "unbeatable", "miracle", "100% effective", "risk-free", "lowest price"],
}
# Words that hold a banned character without making a claim ("最近": recently, "最后":
# last): matched before the claims and set aside, so a reply saying "your most recent
# order" is not a superlative.
NOT_CLAIMS: dict[str, list[str]] = {"zh": ["最近", "最后", "最初", "最终", "最早", "最晚", "最少需要", "最多可"], "en": []}

_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:[.,]\d+)*)(\s*%|\s*％)?")  # ASCII lookbehind: "享15%" is a number
_PERSONAL_KINDS = {"email": "an e-mail address", "phone": "a phone number", "id_card": "an ID card number",
                   "card": "a bank card number"}
_KIND_OF_PREFIX = {"privacy": "personal data", "claim": "banned claim", "fact": "unsupported fact"}


@dataclass(frozen=True)
class Finding:
    kind: str
    reason: str


def kind_of(reason: str) -> str | None:
    """The safety kind of a review reason ("fact: ..." -> "unsupported fact"), None for others."""
    return _KIND_OF_PREFIX.get(reason.split(":", 1)[0].strip())


def numbers_in(text: str) -> list[tuple[float, bool]]:
    """(value, is_percentage) for every number in the text; thousands separators allowed."""
    out = []
    for m in _NUMBER.finditer(text or ""):
        raw = m.group(1)
        value = float(raw.replace(",", "")) if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw) else float(raw.replace(",", "."))
        out.append((value, bool(m.group(2))))
    return out


def personal_data(text: str) -> list[Finding]:
    kinds = dict.fromkeys(f.kind for f in find_personal_data(text or ""))
    return [Finding("personal data", f"privacy: contains {_PERSONAL_KINDS.get(k, k)}") for k in kinds]


def banned_claims(text: str, language: str, extra: dict[str, list[str]] | None = None) -> list[Finding]:
    terms = [*BANNED_CLAIMS.get(language, []), *((extra or {}).get(language, []))]
    lowered = (text or "").lower()
    for harmless in NOT_CLAIMS.get(language, []):
        lowered = lowered.replace(harmless, " ")
    return [Finding("banned claim", f"claim: '{t}' is an absolute or superlative claim") for t in terms
            if t.lower() in lowered]


def catalogue_numbers(facts: dict) -> tuple[set[float], set[float]]:
    """(numbers, percentages) a product's copy may state: its prices, its discount (exact
    or rounded down: copy may understate a discount, never overstate it) and the numbers
    in its title ("50 ml", "Pack of 4", "20% wool")."""
    discount = facts.get("discount_pct")
    percentages = {round(float(discount), 2), float(math.floor(float(discount) + 1e-9))} if discount else set()
    numbers = {round(float(facts[key]), 2) for key in ("price", "effective_price", "original_price", "original")
               if facts.get(key) is not None}
    for value, is_pct in numbers_in(str(facts.get("title", ""))):
        (percentages if is_pct else numbers).add(round(value, 2))
    return numbers, percentages


def source_numbers(*sources: str) -> tuple[set[float], set[float]]:
    """(numbers, percentages) stated by the texts a reply was built from."""
    numbers, percentages = set(), set()
    for source in sources:
        for value, is_pct in numbers_in(str(source or "")):
            (percentages if is_pct else numbers).add(round(value, 2))
    return numbers, percentages


def unsupported_numbers(text: str, allowed: tuple[set[float], set[float]], discount: float | None = None,
                        of_product: bool = True) -> list[Finding]:
    """A finding per number of `text` outside `allowed` (numbers, percentages): worded for
    a product's copy (`of_product`) or for a reply built from an answer and account facts."""
    numbers, percentages = allowed
    out = []
    for value, is_pct in numbers_in(text):
        value = round(value, 2)
        if is_pct and value not in percentages:
            reason = (f"fact: {value:g}% is not this product's discount"
                      + (f" ({float(discount):g}%)" if percentages else " (it has none)")) if of_product else \
                f"fact: {value:g}% is stated by neither the answer nor the account"
            out.append(Finding("unsupported fact", reason))
        elif not is_pct and value not in numbers:
            reason = (f"fact: {value:g} is not a price or a number of this product" if of_product else
                      f"fact: {value:g} is stated by neither the answer nor the account")
            out.append(Finding("unsupported fact", reason))
    return out


def check_text(text: str, language: str, *, facts: dict | None = None, sources: list[str] | None = None,
               extra_claims: dict[str, list[str]] | None = None) -> list[Finding]:
    """Every safety finding in `text`. Numbers are judged against the product's catalogue
    `facts` (copy) or against the `sources` it was built from (a reply: the approved
    answer and the values filled into it); with neither, numbers are not judged."""
    findings = []
    if facts is not None:
        findings += unsupported_numbers(text, catalogue_numbers(facts), facts.get("discount_pct"))
    elif sources is not None:
        findings += unsupported_numbers(text, source_numbers(*sources), of_product=False)
    findings += banned_claims(text, language, extra_claims)
    findings += personal_data(text)
    return findings


def counts_by_kind(findings_per_text) -> dict[str, int]:
    """Texts with at least one finding of each kind (every kind listed, zeros included).
    Each text's findings are `Finding`s, kind names or review reasons ("fact: ..."; other
    reasons, such as length, are not safety findings and are not counted)."""
    def kinds(findings) -> set[str]:
        return {f.kind if isinstance(f, Finding) else f if f in KINDS else kind_of(f) for f in findings} - {None}

    counts = Counter(kind for findings in findings_per_text for kind in kinds(findings))
    return {kind: int(counts.get(kind, 0)) for kind in KINDS}


def facts_stated(text: str, facts: dict, language: str) -> list[str]:
    """The catalogue facts a line states, each as "<fact> <value>": the product's name,
    brand and category when they appear, and every number matched to the fact it is
    (price, original price, discount, a number in the title)."""
    lowered = (text or "").lower()
    out = []
    for key, label in (("product_name", "product"), ("brand", "brand"), ("category", "category")):
        value = facts.get(key)
        if value and str(value).lower() in lowered:
            out.append(f"{label} {value}")
    prices = {"price": facts.get("effective_price", facts.get("price")), "original price": facts.get("original")}
    title_numbers = {round(v, 2) for v, is_pct in numbers_in(str(facts.get("title", ""))) if not is_pct}
    discount = facts.get("discount_pct")
    for value, is_pct in numbers_in(text):
        value = round(value, 2)
        if is_pct:
            if discount and value in {round(float(discount), 2), float(math.floor(float(discount) + 1e-9))}:
                out.append(f"discount {value:g}%")
            continue
        named = next((name for name, v in prices.items() if v is not None and round(float(v), 2) == value), None)
        if named:
            out.append(f"{named} {value:g}")
        elif value in title_numbers:
            out.append(f"title number {value:g}")
    return list(dict.fromkeys(out))
