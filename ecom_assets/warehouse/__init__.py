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

import os
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
KEY_TABLE = "raw.pseudonym_key"
REFUSALS_TABLE = "raw.inbox_refusals"
RETRACTIONS_TABLE = "raw.retractions"
_RETRACTIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RETRACTIONS_TABLE} (
    load_id VARCHAR NOT NULL, target_table VARCHAR NOT NULL, source_file VARCHAR, sha256 VARCHAR, rows_removed BIGINT NOT NULL,
    reason VARCHAR NOT NULL, retracted_at TIMESTAMP NOT NULL, run_id VARCHAR)
"""
_REFUSALS_DDL = f"""
CREATE TABLE IF NOT EXISTS {REFUSALS_TABLE} (
    file VARCHAR NOT NULL, sha256 VARCHAR, reason VARCHAR NOT NULL, refused_at TIMESTAMP NOT NULL, run_id VARCHAR)
"""
_KEY_DDL = f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (fingerprint VARCHAR NOT NULL, first_used_at TIMESTAMP NOT NULL)"
PRIVACY_LEDGER_TABLE = "privacy.ledger"
_PRIVACY_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {PRIVACY_LEDGER_TABLE} (
    release_id VARCHAR NOT NULL, query VARCHAR NOT NULL, mechanism VARCHAR NOT NULL, epsilon DOUBLE NOT NULL,
    delta DOUBLE NOT NULL, noise_scale DOUBLE NOT NULL, contribution_bound BIGINT NOT NULL, sensitivity DOUBLE NOT NULL,
    cells BIGINT NOT NULL, period VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, run_id VARCHAR)
"""


class PseudonymKeyMismatch(RuntimeError):
    """The loads were pseudonymised with another key than the warehouse's rows."""

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
    # The same cap as dbt's (dbt/profiles.yml): DuckDB keeps written and read blocks cached up
    # to it, 80% of RAM by default, which a 1e7-event load would otherwise fill.
    limit = os.environ.get("ECOM_DUCKDB_MEMORY_LIMIT")
    config = {"memory_limit": limit} if limit else {}
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
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


def register_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """`con.register(name, frame)` with every row of the object columns read to infer
    their types. DuckDB otherwise samples 1,000 rows at a stride: a column of lists that
    are empty on every sampled row is typed NULL[] and the first unsampled list with a
    value then fails the whole write ("Failed to cast value ... VARCHAR -> NULL")."""
    if any(pd.api.types.is_object_dtype(dtype) for dtype in frame.dtypes):
        con.execute(f"SET pandas_analyze_sample = {max(len(frame), 1000)}")
    con.register(name, frame)


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
    register_frame(con, "_replacement", frame)
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
    register_frame(con, "_rows", frame)
    try:
        con.execute(f"INSERT INTO {qualified} SELECT {select} FROM _rows")
    finally:
        con.unregister("_rows")


def replace_rows(con: duckdb.DuckDBPyConnection, qualified: str, frame: pd.DataFrame, key: str,
                 drop_before=None) -> None:
    """Replace the rows of `qualified` whose `key` (a day, say) is one of `frame`'s, in one
    transaction (a partition materialised again replaces its rows; the table is created
    from the frame's columns the first time). `drop_before`: also delete rows whose key is
    older, to keep a bounded history."""
    with transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified.split('.')[0]}")
        register_frame(con, "_replacing_rows", frame)
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} AS SELECT * FROM _replacing_rows WHERE false")
        con.execute(f"DELETE FROM {qualified} WHERE {key} IN (SELECT DISTINCT {key} FROM _replacing_rows)"
                    + (f" OR {key} < ?" if drop_before is not None else ""),
                    [drop_before] if drop_before is not None else [])
        con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _replacing_rows")
        con.unregister("_replacing_rows")


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str, schema: EntitySchema) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({schema.ddl_columns()})")
    # Tables made before rows carried their load time: the staging models order deliveries by it.
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS _loaded_at TIMESTAMP")
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
    key_fingerprint: str | None = None
    """Fingerprint of the pseudonymisation key the load was made with (None: no user ids)."""
    supersedes: tuple[str, ...] = ()
    """Earlier load ids this one replaces (a file changed in place, another source kind):
    removed in the same transaction, before the duplicate check."""

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


def _check_key(con: duckdb.DuckDBPyConnection, loads: list[Load]) -> None:
    """One key per warehouse: the first load records its fingerprint, every later load
    must match it. A changed key would give every returning user a second pseudonym."""
    prints = {ld.key_fingerprint for ld in loads if ld.key_fingerprint}
    if not prints:
        return
    if len(prints) > 1:
        raise PseudonymKeyMismatch("loads made with different pseudonymisation keys in one write")
    con.execute(_KEY_DDL)
    stored = [r[0] for r in con.execute(f"SELECT fingerprint FROM {KEY_TABLE}").fetchall()]
    (new,) = prints
    if not stored:
        con.execute(f"INSERT INTO {KEY_TABLE} VALUES (?, ?)", [new, loads[0].loaded_at])
    elif new not in stored:
        raise PseudonymKeyMismatch(
            f"the pseudonymisation key (fingerprint {new}) is not the one this warehouse's user ids were made with "
            f"(fingerprint {stored[0]}): loading would split every returning user's history into two pseudonyms. "
            "Restore the original key ($ECOM_PSEUDONYM_KEY or the key file), or start a new warehouse and load "
            "every source again under the new key.")


def _move_cross_load_duplicates(con: duckdb.DuckDBPyConnection, load: Load) -> Load:
    """Rows whose key another load already stored are quarantined, not inserted twice:
    the duplicate check within a file (validation) extended to the whole table."""
    key = list(load.schema.key)
    if load.accepted.empty or not key or not load.schema.unique_across_loads:
        return load
    register_frame(con, "_keys", load.accepted[key].assign(_pos=range(len(load.accepted))))
    try:
        hits = con.execute(
            f"SELECT k._pos, any_value(t._load_id) AS other FROM _keys k JOIN {load.table} t USING ({', '.join(key)}) "
            "GROUP BY k._pos").df()
    finally:
        con.unregister("_keys")
    if hits.empty:
        return load
    moved = load.accepted.iloc[hits["_pos"].to_numpy()]
    others = load.accepted.columns.drop("_source_row")
    quarantine = pd.DataFrame({
        "row_number": moved["_source_row"].to_numpy(dtype="int64"),
        "field": "+".join(key),
        "reason": ["+".join(key) + f": already loaded by another load ({other})" for other in hits["other"]],
        "raw_record": moved[others].to_json(orient="records", lines=True, date_format="iso").splitlines(),
    })
    load.accepted = load.accepted.drop(index=moved.index).reset_index(drop=True)
    load.quarantine = pd.concat([load.quarantine, quarantine], ignore_index=True).sort_values("row_number", kind="stable")
    load.quarantine = load.quarantine.reset_index(drop=True)
    return load


def _delete_loads(con: duckdb.DuckDBPyConnection, table: str, load_ids: list[str]) -> int:
    if not load_ids:
        return 0
    marks = ", ".join("?" for _ in load_ids)
    removed = con.execute(f"SELECT count(*) FROM {table} WHERE _load_id IN ({marks})", load_ids).fetchone()[0]
    con.execute(f"DELETE FROM {table} WHERE _load_id IN ({marks})", load_ids)
    con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE load_id IN ({marks})", load_ids)
    con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE load_id IN ({marks})", load_ids)
    return int(removed)


def write_loads(con: duckdb.DuckDBPyConnection, loads: list[Load], replace_table: bool = False) -> None:
    """Write several loads in ONE transaction (all or nothing).

    replace_table=False: each load replaces earlier rows with the same load_id (a
    re-materialised partition) and the loads it `supersedes`, and leaves other loads
    alone; a row whose key another load stored is quarantined as a duplicate.
    replace_table=True: the loads replace everything in their tables (a full snapshot).
    The loads' key fingerprint must be the warehouse's (`_check_key`).
    """
    with transaction(con):
        for load in loads:
            ensure_raw_table(con, load.table, load.schema)
        _check_key(con, loads)
        if replace_table:
            for table in sorted({ld.table for ld in loads}):
                con.execute(f"DELETE FROM {table}")
                con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE target_table = ?", [table])
                con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE target_table = ?", [table])
        for load in loads:
            if not replace_table:
                _delete_loads(con, load.table, [load.load_id, *load.supersedes])
                _move_cross_load_duplicates(con, load)
            accepted = load.accepted.assign(_load_id=load.load_id, _loaded_at=load.loaded_at)
            register_frame(con, "_accepted", accepted)
            con.execute(f"INSERT INTO {load.table} BY NAME SELECT * FROM _accepted")
            con.unregister("_accepted")
            if len(load.quarantine):
                q = load.quarantine.assign(
                    load_id=load.load_id, target_table=load.table, source=load.source,
                    source_file=load.source_file, quarantined_at=load.loaded_at,
                )
                register_frame(con, "_quarantine", q)
                con.execute(f"INSERT INTO {QUARANTINE_TABLE} BY NAME SELECT * FROM _quarantine")
                con.unregister("_quarantine")
            register_frame(con, "_ledger", load.ledger_row)
            con.execute(f"INSERT INTO {LEDGER_TABLE} BY NAME SELECT * FROM _ledger")
            con.unregister("_ledger")


def record_refusals(con: duckdb.DuckDBPyConnection, refusals: list[dict], run_id: str | None = None) -> None:
    """Files that could not be ingested at all, with why (the message names the file, never
    its data); their content is not requested again until it changes."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(_REFUSALS_DDL)
    if not refusals:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.executemany(f"INSERT INTO {REFUSALS_TABLE} VALUES (?, ?, ?, ?, ?)",
                    [[r["file"], r.get("sha256"), r["reason"], now, run_id] for r in refusals])


def open_refusals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Refused files not loaded since (a fixed file loads under the same name and clears it)."""
    if not table_exists(con, REFUSALS_TABLE):
        return pd.DataFrame(columns=["file", "reason", "refused_at"])
    ledger = f"SELECT 1 FROM {LEDGER_TABLE} l WHERE l.source_file = r.file AND l.loaded_at >= r.refused_at" \
        if table_exists(con, LEDGER_TABLE) else "SELECT 1 WHERE false"
    return con.execute(f"""
        SELECT file, arg_max(reason, refused_at) AS reason, max(refused_at) AS refused_at FROM {REFUSALS_TABLE} r
        WHERE NOT EXISTS ({ledger}) GROUP BY file ORDER BY file""").df()


def known_file_hashes(path: str | Path, lock_timeout_s: float = 5.0) -> set[str]:
    """Content hashes already loaded or refused (for the inbox sensor: short lock wait)."""
    if not Path(path).exists():
        return set()
    with connect(path, read_only=True, lock_timeout_s=lock_timeout_s) as con:
        found: set[str] = set()
        for table in (LEDGER_TABLE, REFUSALS_TABLE, RETRACTIONS_TABLE):
            if table_exists(con, table):
                found |= {r[0] for r in con.execute(f"SELECT sha256 FROM {table} WHERE sha256 IS NOT NULL").fetchall()}
    return found


class UnknownLoad(ValueError):
    pass


def retract_loads(con: duckdb.DuckDBPyConnection, load_ids: list[str], reason: str, run_id: str | None = None) -> pd.DataFrame:
    """Remove whole loads (their rows, quarantined rows and ledger entries) from every raw
    table, in one transaction, and record each in raw.retractions: a retracted file's
    content is never ingested again while it stays in the inbox. What was derived from
    the loads is rebuilt by re-running the assets downstream (the `retract_load` job's
    follow-up run). Returns the retraction rows."""
    load_ids = list(dict.fromkeys(load_ids))
    found = con.execute(f"SELECT load_id, target_table, source_file, sha256 FROM {LEDGER_TABLE} WHERE load_id IN "
                        f"({', '.join('?' for _ in load_ids)})", load_ids).df() if load_ids and table_exists(con, LEDGER_TABLE) \
        else pd.DataFrame(columns=["load_id", "target_table", "source_file", "sha256"])
    unknown = sorted(set(load_ids) - set(found["load_id"]))
    if unknown:
        raise UnknownLoad(f"no load {unknown} in {LEDGER_TABLE}; see its load_id column (or source_file for a file)")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(con):
        con.execute(_RETRACTIONS_DDL)
        removed = [_delete_loads(con, row.target_table, [row.load_id]) for row in found.itertuples()]
        out = found.assign(rows_removed=removed, reason=reason, retracted_at=now, run_id=run_id)
        register_frame(con, "_retracted", out)
        con.execute(f"INSERT INTO {RETRACTIONS_TABLE} BY NAME SELECT * FROM _retracted")
        con.unregister("_retracted")
    return out


def retracted_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    if not table_exists(con, RETRACTIONS_TABLE):
        return set()
    return {r[0] for r in con.execute(f"SELECT sha256 FROM {RETRACTIONS_TABLE} WHERE sha256 IS NOT NULL").fetchall()}


def loads_of_file(con: duckdb.DuckDBPyConnection, source_file: str) -> list[str]:
    """Load ids of a file (as `<entity>/<name>`, the ledger's source_file)."""
    if not table_exists(con, LEDGER_TABLE):
        return []
    return [r[0] for r in con.execute(f"SELECT load_id FROM {LEDGER_TABLE} WHERE source_file = ?", [source_file]).fetchall()]


def drop_partitions(con: duckdb.DuckDBPyConnection, table: str, partition_keys: list[str]) -> int:
    """Remove the loads of `table` for these partitions (rows, quarantined rows, ledger
    entries) in one transaction, so the accounting still balances; returns rows removed."""
    keys = list(partition_keys)
    if not keys or not table_exists(con, table) or not table_exists(con, LEDGER_TABLE):
        return 0
    with transaction(con):
        loads = [r[0] for r in con.execute(f"SELECT load_id FROM {LEDGER_TABLE} WHERE target_table = ? AND partition_key IN "
                                           f"({', '.join('?' for _ in keys)})", [table, *keys]).fetchall()]
        removed = _delete_loads(con, table, loads)
    return removed


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


def privacy_ledger(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every differentially private release so far (empty before the first)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS privacy")
    con.execute(_PRIVACY_LEDGER_DDL)
    return con.execute(f"SELECT * FROM {PRIVACY_LEDGER_TABLE} ORDER BY created_at").df()


def release_table(con: duckdb.DuckDBPyConnection, qualified: str, frame: pd.DataFrame, ledger_rows) -> pd.DataFrame:
    """Replace `qualified` with a DP release and record it in the privacy ledger, in one
    transaction. `ledger_rows(ledger)` gets the ledger as it stands inside the transaction
    (no other writer can spend the budget meanwhile) and returns the rows to record, or
    raises (over budget): then nothing is written and the last release stays in place."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified.split('.')[0]}")
    privacy_ledger(con)
    register_frame(con, "_release", frame)
    try:
        with transaction(con):
            rows = _append_ledger_rows(con, ledger_rows)
            con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM _release")
    finally:
        con.unregister("_release")
    return rows


def _append_ledger_rows(con: duckdb.DuckDBPyConnection, ledger_rows) -> pd.DataFrame:
    """Inside the caller's transaction: `ledger_rows(ledger)` (which may raise: over budget)
    and its rows appended to the ledger."""
    rows = ledger_rows(con.execute(f"SELECT * FROM {PRIVACY_LEDGER_TABLE}").df())
    register_frame(con, "_ledger_rows", rows)
    try:
        con.execute(f"INSERT INTO {PRIVACY_LEDGER_TABLE} BY NAME SELECT * FROM _ledger_rows")
    finally:
        con.unregister("_ledger_rows")
    return rows


def record_releases(con: duckdb.DuckDBPyConnection, ledger_rows) -> pd.DataFrame:
    """Record DP releases that write no table of their own (a model fit on private counts)
    in the privacy ledger, in one transaction; `ledger_rows(ledger)` as for `release_table`
    (it raises when over budget, and then nothing is recorded)."""
    privacy_ledger(con)
    with transaction(con):
        return _append_ledger_rows(con, ledger_rows)
