"""A run killed with `kill -9` mid-stage: the next run completes, and the warehouse keeps
the last good tables (the killed write was one uncommitted transaction)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from ecom_assets_tests.conftest import query

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(n_days=3, n_users=80, n_items=40, events_per_day=300)

# Run in a child process: the events stage, whose warehouse write hangs inside its
# transaction (rows of the day already deleted, nothing committed) after writing a marker.
HANGING_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dagster import DagsterInstance
    from ecom_assets.warehouse import connect
    from ecom_assets.warehouse.raw_store import DuckDBRawStore
    from ecom_assets_tests.conftest import make_resources
    from ecom_assets.demo import run_pipeline

    root, marker = Path(sys.argv[1]), Path(sys.argv[2])

    def hanging_write(store, loads, replace_table=False):  # every raw write goes through the raw store
        with connect(store.path) as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM raw.events")
            marker.write_text("in the transaction")
            time.sleep(600)

    DuckDBRawStore.write_loads = hanging_write
    resources = make_resources(root, **{small})
    run_pipeline(resources, instance=DagsterInstance.get(), log=lambda _: None, stages=("events",))
""").replace("{small}", repr(SMALL))


def _instance(home: Path) -> DagsterInstance:
    return DagsterInstance.from_config(str(home))


def test_a_run_killed_mid_stage_is_followed_by_a_run_that_completes(tmp_path):
    from ecom_assets.demo import run_pipeline
    from ecom_assets_tests.conftest import make_resources

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # the warehouse pool, limit 1
    resources = make_resources(tmp_path, **SMALL)
    instance = _instance(home)
    run_pipeline(resources, instance=instance, log=lambda _: None, stages=("snapshots", "events"))
    good = query(resources, "SELECT count(*) AS n FROM raw.events")["n"][0]
    assert good > 0

    marker = tmp_path / "marker"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", HANGING_RUN, str(tmp_path), str(marker)], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert child.poll() is None, f"the child run ended early: {child.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "the child run never reached its write"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    instance = _instance(home)
    killed = [r for r in instance.get_runs() if r.status == DagsterRunStatus.STARTED]
    assert len(killed) == 1, "the killed run is left STARTED, holding the warehouse slot"
    assert killed[0].run_id in instance.event_log_storage.get_concurrency_info("warehouse").active_run_ids
    assert query(resources, "SELECT count(*) AS n FROM raw.events")["n"][0] == good, "the uncommitted delete is gone"

    lines: list[str] = []

    def waited_too_long(*_):
        raise TimeoutError(f"the next run is still waiting for the warehouse slot: {lines}")

    previous = signal.signal(signal.SIGALRM, waited_too_long)
    signal.alarm(240)  # without the recovery this run would wait for the slot forever
    try:
        run_pipeline(resources, instance=instance, log=lines.append, stages=("events",))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert instance.get_run_by_id(killed[0].run_id).status == DagsterRunStatus.FAILURE
    assert any("was interrupted" in line for line in lines), lines
    assert query(resources, "SELECT count(*) AS n FROM raw.events")["n"][0] == good
    unbalanced = query(resources, "SELECT count(*) AS n FROM raw.ingest_ledger WHERE rows_read != rows_accepted + rows_quarantined")
    assert unbalanced["n"][0] == 0
