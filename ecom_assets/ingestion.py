"""From a source frame to a `Load`: privacy first, then mapping, then validation.

Order matters: user identifiers are pseudonymised and personal columns dropped *before*
anything else touches the rows, so that not even a quarantined raw record carries them;
and a quarantined record keeps only the columns its mapping reads, scrubbed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecom_assets.privacy import drop_pii_columns, key_fingerprint, pseudonymise, scrub_text
from ecom_assets.schema import SCHEMAS
from ecom_assets.sources.mappings import ColumnMapping
from ecom_assets.validation import validate
from ecom_assets.warehouse import Load


def make_private(frame: pd.DataFrame, mapping: ColumnMapping, key: bytes) -> tuple[pd.DataFrame, list[str]]:
    """Drop personal columns, pseudonymise user-id columns, scrub free text."""
    safe, dropped = drop_pii_columns(frame, keep=mapping.user_id_columns)
    safe = safe.copy() if not dropped else safe
    for col in mapping.user_id_columns:
        if col in safe.columns:
            safe[col] = pseudonymise(safe[col], key)
    for col in mapping.text_columns:
        if col in safe.columns:
            safe[col] = scrub_text(safe[col])
    return safe, dropped


def build_load(
    frame: pd.DataFrame,
    *,
    mapping: ColumnMapping,
    key: bytes,
    table: str,
    load_id: str,
    source: str,
    row_numbers: np.ndarray | None = None,
    unparsed: pd.DataFrame | None = None,
    source_file: str | None = None,
    sha256: str | None = None,
    partition_key: str | None = None,
    run_id: str | None = None,
    supersedes: tuple[str, ...] = (),
) -> Load:
    schema = SCHEMAS[mapping.entity]
    frame = frame.reset_index(drop=True)
    if row_numbers is None:
        row_numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    safe, _ = make_private(frame, mapping, key)
    canonical = mapping.transform(safe, np.asarray(row_numbers))
    # The allow-list: a quarantine row keeps only the columns the mapping reads (user ids
    # already pseudonymised, every value scrubbed by `validate`), never a file's other columns.
    kept = [c for c in mapping.source_columns if c in safe.columns]
    result = validate(canonical, schema, row_numbers=row_numbers, raw_records=safe[kept])
    quarantine = result.quarantine
    if unparsed is not None and len(unparsed):
        quarantine = pd.concat([unparsed, quarantine], ignore_index=True).sort_values("row_number", kind="stable")
    return Load(
        load_id=load_id, table=table, schema=schema, source=source,
        accepted=result.accepted, quarantine=quarantine.reset_index(drop=True),
        rows_read=result.rows_read + (0 if unparsed is None else len(unparsed)),
        source_file=source_file, sha256=sha256, partition_key=partition_key,
        mapping=mapping.name, run_id=run_id, supersedes=tuple(supersedes),
        key_fingerprint=key_fingerprint(key) if schema.user_id_field else None,
    )
