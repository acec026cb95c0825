"""Contribution bounding in SQL: each user keeps at most `bound` rows of a release.

The rows kept are chosen by a hash of the row's own columns, not by time, so that a
user's earliest (or latest) rows are not systematically the ones counted, and so that the
same data gives the same rows (DuckDB rejects `ORDER BY random()` inside a window, and a
release should be reproducible from the warehouse)."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def bounded_rows_sql(relation_sql: str, user_column: str, bound: int, order_columns: list[str]) -> str:
    """SQL of `relation_sql` with each `user_column` value's rows cut to `bound`, keeping
    the ones with the lowest hash of `order_columns` (ties by those columns)."""
    if int(bound) < 1:
        raise ValueError(f"the contribution bound must be at least 1, got {bound}")
    for name in [user_column, *order_columns]:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain column name: {name!r}")
    if not order_columns:
        raise ValueError("name the columns that order a user's rows (a deterministic choice)")
    keys = ", ".join(order_columns)
    return (f"SELECT * EXCLUDE (_contribution_rank) FROM (SELECT *, row_number() OVER (PARTITION BY {user_column} "
            f"ORDER BY hash({keys}), {keys}) AS _contribution_rank FROM ({relation_sql})) "
            f"WHERE _contribution_rank <= {int(bound)}")
