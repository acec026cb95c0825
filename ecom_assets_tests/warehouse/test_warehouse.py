"""Atomic loads and the accounting query."""

import pandas as pd
import pytest

from ecom_assets.schema import SCHEMAS
from ecom_assets.validation import validate
from ecom_assets.warehouse import Load, accounting_mismatches, connect, drop_partitions, write_loads


def _load(load_id, n, start=0, bad=0):
    frame = pd.DataFrame(dict(item_id=[f"P{i}" for i in range(start, start + n)], price=[1.0] * n))
    frame.loc[: bad - 1, "price"] = -1.0 if bad else 1.0
    result = validate(frame, SCHEMAS["products"])
    return Load(load_id, "raw.products", SCHEMAS["products"], "test", result.accepted, result.quarantine, result.rows_read)


def test_reloading_a_load_replaces_it_and_leaves_others(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        write_loads(con, [_load("day1", 5), _load("day2", 3, start=10)])
        write_loads(con, [_load("day1", 2, bad=1)])
        assert con.execute("SELECT count(*) FROM raw.products").fetchone()[0] == 1 + 3
        assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM raw.ingest_ledger").fetchone()[0] == 2
        assert accounting_mismatches(con, "raw.products").empty


def test_dropping_partitions_removes_their_loads_and_keeps_the_accounting_balanced(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        loads = [_load("day1", 5, bad=1), _load("day2", 3, start=10, bad=1), _load("day3", 2, start=20)]
        for load, day in zip(loads, ["2026-10-01", "2026-10-02", "2026-10-03"]):
            load.partition_key = day
        write_loads(con, loads)
        assert drop_partitions(con, "raw.products", ["2026-10-02", "2026-10-03", "2026-12-31"]) == 2 + 2
        assert con.execute("SELECT load_id FROM raw.ingest_ledger").fetchall() == [("day1",)]
        assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 1
        assert accounting_mismatches(con, "raw.products").empty
        assert drop_partitions(con, "raw.nothing_here", ["2026-10-01"]) == 0


def test_a_failing_load_leaves_the_last_good_data(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        write_loads(con, [_load("day1", 5)])
        broken = _load("day1", 2)
        broken.accepted["price"] = ["not", "numbers"]  # fails on insert, after the delete ran
        with pytest.raises(Exception):
            write_loads(con, [broken])
        assert con.execute("SELECT count(*) FROM raw.products").fetchone()[0] == 5
        assert con.execute("SELECT rows_read FROM raw.ingest_ledger").fetchall() == [(5,)]


def test_accounting_flags_a_ledger_that_does_not_match_the_rows(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        write_loads(con, [_load("day1", 4, bad=1)])
        con.execute("DELETE FROM raw.products WHERE item_id = 'P3'")
        bad = accounting_mismatches(con, "raw.products")
        assert bad["load_id"].tolist() == ["day1"] and bad["rows_stored"][0] == 2


def test_a_locked_warehouse_is_waited_for_then_reported(tmp_path):
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time, sys
        con = duckdb.connect({str(path)!r}); print("locked", flush=True); time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        from ecom_assets.warehouse import WarehouseLockTimeout
        with pytest.raises(WarehouseLockTimeout, match="stayed locked"):
            with connect(path, lock_timeout_s=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    with connect(path, lock_timeout_s=5) as con:  # free again once the holder is gone
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_the_demo_window_reset_drops_days_outside_it_and_the_replayed_week(tmp_path):
    from ecom_assets.demo import _reset_demo_window
    from ecom_assets.resources import WarehouseResource

    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    days = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"]
    with warehouse.connect() as con:
        loads = [_load(f"synthetic:events:{d}", 2, start=10 * i) for i, d in enumerate(days)]
        for load, day in zip(loads, days):
            load.partition_key = day
        write_loads(con, loads)
    _reset_demo_window(warehouse, window=days[:3], replay=days[2:3], table="raw.products")  # day 4 from an older, longer demo
    with warehouse.connect(read_only=True) as con:
        kept = con.execute("SELECT partition_key FROM raw.ingest_ledger ORDER BY 1").fetchall()
        assert [k for (k,) in kept] == days[:2]
        assert accounting_mismatches(con, "raw.products").empty
