"""Column mappings: how a source file's columns become the canonical schema.

A mapping names the columns it needs (used to detect it and to reject a file that lacks
them), the columns that hold user identifiers (pseudonymised before anything else), the
free-text columns to scrub, and a transform from the source frame (strings) to canonical
columns. Values the transform cannot interpret are passed through unchanged, so that
validation quarantines the row with the original value in its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ecom_assets.schema import FREE_TEXT_FIELDS, SCHEMAS


@dataclass(frozen=True)
class ColumnMapping:
    name: str
    entity: str
    required_columns: tuple[str, ...]
    transform: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame]
    user_id_columns: tuple[str, ...] = ()
    text_columns: tuple[str, ...] = ()
    description: str = ""

    def matches(self, columns) -> bool:
        return set(self.required_columns) <= set(columns)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("string").str.strip()


def _iso_or_original(raw: pd.Series, *formats: str) -> pd.Series:
    """Parse timestamps in any of `formats` (ISO 8601 first) to ISO strings; unparseable
    values keep their original text so the quarantine reason shows them."""
    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    for fmt in formats:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed = parsed.fillna(pd.to_datetime(text.where(missing), errors="coerce", format=fmt, utc=True))
    iso = parsed.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S")
    return iso.astype(object).where(parsed.notna(), text.astype(object))


def _canonical(entity: str) -> ColumnMapping:
    schema = SCHEMAS[entity]
    required = tuple(f.name for f in schema.fields if f.required)

    def transform(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
        return frame[[c for c in schema.columns if c in frame.columns]]

    return ColumnMapping(
        name=f"canonical_{entity}", entity=entity, required_columns=required, transform=transform,
        user_id_columns=("user_id",) if schema.user_id_field else (),
        text_columns=FREE_TEXT_FIELDS.get(entity, ()),
        description="columns already named as in the canonical schema",
    )


def _uci_events(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    invoice = _text(frame, "InvoiceNo")
    cancelled = invoice.str.upper().str.startswith("C").fillna(False)
    quantity = pd.to_numeric(frame["Quantity"], errors="coerce")
    # A cancellation line carries a negative quantity: it is a refund of that many units.
    # A negative quantity on an ordinary invoice is a stock adjustment, not a sale: left
    # negative so that validation quarantines it.
    qty = quantity.where(~cancelled, quantity.abs())
    return pd.DataFrame(
        dict(
            event_id="uci:" + invoice.fillna("") + ":" + pd.Series(row_numbers, index=frame.index).astype(str),
            event_time=_iso_or_original(frame["InvoiceDate"], "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M"),
            user_id=frame["CustomerID"],
            session_id=invoice,
            event_type=np.where(cancelled, "refund", "purchase"),
            item_id=frame["StockCode"],
            price=frame["UnitPrice"],
            quantity=qty.astype(object).where(qty.notna(), frame["Quantity"]),
        ),
        index=frame.index,
    )


_RETAILROCKET_EVENTS = {"view": "view", "addtocart": "add_to_cart", "transaction": "purchase"}


def _retailrocket_events(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    ms = pd.to_numeric(frame["timestamp"], errors="coerce")
    when = pd.to_datetime(ms, unit="ms", errors="coerce").dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    event = _text(frame, "event")
    return pd.DataFrame(
        dict(
            event_id="rr:" + pd.Series(row_numbers, index=frame.index).astype(str) + ":" + frame["timestamp"].astype(str),
            event_time=when.astype(object).where(when.notna(), frame["timestamp"]),
            user_id=frame["visitorid"],
            event_type=event.map(_RETAILROCKET_EVENTS).astype(object).where(event.isin(list(_RETAILROCKET_EVENTS)), event),
            item_id=frame["itemid"],
        ),
        index=frame.index,
    )


_REES46_EVENTS = {"view": "view", "cart": "add_to_cart", "remove_from_cart": "remove_from_cart", "purchase": "purchase"}


def _rees46_events(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    event = _text(frame, "event_type")
    return pd.DataFrame(
        dict(
            event_id="rees46:" + pd.Series(row_numbers, index=frame.index).astype(str),
            event_time=_iso_or_original(frame["event_time"].astype("string").str.replace(r"\s*UTC$", "", regex=True)),
            user_id=frame["user_id"],
            session_id=frame.get("user_session"),
            event_type=event.map(_REES46_EVENTS).astype(object).where(event.isin(list(_REES46_EVENTS)), event),
            item_id=frame["product_id"],
            price=frame.get("price"),
        ),
        index=frame.index,
    )


def _flipkart_products(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    """Retail price is the list price; the discount is what the discounted price takes off
    it, in percent, unrounded (so price x (1 - discount) gives the discounted price back)."""
    retail = pd.to_numeric(frame["retail_price"], errors="coerce")
    discounted = pd.to_numeric(frame["discounted_price"], errors="coerce")
    discount = (100 * (1 - discounted / retail)).clip(lower=0)
    category = frame["product_category_tree"].astype("string").str.strip('[]"').str.split(" >> ") \
        if "product_category_tree" in frame.columns else None
    return pd.DataFrame(
        dict(
            item_id=frame["pid"],
            title_en=_text(frame, "product_name"),
            description_en=frame.get("description"),
            category_l1=category.str[0] if category is not None else None,
            category_l2=category.str[1] if category is not None else None,
            brand=frame.get("brand"),
            price=retail.astype(object).where(retail.notna(), frame["retail_price"]),
            discount_pct=discount.astype(object).where(discount.notna(), None),
            currency="INR",
        ),
        index=frame.index,
    )


UCI_ONLINE_RETAIL = ColumnMapping(
    "uci_online_retail", "events",
    ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"),
    _uci_events, user_id_columns=("CustomerID",),
    description="UCI Online Retail invoice lines: purchases, cancellations (invoice 'C...') as refunds",
)
RETAILROCKET_EVENTS = ColumnMapping(
    "retailrocket_events", "events", ("timestamp", "visitorid", "event", "itemid"),
    _retailrocket_events, user_id_columns=("visitorid",),
    description="RetailRocket events.csv: view / addtocart / transaction, epoch-millisecond timestamps",
)
REES46_EVENTS = ColumnMapping(
    "rees46_events", "events", ("event_time", "event_type", "product_id", "user_id"),
    _rees46_events, user_id_columns=("user_id",),
    description="REES46 multi-category store: view / cart / remove_from_cart / purchase",
)

FLIPKART_PRODUCTS = ColumnMapping(
    "flipkart_products", "products", ("pid", "product_name", "retail_price", "discounted_price"),
    _flipkart_products, description="Flipkart catalogue export: list and discounted prices (INR) -> price and discount %",
)

# Specific mappings first: a canonical file would not match them, but REES46 and the
# canonical events schema share column names, so the more specific one must win.
MAPPINGS: dict[str, ColumnMapping] = {
    m.name: m
    for m in (UCI_ONLINE_RETAIL, RETAILROCKET_EVENTS, REES46_EVENTS, FLIPKART_PRODUCTS, *(_canonical(e) for e in SCHEMAS))
}


def mappings_for(entity: str) -> list[ColumnMapping]:
    return [m for m in MAPPINGS.values() if m.entity == entity]


def detect_mapping(entity: str, columns) -> ColumnMapping | None:
    for mapping in mappings_for(entity):
        if mapping.matches(columns):
            if mapping.name == "rees46_events" and "event_id" in columns:
                continue  # a canonical events file, not REES46
            return mapping
    return None


MAPPING_FILE = "mapping.json"


class MappingSpecError(ValueError):
    pass


def mapping_from_spec(entity: str, spec: dict, name: str = "custom") -> ColumnMapping:
    """A mapping written by the merchant instead of code, e.g. in <inbox>/events/mapping.json:

        {"columns": {"ts": "event_time", "customer": "user_id", "sku": "item_id",
                     "action": "event_type", "id": "event_id"},
         "values": {"event_type": {"pv": "view", "buy": "purchase"}}}

    `columns` renames source columns to canonical ones; `values` recodes values of a
    canonical column (values not listed are kept, so validation can quarantine them).
    """
    schema = SCHEMAS[entity]
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingSpecError('needs a "columns" object mapping source column names to canonical ones')
    unknown = sorted(set(columns.values()) - set(schema.columns))
    if unknown:
        raise MappingSpecError(f"unknown canonical field(s) {unknown} for {entity}; known: {', '.join(schema.columns)}")
    missing = [f.name for f in schema.fields if f.required and f.name not in columns.values()]
    if missing:
        raise MappingSpecError(f"required canonical field(s) {missing} are not mapped from any column")
    recode = spec.get("values", {})
    if not isinstance(recode, dict) or set(recode) - set(columns.values()):
        raise MappingSpecError('"values" must recode mapped canonical fields only')

    def transform(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
        out = frame[list(columns)].rename(columns=columns)
        for column, codes in recode.items():
            out[column] = out[column].map(lambda v: codes.get(v, v) if isinstance(v, str) else v)
        return out

    return ColumnMapping(
        name=name, entity=entity, required_columns=tuple(columns), transform=transform,
        user_id_columns=tuple(src for src, dst in columns.items() if dst == schema.user_id_field),
        text_columns=tuple(src for src, dst in columns.items() if dst in FREE_TEXT_FIELDS.get(entity, ())),
        description="merchant-defined column mapping",
    )
