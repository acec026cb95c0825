"""The canonical raw schema every source is mapped onto, with the rules rows must pass.

One `Field` per column: its DuckDB type, whether it is required, and its allowed range or
values. `validation.py` enforces these; the raw DDL is generated from them, so the
tables and the checks cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "refund")
LANGUAGES = ("en", "zh")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
ENTITIES = ("events", "products", "users", "support_tickets", "faq", "impressions", "copy_examples")
# Before this, no shop in any dataset we read logged events; 1970-01-01 (epoch zero) is a
# broken clock, not a customer.
PLAUSIBLE_SINCE = "1995-01-01"


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str  # DuckDB type: VARCHAR, DOUBLE, BIGINT, TIMESTAMP, DATE, BOOLEAN
    required: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    min_exclusive: bool = False  # the range is (min, max] instead of [min, max]
    pattern: str | None = None
    """A regular expression the whole text value must match (what the value's format is)."""
    pattern_hint: str = ""
    plausible_time: bool = False
    """A moment that has happened: not before PLAUSIBLE_SINCE, not after tomorrow (a clock
    at 1970 or 2099 would otherwise move the train/test cutoff)."""


@dataclass(frozen=True)
class EntitySchema:
    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # unique within a load; duplicates are quarantined
    user_id_field: str | None = "user_id"  # pseudonymised at the door
    unique_across_loads: bool = False
    """Events are facts: one delivered again by another load is a duplicate (quarantined).
    Products, users and tickets are states: a later load's row is the newer version (the
    staging models keep the newest by load time)."""

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def ddl_columns(self) -> str:
        cols = [f"{f.name} {f.dtype}" for f in self.fields]
        cols += ["_load_id VARCHAR NOT NULL", "_source_row BIGINT NOT NULL", "_loaded_at TIMESTAMP"]
        return ", ".join(cols)


SCHEMAS: dict[str, EntitySchema] = {
    "events": EntitySchema(
        "events",
        (
            Field("event_id", "VARCHAR", required=True),
            Field("event_time", "TIMESTAMP", required=True, plausible_time=True),
            Field("user_id", "VARCHAR", required=True),
            Field("session_id", "VARCHAR"),
            Field("event_type", "VARCHAR", required=True, allowed=EVENT_TYPES),
            Field("item_id", "VARCHAR", required=True),
            Field("price", "DOUBLE", min=0.0, max=1_000_000.0),
            Field("quantity", "BIGINT", min=1, max=10_000),
            Field("dwell_seconds", "DOUBLE", min=0.0, max=86_400.0),
            Field("device", "VARCHAR"),
        ),
        key=("event_id",),
        unique_across_loads=True,
    ),
    "products": EntitySchema(
        "products",
        (
            Field("item_id", "VARCHAR", required=True),
            Field("title_en", "VARCHAR"),
            Field("title_zh", "VARCHAR"),
            Field("description_en", "VARCHAR"),
            Field("description_zh", "VARCHAR"),
            Field("category_l1", "VARCHAR"),
            Field("category_l2", "VARCHAR"),
            Field("brand", "VARCHAR"),
            # Optional: public interaction datasets carry no prices; ad copy checks prices where it uses them.
            Field("price", "DOUBLE", min=0.0, max=1_000_000.0),
            Field("discount_pct", "DOUBLE", min=0.0, max=95.0),
            Field("currency", "VARCHAR"),
            Field("stock_qty", "BIGINT", min=0, max=10_000_000),
            Field("is_active", "BOOLEAN"),
            Field("rating", "DOUBLE", min=0.0, max=5.0),
            Field("launch_date", "DATE"),
        ),
        key=("item_id",),
        user_id_field=None,
    ),
    "users": EntitySchema(
        "users",
        (
            Field("user_id", "VARCHAR", required=True),
            Field("signup_date", "DATE"),
            Field("country", "VARCHAR"),
            Field("city", "VARCHAR"),
            Field("age_band", "VARCHAR", allowed=AGE_BANDS),
            Field("preferred_language", "VARCHAR", allowed=LANGUAGES),
            Field("segment", "VARCHAR"),
        ),
        key=("user_id",),
    ),
    "support_tickets": EntitySchema(
        "support_tickets",
        (
            Field("ticket_id", "VARCHAR", required=True),
            Field("user_id", "VARCHAR"),
            Field("created_at", "TIMESTAMP", required=True, plausible_time=True),
            Field("language", "VARCHAR", required=True, allowed=LANGUAGES),
            Field("channel", "VARCHAR"),
            Field("question", "VARCHAR", required=True),
            Field("answer", "VARCHAR"),
            Field("intent", "VARCHAR"),
            Field("item_id", "VARCHAR"),
        ),
        key=("ticket_id",),
    ),
    # The merchant's knowledge base: one canonical answer per id and language (the
    # customer-service replies retrieve from these and from agents' resolved tickets).
    "faq": EntitySchema(
        "faq",
        (
            Field("answer_id", "VARCHAR", required=True),
            Field("language", "VARCHAR", required=True, allowed=LANGUAGES),
            Field("question", "VARCHAR", required=True),  # how the question is usually put
            Field("answer", "VARCHAR", required=True),
            Field("category", "VARCHAR"),
            Field("updated_at", "TIMESTAMP", plausible_time=True),
        ),
        key=("answer_id", "language"),
        user_id_field=None,
    ),
    # What was shown to whom, where, chosen how likely: the exposure log that off-policy
    # evaluation and A/B read-outs are computed from.
    "impressions": EntitySchema(
        "impressions",
        (
            Field("impression_id", "VARCHAR", required=True),
            Field("user_id", "VARCHAR"),
            Field("shown_at", "TIMESTAMP", required=True, plausible_time=True),
            Field("placement", "VARCHAR"),
            Field("position", "BIGINT", min=1, max=1_000),  # 1 = the first slot
            Field("item_id", "VARCHAR", required=True),
            Field("arm", "VARCHAR", required=True),  # the copy variant or list shown
            Field("policy_version", "VARCHAR"),
            # The probability with which the logging policy chose this arm: without it (or with
            # 0, which cannot have been chosen) no estimator can weight the row.
            Field("propensity", "DOUBLE", required=True, min=0.0, max=1.0, min_exclusive=True),
            Field("clicked", "BOOLEAN"),
            Field("purchased", "BOOLEAN"),
            Field("revenue", "DOUBLE", min=0.0, max=1_000_000.0),
            Field("context", "VARCHAR"),  # JSON of the context features the policy saw
        ),
        key=("impression_id",),
        unique_across_loads=True,
    ),
    # Ad copy written from attribute lists (AdvertiseGen's format, or a merchant's own
    # copywriters'): what the copy generator learns real copy from, beside the shop's corpus.
    "copy_examples": EntitySchema(
        "copy_examples",
        (
            Field("example_id", "VARCHAR", required=True),
            Field("language", "VARCHAR", required=True, allowed=LANGUAGES),
            # key#value pairs joined by '*': 类型#上衣*颜色#白色
            Field("attributes", "VARCHAR", required=True, pattern=r"[^#*]+#[^#*]+(\*[^#*]+#[^#*]+)*",
                  pattern_hint="key#value pairs joined by '*', e.g. 类型#上衣*颜色#白色"),
            Field("copy", "VARCHAR", required=True),
            Field("item_id", "VARCHAR"),
            Field("source", "VARCHAR"),
        ),
        key=("example_id",),
        user_id_field=None,
    ),
}

# Text columns that may carry personal data typed by a customer or an agent: scrubbed at
# the door (`ml.common.pii`). Ids are not in the list (they are pseudonymised or item ids),
# nor is the catalogue (the merchant's own text, where model numbers look like phones).
FREE_TEXT_FIELDS = {
    "events": ("device",),
    "users": ("country", "city", "segment"),
    "support_tickets": ("question", "answer", "channel", "intent"),
    "copy_examples": ("copy",),  # copywriters' text: scrubbed like any text a person typed
}
