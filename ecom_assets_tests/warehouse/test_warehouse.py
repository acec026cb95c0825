"""Atomic loads and the accounting query."""

import pandas as pd
import pytest

from ecom_assets.schema import SCHEMAS
from ecom_assets.validation import validate
from ecom_assets.warehouse import (
    Load,
    PseudonymKeyMismatch,
    UnknownLoad,
    accounting_mismatches,
    append_rows,
    connect,
    drop_partitions,
    replace_table,
    retract_loads,
    retracted_hashes,
    write_loads,
)


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


def _events(load_id, ids, fingerprint="k1"):
    frame = pd.DataFrame(dict(event_id=ids, event_time="2026-10-05 10:00:00", user_id="u_" + "0" * 24,
                              event_type="view", item_id="i1"))
    result = validate(frame, SCHEMAS["events"])
    return Load(load_id, "raw.inbox_events", SCHEMAS["events"], "test", result.accepted, result.quarantine,
                result.rows_read, source_file=f"events/{load_id}.csv", key_fingerprint=fingerprint)


def test_an_event_another_load_stored_is_quarantined_not_inserted_twice(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        write_loads(con, [_events("a", ["e1", "e2"])])
        write_loads(con, [_events("b", ["e2", "e3"])])
        assert sorted(r[0] for r in con.execute("SELECT event_id FROM raw.inbox_events").fetchall()) == ["e1", "e2", "e3"]
        reason = con.execute("SELECT reason FROM raw.quarantine WHERE load_id = 'b'").fetchone()[0]
        assert reason == "event_id: already loaded by another load (a)"
        assert accounting_mismatches(con, "raw.inbox_events").empty
        write_loads(con, [_events("a", ["e1", "e2"])])  # the same load again replaces itself, no self-duplicates
        assert con.execute("SELECT count(*) FROM raw.inbox_events").fetchone()[0] == 3


def test_a_superseding_load_replaces_the_earlier_one_in_the_same_transaction(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        write_loads(con, [_events("v1", ["e1", "e2"])])
        newer = _events("v2", ["e1", "e2", "e3"])
        newer.supersedes = ("v1",)
        write_loads(con, [newer])
        assert con.execute("SELECT load_id, rows_accepted FROM raw.ingest_ledger").fetchall() == [("v2", 3)]
        assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0, "not duplicates of the old version"


def test_a_changed_pseudonym_key_is_refused_and_changes_nothing(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        write_loads(con, [_events("a", ["e1"], fingerprint="k1")])
        with pytest.raises(PseudonymKeyMismatch, match="split every returning user's history"):
            write_loads(con, [_events("b", ["e2"], fingerprint="k2")])
        assert con.execute("SELECT load_id FROM raw.ingest_ledger").fetchall() == [("a",)]


def test_retracting_a_load_removes_it_everywhere_and_remembers_its_content(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        a, b = _events("a", ["e1", "e2"]), _events("b", ["e3"])
        a.sha256 = "f" * 64
        a.quarantine = pd.DataFrame([dict(row_number=9, field="event_type", reason="unknown", raw_record=None)])
        a.rows_read += 1
        write_loads(con, [a, b])
        out = retract_loads(con, ["a"], reason="customer asked", run_id="r1")
        assert out[["load_id", "rows_removed"]].values.tolist() == [["a", 2]]
        assert con.execute("SELECT event_id FROM raw.inbox_events").fetchall() == [("e3",)]
        assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0
        assert con.execute("SELECT load_id FROM raw.ingest_ledger").fetchall() == [("b",)]
        assert retracted_hashes(con) == {"f" * 64}
        with pytest.raises(UnknownLoad):
            retract_loads(con, ["no-such-load"], reason="x")


@pytest.mark.parametrize("position", [1, 2, 2999])
def test_a_list_column_empty_on_the_sampled_rows_still_writes(position):
    # DuckDB samples 1,000 rows at a stride to type an object column; with one non-empty
    # list off that stride the column was typed NULL[] and the write failed (it did in CI,
    # on serving.ad_copy's reasons, where one candidate in a hundred is rejected).
    import duckdb

    frame = pd.DataFrame({"reasons": [[] for _ in range(3000)]})
    frame.at[position, "reasons"] = ["duplicate: the same text"]
    con = duckdb.connect()
    replace_table(con, "serving.example", frame)
    append_rows(con, "serving.example", "CREATE TABLE IF NOT EXISTS serving.example (reasons VARCHAR[])", frame)
    assert con.execute("SELECT typeof(reasons) FROM serving.example LIMIT 1").fetchone() == ("VARCHAR[]",)
    assert con.execute("SELECT count(*) FROM serving.example WHERE len(reasons) > 0").fetchone() == (2,)
