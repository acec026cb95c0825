"""The door's invariants over the corpus of bad files (`bad_files.py`): every line of a
loaded file counted once (read = accepted + quarantined, as stored), a refused file
named with its reason and nothing of it stored, an unread file listed, and no planted
personal string anywhere in the warehouse, the event log or the model store."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from dagster._serdes import serialize_value

from ecom_assets.assets.ingest import inbox
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets.warehouse import accounting_mismatches
from ecom_assets_tests.conftest import make_resources
from ecom_assets_tests.sources.bad_files import CASES, Case

BATCH = [c for c in CASES if not c.extra_files]
OWN_INBOX = [c for c in CASES if c.extra_files]


def test_the_corpus_covers_the_door():
    assert len(CASES) >= 40
    assert {c.outcome for c in CASES} == {"loaded", "refused", "unread"}
    assert sum(bool(c.planted) for c in CASES) >= 12


def _drop(inbox_dir: Path, case: Case) -> None:
    for name, data in {case.name: case.data, **case.extra_files}.items():
        path = inbox_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _ingest(resources, cases: list[Case]):
    inbox_dir = resources["source"].resolved_inbox_dir
    for case in cases:
        _drop(inbox_dir, case)
    instance = DagsterInstance.ephemeral()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(inbox), resources=resources,
                         instance=instance)
    assert result.success, "bad files are refused or quarantined, never a failed run"
    return instance, result


def _warehouse_text(path: Path) -> str:
    """Every row of every table as text (the place personal data would be, compressed or not)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        return "\n".join(con.execute(f'SELECT * FROM "{s}"."{t}"').df().to_csv() for s, t in tables)
    finally:
        con.close()


def _assert_invariants(resources, instance, result, cases: list[Case]) -> None:
    path = resources["warehouse"].resolved_path
    con = duckdb.connect(str(path), read_only=True)
    try:
        ledger = con.execute("SELECT * FROM raw.ingest_ledger").df().set_index("source_file")
        refusals = con.execute("SELECT file, reason FROM raw.inbox_refusals").df()
        unbalanced = {t: accounting_mismatches(con, t) for t in ledger["target_table"].unique()}
    finally:
        con.close()
    assert all(frame.empty for frame in unbalanced.values()), unbalanced
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "every_inbox_file_read")
    listed = check.metadata["details"].value
    for case in cases:
        if case.outcome == "loaded":
            assert case.name in ledger.index, f"{case.name}: not loaded; refusals: {refusals.to_dict('records')}"
            row = ledger.loc[case.name]
            assert row["rows_read"] == case.rows, f"{case.name}: read {row['rows_read']}, the file has {case.rows}"
            assert row["rows_read"] == row["rows_accepted"] + row["rows_quarantined"]
            if case.accepted is not None:
                assert row["rows_accepted"] == case.accepted, f"{case.name}: accepted {row['rows_accepted']}"
        else:
            assert case.name not in ledger.index, f"{case.name}: should change nothing"
            if case.outcome == "refused":
                reasons = refusals.loc[refusals["file"] == case.name, "reason"]
                assert len(reasons) == 1 and reasons.iloc[0], f"{case.name}: no refusal recorded"
            else:
                assert case.name in listed, f"{case.name}: not listed as unread"
    planted = {p for c in cases for p in c.planted}
    if not planted:
        return
    stores = {"warehouse rows": _warehouse_text(path)}
    raw = path.read_bytes() + (path.with_suffix(path.suffix + ".wal").read_bytes()
                               if path.with_suffix(path.suffix + ".wal").exists() else b"")
    stores["warehouse file bytes"] = raw.decode("utf-8", errors="replace")
    stores["event log"] = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    models = resources["model_store"].resolved_root
    stores["model store"] = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in models.rglob("*") if p.is_file()) \
        if models.exists() else ""
    leaks = {(where, s) for where, text in stores.items() for s in planted if s in text}
    assert not leaks, leaks


def test_every_bad_file_in_one_inbox(tmp_path):
    resources = make_resources(tmp_path)
    instance, result = _ingest(resources, BATCH)
    _assert_invariants(resources, instance, result, BATCH)
    log = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    assert "was charged twice" not in log, "accepted free text never reaches the event log, scrubbed or not"


@pytest.mark.parametrize("case", OWN_INBOX, ids=[c.name for c in OWN_INBOX])
def test_files_beside_a_merchant_mapping(tmp_path, case):
    resources = make_resources(tmp_path)
    instance, result = _ingest(resources, [case])
    _assert_invariants(resources, instance, result, [case])
