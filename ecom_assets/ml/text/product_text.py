"""The text an encoder reads for a product: title, category path, brand and a few key
attributes, in the configured language, plus a content hash to tell when it changed."""

from __future__ import annotations

import hashlib
from typing import Literal

import pandas as pd

Language = Literal["auto", "en", "zh", "both"]


def _clean(value) -> str:
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():  # a band of 2 read through a nullable column is 2.0
        value = int(value)
    return str(value).strip()


def product_texts(items: pd.DataFrame, language: Language = "auto", description_chars: int = 160) -> list[str]:
    """One text per row of `items` (columns used when present: title_en, title_zh,
    category_path, brand, description_en, description_zh, price_band).

    language: "en" or "zh" read that title and description; "auto" the English one where
    there is one, else the Chinese; "both" the two titles side by side."""
    out = []
    for row in items.to_dict("records"):
        en, zh = _clean(row.get("title_en")), _clean(row.get("title_zh"))
        den, dzh = _clean(row.get("description_en")), _clean(row.get("description_zh"))
        if language == "en":
            title, description = en, den
        elif language == "zh":
            title, description = zh, dzh
        elif language == "both":
            title, description = " / ".join(t for t in (en, zh) if t), den or dzh
        else:
            title, description = (en, den) if en else (zh, dzh)
        parts = [title, _clean(row.get("category_path")), _clean(row.get("brand"))]
        if _clean(row.get("price_band")):
            parts.append(f"price band {_clean(row.get('price_band'))} of 5")
        if description:
            parts.append(description[:description_chars])
        out.append(". ".join(p for p in parts if p) or _clean(row.get("item_id")))
    return out


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
