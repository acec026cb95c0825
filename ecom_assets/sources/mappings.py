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
    optional_columns: tuple[str, ...] = ()
    """Source columns the transform reads when present."""

    def matches(self, columns) -> bool:
        return set(self.required_columns) <= set(columns)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The allow-list of what a quarantine row may keep of its source row: the columns
        this mapping reads, nothing else (a file's extra columns, whatever they are
        called, never reach the warehouse)."""
        return tuple(dict.fromkeys((*self.required_columns, *self.optional_columns)))


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("string").str.strip()


def _iso_or_original(raw: pd.Series, *formats: str) -> pd.Series:
    """Parse timestamps to ISO strings in ONE format for the whole file: ISO 8601 or the
    one of `formats` that reads the most values (the first on a tie). Deciding per file,
    not per value, is what keeps "03/04" the same day in every row: a file is written by
    one program in one convention. Values the chosen format cannot read keep their
    original text, so the quarantine reason shows them."""
    text = raw.astype("string").str.strip()
    best = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    for fmt in formats:
        if best.notna().all():
            break
        candidate = pd.to_datetime(text, errors="coerce", format=fmt, utc=True)
        if candidate.notna().sum() > best.notna().sum():
            best = candidate
    iso = best.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S")
    return iso.astype(object).where(best.notna(), text.astype(object))


def _content_ids(prefix: str, frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Event ids from the row's content: the same event delivered in two files (or twice
    in one) gets the same id, so it is caught as a duplicate instead of landing twice,
    which a row number cannot do (row 5 of one file is not row 5 of another)."""
    values = frame[[c for c in columns if c in frame.columns]].astype("string").fillna("")
    digest = pd.util.hash_pandas_object(values, index=False).to_numpy()
    return pd.Series([f"{prefix}:{h:016x}" for h in digest], index=frame.index, dtype=object)


def _canonical(entity: str) -> ColumnMapping:
    schema = SCHEMAS[entity]
    required = tuple(f.name for f in schema.fields if f.required)

    def transform(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
        return frame[[c for c in schema.columns if c in frame.columns]]

    return ColumnMapping(
        name=f"canonical_{entity}", entity=entity, required_columns=required, transform=transform,
        optional_columns=tuple(schema.columns),
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
            event_id=_content_ids("uci", frame, list(UCI_COLUMNS)),
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
            event_id=_content_ids("rr", frame, ["timestamp", "visitorid", "event", "itemid", "transactionid"]),
            event_time=when.astype(object).where(when.notna(), frame["timestamp"]),
            user_id=frame["visitorid"],
            event_type=event.map(_RETAILROCKET_EVENTS).astype(object).where(event.isin(list(_RETAILROCKET_EVENTS)), event),
            item_id=frame["itemid"],
        ),
        index=frame.index,
    )


# Every column of a REES46 export (the four the mapping needs first): its content id.
REES46_COLUMNS = ("event_time", "event_type", "product_id", "user_id", "category_id", "category_code", "brand", "price",
                  "user_session")
UCI_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
_REES46_EVENTS = {"view": "view", "cart": "add_to_cart", "remove_from_cart": "remove_from_cart", "purchase": "purchase"}


def _rees46_events(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    event = _text(frame, "event_type")
    return pd.DataFrame(
        dict(
            event_id=_content_ids("rees46", frame, list(REES46_COLUMNS)),
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


def _open_bandit_impressions(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    """Open Bandit Dataset rows (ZOZOTOWN): the item is the arm, the logged
    propensity_score is the logging policy's probability of it in that position, a click is
    the reward. User features (hashed categories) become the JSON context; OBD carries no
    user id. Positions are kept as written (1 = the first slot)."""
    user_cols = [c for c in frame.columns if str(c).startswith("user_feature_")]
    context = frame[user_cols].to_json(orient="records", lines=True).splitlines() if user_cols else None
    return pd.DataFrame(
        dict(
            impression_id=_content_ids("obd", frame, [c for c in frame.columns if c != ""]),
            shown_at=_iso_or_original(frame["timestamp"]),
            placement="open_bandit",
            position=frame["position"],
            item_id=frame["item_id"],
            arm=frame["item_id"],
            propensity=frame["propensity_score"],
            clicked=frame["click"],
            context=context,
        ),
        index=frame.index,
    )


def _advertisegen_copy(frame: pd.DataFrame, row_numbers: np.ndarray) -> pd.DataFrame:
    """AdvertiseGen (ADGEN) rows: `content` is the attribute list, `summary` the copy
    written from it, Chinese. The id is the row's content, so the same example delivered
    twice is one example."""
    return pd.DataFrame(
        dict(
            example_id=_content_ids("adgen", frame, ["content", "summary"]),
            language="zh",
            attributes=_text(frame, "content"),
            copy=_text(frame, "summary"),
            source="advertisegen",
        ),
        index=frame.index,
    )


ADVERTISEGEN = ColumnMapping(
    "advertisegen", "copy_examples", ("content", "summary"), _advertisegen_copy,
    description="AdvertiseGen JSONL: content (attributes as key#value joined by '*') and summary (the ad copy), Chinese",
)
OPEN_BANDIT = ColumnMapping(
    "open_bandit", "impressions", ("timestamp", "item_id", "position", "click", "propensity_score"),
    _open_bandit_impressions, optional_columns=tuple(f"user_feature_{i}" for i in range(4)),
    description="Open Bandit Dataset (ZOZOTOWN) logs: item as arm, propensity_score, click, user features as context",
)
UCI_ONLINE_RETAIL = ColumnMapping(
    "uci_online_retail", "events",
    ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"),
    _uci_events, user_id_columns=("CustomerID",), optional_columns=("Description", "Country"),
    description="UCI Online Retail invoice lines: purchases, cancellations (invoice 'C...') as refunds",
)
RETAILROCKET_EVENTS = ColumnMapping(
    "retailrocket_events", "events", ("timestamp", "visitorid", "event", "itemid"),
    _retailrocket_events, user_id_columns=("visitorid",), optional_columns=("transactionid",),
    description="RetailRocket events.csv: view / addtocart / transaction, epoch-millisecond timestamps",
)
REES46_EVENTS = ColumnMapping(
    "rees46_events", "events", ("event_time", "event_type", "product_id", "user_id"),
    _rees46_events, user_id_columns=("user_id",), optional_columns=REES46_COLUMNS[4:],
    description="REES46 multi-category store: view / cart / remove_from_cart / purchase",
)

FLIPKART_PRODUCTS = ColumnMapping(
    "flipkart_products", "products", ("pid", "product_name", "retail_price", "discounted_price"),
    _flipkart_products, optional_columns=("description", "product_category_tree", "brand"),
    description="Flipkart catalogue export: list and discounted prices (INR) -> price and discount %",
)

# Specific mappings first: a canonical file would not match them, but REES46 and the
# canonical events schema share column names, so the more specific one must win.
MAPPINGS: dict[str, ColumnMapping] = {
    m.name: m
    for m in (UCI_ONLINE_RETAIL, RETAILROCKET_EVENTS, REES46_EVENTS, FLIPKART_PRODUCTS, OPEN_BANDIT, ADVERTISEGEN,
              *(_canonical(e) for e in SCHEMAS))
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
    if not isinstance(spec, dict):
        raise MappingSpecError(f'must be a JSON object with a "columns" object, found a JSON {type(spec).__name__}')
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingSpecError('needs a "columns" object mapping source column names to canonical ones')
    if not all(isinstance(v, str) for v in columns.values()):
        raise MappingSpecError('"columns" values must be canonical field names (strings)')
    twice = sorted({v for v in columns.values() if list(columns.values()).count(v) > 1})
    if twice:
        sources = {v: [k for k, t in columns.items() if t == v] for v in twice}
        raise MappingSpecError("each canonical field can come from one column only; "
                               + "; ".join(f"{v} <- {', '.join(ks)}" for v, ks in sources.items()))
    unknown = sorted(set(columns.values()) - set(schema.columns))
    if unknown:
        raise MappingSpecError(f"unknown canonical field(s) {unknown} for {entity}; known: {', '.join(schema.columns)}")
    missing = [f.name for f in schema.fields if f.required and f.name not in columns.values()]
    if missing:
        raise MappingSpecError(f"required canonical field(s) {missing} are not mapped from any column")
    recode = spec.get("values", {})
    if not isinstance(recode, dict) or set(recode) - set(columns.values()) \
            or not all(isinstance(codes, dict) for codes in recode.values()):
        raise MappingSpecError('"values" must recode mapped canonical fields only, each with an object of old -> new values')

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
