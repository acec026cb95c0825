"""The one personal-data scrubber: e-mail addresses, phone numbers, Chinese resident ID
numbers and bank card numbers found in text, and replaced by placeholders.

Used wherever text crosses the door or leaves the platform: free-text columns at
ingestion, every value a quarantine row keeps, quoted values in quarantine reasons, the
ad-copy review (copy with personal data is never published) and, later, support replies.

Matching runs on the NFKC form of the text (full-width digits and `＠`, ideographic
spaces and the like become ASCII), but replacement is done in the original text: each
character is normalised on its own and the positions mapped back, so that Chinese
punctuation (`，` `？`) in the rest of a message is left as the customer wrote it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

# Order matters: longer, more specific shapes first, so an 18-digit ID card number is not
# half-eaten by the phone pattern. Boundaries are ASCII on purpose: in Unicode regexes
# Chinese characters count as \w, and "电话是13812345678" must still match from its first digit.
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+\s?@\s?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    # GB 11643: 6-digit region, birth date YYYYMMDD, 3-digit sequence, check digit 0-9 or X.
    ("id_card", re.compile(_NOT_ALNUM_BEFORE + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
                           + _NOT_ALNUM_AFTER)),
    # Payment cards: 16-19 digits, written together or in groups separated by one space or dash.
    ("card", re.compile(r"(?<![0-9])(?:\d[ -]?){15,18}\d(?![0-9])")),
    # Phones: 7+ digits with optional country code, area code and separators (space, dash, dot).
    ("phone", re.compile(_NOT_ALNUM_BEFORE + r"(?:\+\d{1,3}[\s.-]?)?(?:\(?\d{2,4}\)?[\s.-]?)?\d{3,4}[\s.-]?\d{4}"
                         + _NOT_ALNUM_AFTER)),
)
PLACEHOLDERS = {kind: f"[{kind}]" for kind, _ in PATTERNS}
# A cheap pre-filter: text without a digit or an at sign (in any width) cannot match.
_CANDIDATE = re.compile(r"[0-9０-９@＠﹫]")


@dataclass(frozen=True)
class Finding:
    kind: str  # email, id_card, card, phone
    start: int  # span in the original text
    end: int


def _normalised_with_positions(text: str) -> tuple[str, list[int]]:
    """NFKC per character, with the original index of every normalised character."""
    if text.isascii():
        return text, list(range(len(text)))
    out, where = [], []
    for i, ch in enumerate(text):
        norm = unicodedata.normalize("NFKC", ch)
        out.append(norm)
        where.extend([i] * len(norm))
    return "".join(out), where


def find_personal_data(text: str) -> list[Finding]:
    """Every personal-data span in `text`, non-overlapping, in order."""
    if not text or not _CANDIDATE.search(text):
        return []
    norm, where = _normalised_with_positions(text)
    taken = [False] * len(norm)
    found: list[Finding] = []
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(norm):
            if m.end() == m.start() or any(taken[m.start():m.end()]):
                continue
            taken[m.start():m.end()] = [True] * (m.end() - m.start())
            found.append(Finding(kind, where[m.start()], where[m.end() - 1] + 1))
    return sorted(found, key=lambda f: f.start)


def scrub(text: str | None) -> str | None:
    """`text` with every personal-data span replaced by its placeholder."""
    if text is None or not isinstance(text, str):
        return text
    findings = find_personal_data(text)
    if not findings:
        return text
    parts, at = [], 0
    for f in findings:
        parts += [text[at:f.start], PLACEHOLDERS[f.kind]]
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


def scrub_series(values: pd.Series) -> pd.Series:
    """`scrub` over a column; missing values stay missing. Only cells that could hold a
    match (a digit or an at sign) are looked at, so a clean column costs one regex pass."""
    text = values.astype("string")
    candidates = text.str.contains(_CANDIDATE, na=False).to_numpy()
    out = text.astype(object).where(text.notna(), None)
    if candidates.any():
        out = out.copy()
        out[candidates] = [scrub(v) for v in out[candidates]]
    return out
