"""The raw store: the one door the ingest assets write raw tables through, and its contract
(all or nothing per call, the ledger and quarantine move with the rows) on DuckDB."""

import pytest

from ecom_assets.schema import SCHEMAS
from ecom_assets.warehouse import accounting_mismatches, connect
from ecom_assets.warehouse.raw_store import DuckDBRawStore, RawStore
from ecom_assets_tests.warehouse.test_warehouse import _load


def _count(path, sql):
    with connect(path, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_the_duckdb_store_keeps_the_raw_store_contract(tmp_path):
    path = tmp_path / "w.duckdb"
    store = DuckDBRawStore(path)
    assert isinstance(store, RawStore)
    store.ensure_tables({"raw.inbox_products": SCHEMAS["products"]})
    assert _count(path, "SELECT count(*) FROM raw.inbox_products") == 0

    loads = [_load("day1", 5, bad=1), _load("day2", 3, start=10)]
    for load, day in zip(loads, ["2026-10-01", "2026-10-02"]):
        load.partition_key = day
    store.write_loads(loads)
    assert _count(path, "SELECT count(*) FROM raw.products") == 4 + 3

    broken = _load("day3", 2, start=20)
    broken.accepted["price"] = ["not", "numbers"]
    with pytest.raises(Exception):  # the second load fails: the first of the same call is not kept either
        store.write_loads([_load("day4", 2, start=30), broken])
    assert _count(path, "SELECT count(*) FROM raw.products") == 7
    assert _count(path, "SELECT count(*) FROM raw.ingest_ledger") == 2

    store.write_loads([_load("snapshot", 2, start=40)], replace_table=True)
    assert _count(path, "SELECT count(*) FROM raw.products") == 2
    store.write_loads(loads)
    assert store.drop_partitions("raw.products", ["2026-10-02"]) == 3
    retracted = store.retract_loads(["day1"], "a test", run_id="r1")
    assert retracted["rows_removed"].tolist() == [4]
    assert _count(path, "SELECT count(*) FROM raw.quarantine") == 0
    store.record_refusals([{"file": "products/x.csv", "sha256": None, "reason": "cannot read"}], run_id="r1")
    assert _count(path, "SELECT count(*) FROM raw.inbox_refusals") == 1
    with connect(path, read_only=True) as con:
        assert accounting_mismatches(con, "raw.products").empty
