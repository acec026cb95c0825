"""The DuckDB warehouse: short-lived connections, atomic loads and table replacement.
(The model registry, a table too, is in `registry.py` beside this.)

DuckDB allows one writing process per file, and dbt runs as its own process, so no
connection outlives the block that needs it, and opening one waits (bounded) for a lock
held by another process instead of failing at once.

A load is one transaction: delete what it replaces, insert the accepted rows, the
quarantined rows and the ledger entry, commit. A failure anywhere rolls all of it back,
leaving the last good data in place.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from ecom_assets.schema import EntitySchema

QUARANTINE_TABLE = "raw.quarantine"
LEDGER_TABLE = "raw.ingest_ledger"

_QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    load_id VARCHAR NOT NULL, target_table VARCHAR NOT NULL, source VARCHAR NOT NULL,
    source_file VARCHAR, row_number BIGINT NOT NULL, field VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, raw_record VARCHAR, quarantined_at TIMESTAMP NOT NULL)
"""
_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    load_id VARCHAR NOT NULL, target_table VARCHAR NOT NULL, source VARCHAR NOT NULL,
    source_file VARCHAR, sha256 VARCHAR, partition_key VARCHAR, mapping VARCHAR,
    rows_read BIGINT NOT NULL, rows_accepted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL, run_id VARCHAR)
"""


class WarehouseLockTimeout(RuntimeError):
    pass


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("could not set" in text or "conflicting" in text)


@contextmanager
def connect(path: str | Path, read_only: bool = False, lock_timeout_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"{path} stayed locked by another process for {lock_timeout_s:.0f}s "
                    "(a dbt run or another materialisation); retry when it finishes"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any failure (the previous data stays in place)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def replace_table(con: duckdb.DuckDBPyConnection, qualified: str, frame: pd.DataFrame, select: str = "*",
                  order_by: str | None = None) -> int:
    """Create or replace `qualified` (schema.table) with `frame`, in one transaction: a
    failure leaves the last good table in place. `select` may cast columns (e.g.
    "item_id, embedding::FLOAT[384] AS embedding"). Returns the rows written."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified.split('.')[0]}")
    con.register("_replacement", frame)
    try:
        with transaction(con):
            order = f" ORDER BY {order_by}" if order_by else ""
            con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT {select} FROM _replacement{order}")
    finally:
        con.unregister("_replacement")
    return len(frame)


def append_rows(con: duckdb.DuckDBPyConnection, qualified: str, ddl: str, frame: pd.DataFrame, select: str = "*") -> None:
    """Append `frame` to a history table, creating it (and its schema) with `ddl` first."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified.split('.')[0]}")
    con.execute(ddl)
    con.register("_rows", frame)
    try:
        con.execute(f"INSERT INTO {qualified} SELECT {select} FROM _rows")
    finally:
        con.unregister("_rows")


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str, schema: EntitySchema) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({schema.ddl_columns()})")
    con.execute(_QUARANTINE_DDL)
    con.execute(_LEDGER_DDL)


@dataclass
class Load:
    """One batch bound for one raw table: a file, a partition or a full snapshot."""

    load_id: str
    table: str
    schema: EntitySchema
    source: str
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    source_file: str | None = None
    sha256: str | None = None
    partition_key: str | None = None
    mapping: str | None = None
    run_id: str | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))

    @property
    def ledger_row(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                dict(
                    load_id=self.load_id, target_table=self.table, source=self.source,
                    source_file=self.source_file, sha256=self.sha256, partition_key=self.partition_key,
                    mapping=self.mapping, rows_read=self.rows_read, rows_accepted=len(self.accepted),
                    rows_quarantined=len(self.quarantine), loaded_at=self.loaded_at, run_id=self.run_id,
                )
            ]
        )


def write_loads(con: duckdb.DuckDBPyConnection, loads: list[Load], replace_table: bool = False) -> None:
    """Write several loads in ONE transaction (all or nothing).

    replace_table=False: each load replaces earlier rows with the same load_id (a
    re-materialised partition) and leaves other loads alone.
    replace_table=True: the loads replace everything in their tables (a full snapshot).
    """
    with transaction(con):
        for load in loads:
            ensure_raw_table(con, load.table, load.schema)
        if replace_table:
            for table in sorted({ld.table for ld in loads}):
                con.execute(f"DELETE FROM {table}")
                con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE target_table = ?", [table])
                con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE target_table = ?", [table])
        for load in loads:
            if not replace_table:
                con.execute(f"DELETE FROM {load.table} WHERE _load_id = ?", [load.load_id])
                con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE load_id = ?", [load.load_id])
                con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE load_id = ?", [load.load_id])
            accepted = load.accepted.assign(_load_id=load.load_id)
            con.register("_accepted", accepted)
            con.execute(f"INSERT INTO {load.table} BY NAME SELECT * FROM _accepted")
            con.unregister("_accepted")
            if len(load.quarantine):
                q = load.quarantine.assign(
                    load_id=load.load_id, target_table=load.table, source=load.source,
                    source_file=load.source_file, quarantined_at=load.loaded_at,
                )
                con.register("_quarantine", q)
                con.execute(f"INSERT INTO {QUARANTINE_TABLE} BY NAME SELECT * FROM _quarantine")
                con.unregister("_quarantine")
            con.register("_ledger", load.ledger_row)
            con.execute(f"INSERT INTO {LEDGER_TABLE} BY NAME SELECT * FROM _ledger")
            con.unregister("_ledger")


def drop_partitions(con: duckdb.DuckDBPyConnection, table: str, partition_keys: list[str]) -> int:
    """Remove the loads of `table` for these partitions (rows, quarantined rows, ledger
    entries) in one transaction, so the accounting still balances; returns rows removed."""
    keys = list(partition_keys)
    if not keys or not table_exists(con, table) or not table_exists(con, LEDGER_TABLE):
        return 0
    with transaction(con):
        loads = [r[0] for r in con.execute(f"SELECT load_id FROM {LEDGER_TABLE} WHERE target_table = ? AND partition_key IN "
                                           f"({', '.join('?' for _ in keys)})", [table, *keys]).fetchall()]
        removed = 0
        if loads:
            marks = ", ".join("?" for _ in loads)
            removed = con.execute(f"SELECT count(*) FROM {table} WHERE _load_id IN ({marks})", loads).fetchone()[0]
            con.execute(f"DELETE FROM {table} WHERE _load_id IN ({marks})", loads)
            con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE load_id IN ({marks})", loads)
            con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE load_id IN ({marks})", loads)
    return int(removed)


def accounting_mismatches(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """Ledger entries of `table` whose counts do not balance: read != accepted + quarantined,
    or whose recorded counts differ from the rows actually stored."""
    return con.execute(
        f"""
        WITH stored AS (SELECT _load_id AS load_id, count(*) AS n FROM {table} GROUP BY 1),
             quarantined AS (SELECT load_id, count(*) AS n FROM {QUARANTINE_TABLE}
                             WHERE target_table = ? GROUP BY 1)
        SELECT l.load_id, l.rows_read, l.rows_accepted, l.rows_quarantined,
               coalesce(s.n, 0) AS rows_stored, coalesce(q.n, 0) AS quarantine_stored
        FROM {LEDGER_TABLE} l
        LEFT JOIN stored s USING (load_id)
        LEFT JOIN quarantined q USING (load_id)
        WHERE l.target_table = ?
          AND (l.rows_read != l.rows_accepted + l.rows_quarantined
               OR l.rows_accepted != coalesce(s.n, 0)
               OR l.rows_quarantined != coalesce(q.n, 0))
        """,
        [table, table],
    ).df()


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )
