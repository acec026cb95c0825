"""Privacy at the door: keyed pseudonyms for user identifiers, PII columns dropped,
contact details and ID/card numbers scrubbed from free text (`ml.common.pii`).

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
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecom_assets.ml.common.pii import scrub_series

log = logging.getLogger(__name__)

KEY_ENV_VAR = "ECOM_PSEUDONYM_KEY"
PSEUDONYM_PREFIX = "u_"
PSEUDONYM_HEX_CHARS = 24

# Column names that identify or contact a person. Names are normalised first (NFKC,
# lower case, every run of non-alphanumerics one "_"), so "Email Address", "e-mail" and
# "first name" are caught too. Anchored, so that "product_name" or "brand_name" stay while
# "name" or "customer_email" go. This is a second line of defence: what a quarantine row
# keeps is decided by an allow-list (`ColumnMapping.source_columns`), not by this list.
_PII_COLUMN = re.compile(
    r"^(customer|user|client|contact|billing|shipping|buyer|recipient|home|work|primary)?_?"
    r"(name|first_?name|last_?name|given_?name|family_?name|full_?name|surname|e_?mail|e_?mail_?address|mail|"
    r"phone|phone_?number|mobile|mobile_?number|cell|tel|telephone|address|address_?line_?\d?|street|postcode|"
    r"post_?code|zip|zip_?code|ip|ip_?address|birth_?date|date_?of_?birth|dob|passport|id_?card|id_?number|"
    r"national_?id|ssn|credit_?card|card_?number|iban|notes?|comments?)$"
    # Identifiers of a person under another name than the mapping's user-id column.
    r"|^(customer|client|member|account|buyer|shopper|visitor|contact|loyalty)_?(id|no|number|code)$"
)
# Chinese column names for name, phone, ID card, address, e-mail, bank card.
_PII_COLUMN_ZH = re.compile(r"(姓名|名字|手机|电话|身份证|证件号|地址|邮箱|邮件|银行卡|卡号|生日|出生)")
MIN_KEY_BYTES = 16

class PseudonymKeyError(ValueError):
    """The pseudonymisation key is unusable (empty, too short) or not the warehouse's."""


@dataclass(frozen=True)
class PseudonymKey:
    key: bytes
    origin: str  # "env" or the key file path
    generated: bool = False

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)


def key_fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it: recorded in the warehouse with the first
    load, so that a changed key is refused instead of splitting every user's history into
    two pseudonyms."""
    return hmac.new(key, b"ecom-assets pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]


def _checked(key: bytes, origin: str) -> bytes:
    if not key:
        raise PseudonymKeyError(f"the pseudonymisation key from {origin} is empty: an unkeyed hash of small customer ids "
                                "can be reversed by enumeration. Put a random secret there (e.g. `openssl rand -hex 32`).")
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"the pseudonymisation key from {origin} has {len(key)} bytes; at least {MIN_KEY_BYTES} "
                                "are needed (e.g. `openssl rand -hex 32`).")
    return key


def load_or_create_key(key_file: Path, env_var: str = KEY_ENV_VAR) -> PseudonymKey:
    """The pseudonymisation key: from `env_var` when set, else a local key file created
    on first use (outside the warehouse, mode 0600) with a loud warning. An empty or short
    key is refused. The file is written whole under a temporary name and linked into
    place, so two processes starting at once agree on one key and a crash never leaves a
    half-written key behind."""
    value = os.environ.get(env_var)
    if value is not None:
        return PseudonymKey(_checked(value.strip().encode("utf-8"), f"${env_var}"), origin="env")
    key_file = Path(key_file)
    if key_file.exists():
        return PseudonymKey(_checked(key_file.read_bytes().strip(), str(key_file)), origin=str(key_file))
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    temp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, key_file)  # fails if another process linked its key first: use that one
        except FileExistsError:
            return PseudonymKey(_checked(key_file.read_bytes().strip(), str(key_file)), origin=str(key_file))
    finally:
        temp.unlink(missing_ok=True)
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


def normalised_column_name(name) -> str:
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", text).strip("_")


def is_pii_column(name) -> bool:
    norm = normalised_column_name(name)
    last = normalised_column_name(str(name).rsplit(".", 1)[-1])  # a nested JSON key ("customer.email") by its last part too
    return any(_PII_COLUMN.search(p) for p in (norm, last)) or bool(_PII_COLUMN_ZH.search(norm))


def drop_pii_columns(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    dropped = [c for c in frame.columns if c not in keep and is_pii_column(c)]
    return frame.drop(columns=dropped), dropped


def scrub_text(values: pd.Series) -> pd.Series:
    """Replace e-mail addresses, phone numbers, ID card and bank card numbers typed into
    free text with placeholders (the one scrubber, `ml.common.pii`)."""
    return scrub_series(values)
