"""Where validated raw loads land: the one interface every raw-table write goes through.

The ingest assets (snapshots, daily events, the inbox, retraction) and the copy loop's
impression log build `Load`s (validated, pseudonymised rows plus their quarantine and
ledger entry) and hand them to a `RawStore`; they never write raw tables themselves. The
contract, whatever stores the tables:

- `write_loads` is all or nothing across every load it is given (one transaction, or one
  table-format commit): a failure leaves the last good raw tables and ledger in place;
- a load id written again replaces its earlier rows (a re-materialised partition), and the
  loads it `supersedes` go in the same commit;
- the ledger (raw.ingest_ledger) and quarantine (raw.quarantine) change with the rows they
  account for, so accepted + quarantined = read holds after every commit;
- retraction and partition drops remove rows, quarantine and ledger entries together.

`DuckDBRawStore` is today's implementation (one DuckDB file, `ecom_assets.warehouse`).
For a distributed warehouse the same contract maps onto object storage and an open table
format (docs/scale.md, "Raw tables on object storage"): each raw table an Iceberg table
partitioned by load id, `write_loads` one Iceberg commit (new Parquet files for the loads,
position deletes for the rows they replace), the ledger and quarantine Iceberg tables in
that same multi-table commit (or written last, after the data, with the ledger as the
commit marker readers join on), and Trino, the dbt `trino` target, reading them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from ecom_assets.schema import EntitySchema
from ecom_assets.warehouse import (
    Load,
    connect,
    drop_partitions,
    ensure_raw_table,
    record_refusals,
    retract_loads,
    write_loads,
)


@runtime_checkable
class RawStore(Protocol):
    """The raw tables, their ledger, quarantine, refusals and retractions."""

    def ensure_tables(self, tables: dict[str, EntitySchema]) -> None:
        """Create the raw tables (and ledger, quarantine) that do not exist yet, empty, so
        that dbt's sources resolve before the first file arrives."""

    def write_loads(self, loads: list[Load], replace_table: bool = False) -> None:
        """Write the loads in one commit. replace_table=True: they replace everything in
        their tables (a full snapshot)."""

    def record_refusals(self, refusals: list[dict], run_id: str | None = None) -> None:
        """Files that could not be ingested at all, with why (names, never data)."""

    def retract_loads(self, load_ids: list[str], reason: str, run_id: str | None = None) -> pd.DataFrame:
        """Remove whole loads everywhere in one commit and record each retraction."""

    def drop_partitions(self, table: str, partition_keys: list[str]) -> int:
        """Remove the loads of these partitions (rows, quarantine, ledger); rows removed."""


class DuckDBRawStore:
    """The raw tables in one DuckDB file, each call on a short-lived connection of its own
    (dbt, another process, may need the write lock between calls)."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 120.0):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    def _connect(self):
        return connect(self.path, lock_timeout_s=self.lock_timeout_s)

    def ensure_tables(self, tables: dict[str, EntitySchema]) -> None:
        with self._connect() as con:
            for table, schema in tables.items():
                ensure_raw_table(con, table, schema)

    def write_loads(self, loads: list[Load], replace_table: bool = False) -> None:
        with self._connect() as con:
            write_loads(con, loads, replace_table=replace_table)

    def record_refusals(self, refusals: list[dict], run_id: str | None = None) -> None:
        with self._connect() as con:
            record_refusals(con, refusals, run_id)

    def retract_loads(self, load_ids: list[str], reason: str, run_id: str | None = None) -> pd.DataFrame:
        with self._connect() as con:
            return retract_loads(con, load_ids, reason, run_id)

    def drop_partitions(self, table: str, partition_keys: list[str]) -> int:
        with self._connect() as con:
            return drop_partitions(con, table, partition_keys)
