"""Small helpers that turn frames into readable Dagster metadata."""

from __future__ import annotations

import pandas as pd
from dagster import MetadataValue


def preview(frame: pd.DataFrame, rows: int = 5, max_chars: int = 60) -> MetadataValue:
    head = frame.head(rows).copy()
    for col in head.columns:
        if head[col].dtype == object:
            head[col] = head[col].astype(str).str.slice(0, max_chars)
    return MetadataValue.md(head.to_markdown(index=False) if len(head) else "_(no rows)_")


def counts_table(counts: pd.Series, key: str, value: str = "rows") -> MetadataValue:
    if counts.empty:
        return MetadataValue.md("_(none)_")
    return MetadataValue.md(counts.rename_axis(key).reset_index(name=value).to_markdown(index=False))

