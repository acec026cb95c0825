"""Privacy at the door: keyed pseudonyms for user identifiers, PII columns dropped,
e-mail addresses and phone numbers scrubbed from free text.

Pseudonyms are HMAC-SHA256(key, raw_id) (RFC 2104), truncated to 96 bits: stable for
joins across loads, irreversible without the key, and collision-free in practice for
any shop's user count (birthday bound ~2^48 ids).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

KEY_ENV_VAR = "ECOM_PSEUDONYM_KEY"
PSEUDONYM_PREFIX = "u_"
PSEUDONYM_HEX_CHARS = 24

# Column names that identify or contact a person; such columns never land in the warehouse.
# Column names that identify or contact a person; such columns never land in the warehouse.
# Anchored, so that "product_name" or "brand_name" stay while "name" or "customer_email" go.
_PII_COLUMN = re.compile(
    r"^(customer|user|client|contact|billing|shipping|buyer|recipient)?[_ ]?"
    r"(name|first_?name|last_?name|full_?name|surname|e_?mail|mail|phone|phone_?number|mobile|"
    r"tel|telephone|address|street|postcode|zip|zip_?code|ip|ip_?address|birth_?date|dob|"
    r"passport|id_?card|national_?id|credit_?card|card_?number)$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Phone numbers: 7+ digits with optional country code, area code and separators. The
# boundaries are ASCII on purpose: in Unicode regexes Chinese characters count as \w, and
# "电话是138-1234-5678" must still match from its first digit.
_PHONE = re.compile(
    r"(?<![0-9A-Za-z])(?:\+\d{1,3}[\s-]?)?(?:\(?\d{2,4}\)?[\s-]?)?\d{3,4}[\s-]?\d{4}(?![0-9A-Za-z])"
)


@dataclass(frozen=True)
class PseudonymKey:
    key: bytes
    origin: str  # "env" or the key file path
    generated: bool = False


def load_or_create_key(key_file: Path, env_var: str = KEY_ENV_VAR) -> PseudonymKey:
    """The pseudonymisation key: from `env_var` when set, else a local key file created
    on first use (outside the warehouse, mode 0600) with a loud warning."""
    value = os.environ.get(env_var)
    if value:
        return PseudonymKey(value.encode("utf-8"), origin="env")
    key_file = Path(key_file)
    if key_file.exists():
        return PseudonymKey(key_file.read_bytes().strip(), origin=str(key_file))
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    log.warning(
        "%s is not set: generated a local pseudonymisation key at %s. Pseudonyms are only "
        "stable while this file exists; set %s in production and keep it secret.",
        env_var,
        key_file,
        env_var,
    )
    return PseudonymKey(key, origin=str(key_file), generated=True)


def pseudonym(raw_id: str, key: bytes) -> str:
    digest = hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonymise a column; missing or blank ids stay missing. Hashes each distinct id
    once, so a million events from 1e5 users cost 1e5 HMACs."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # Normalise the distinct ids only: strip blanks, and "17850.0" is customer 17850
    # (float formatting of an integer id by a spreadsheet or pandas).
    normalised = pd.Series(uniques, dtype="string").str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    mapped = np.array([pseudonym(u, key) if isinstance(u, str) and u else None for u in normalised.astype(object)] + [None],
                      dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def is_pii_column(name: str) -> bool:
    return bool(_PII_COLUMN.search(str(name)))


def drop_pii_columns(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    dropped = [c for c in frame.columns if c not in keep and is_pii_column(c)]
    return frame.drop(columns=dropped), dropped


def scrub_text(values: pd.Series) -> pd.Series:
    """Replace e-mail addresses and phone numbers typed into free text with placeholders."""
    text = values.astype("string")
    text = text.str.replace(_EMAIL, "[email]", regex=True)
    text = text.str.replace(_PHONE, "[phone]", regex=True)
    return text.astype(object).where(text.notna(), None)
