#!/usr/bin/env python
"""Ingestion benchmark: demo-shop generator + private, validated ingestion + dbt build,
end to end through the marts, at 1e5 and 1e6 events (1e7 with --full).

Each size runs in a fresh subprocess, so that peak memory (sampled for the whole
process tree, dbt included) is that size's own. Beside the pipeline, the same run
measures a reference: bare DuckDB loading the same raw events from memory and running
the same compiled feature SQL, so the framework and generator overhead is a ratio, not
a guess. Prints a table and writes bench/results/ingest.json.

    .venv/bin/python bench/ingest.py [--full] [--sizes 1e5,1e6] [--duckdb-memory-limit 1.5GB]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import TreePeakRSS, write_result  # noqa: E402

SIZES = {
    "1e5": dict(n_users=10_000, n_items=2_000, n_days=10, events_per_day=10_000, support_tickets=2_000),
    "1e6": dict(n_users=50_000, n_items=10_000, n_days=10, events_per_day=100_000, support_tickets=5_000),
    "1e7": dict(n_users=200_000, n_items=50_000, n_days=10, events_per_day=1_000_000, support_tickets=10_000),
}
# Models in dependency order, for the bare-DuckDB reference.
MODELS = [
    ("staging", "stg_events"), ("staging", "stg_products"), ("staging", "stg_users"), ("staging", "stg_support_tickets"),
    ("intermediate", "int_sessionised_events"), ("intermediate", "int_sessions"),
    ("marts", "user_features"), ("marts", "item_features"), ("marts", "interactions"), ("marts", "split_cutoff"),
    ("marts", "train_interactions"), ("marts", "test_interactions"),
]


def _bare_duckdb_reference(warehouse: Path) -> dict:
    """Load the pipeline's raw tables from memory into a fresh DuckDB file and run the
    same compiled model SQL there: the cost of the work itself, without the framework."""
    import duckdb

    from ecom_assets.dbt_project import dbt_resource

    os.environ["ECOM_WAREHOUSE"] = str(warehouse)
    dbt_resource().cli(["compile", "--quiet"], target_path=Path("target")).wait()
    compiled = ROOT / "dbt" / "target" / "compiled" / "ecom_assets" / "models"
    sql = {name: next(compiled.rglob(f"{name}.sql")).read_text() for _, name in MODELS}

    src = duckdb.connect(str(warehouse), read_only=True)
    tables = [t for (t,) in src.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' "
        "AND table_name NOT IN ('quarantine', 'ingest_ledger')").fetchall()]
    raw = {t: src.execute(f"SELECT * FROM raw.{t}").to_arrow_table() for t in tables}
    src.close()

    ref_dir = Path(tempfile.mkdtemp(prefix="bare_"))
    con = duckdb.connect(str(ref_dir / warehouse.name))  # same file stem: compiled SQL names the catalog
    t0 = time.perf_counter()
    con.execute("CREATE SCHEMA raw")
    for table, arrow in raw.items():
        con.register("_src", arrow)
        con.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM _src")
        con.unregister("_src")
    t_ingest = time.perf_counter() - t0
    t0 = time.perf_counter()
    for schema, name in MODELS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{name} AS {sql[name]}")
    t_features = time.perf_counter() - t0
    con.close()
    return {"ingest_seconds": round(t_ingest, 3), "features_seconds": round(t_features, 3),
            "total_seconds": round(t_ingest + t_features, 3)}


def run_one(size: str) -> dict:
    """Run one size in this process (called in a fresh subprocess by main)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("ECOM_PSEUDONYM_KEY", "bench-pseudonym-key-not-secret")
    from ecom_assets.definitions import build_resources
    from ecom_assets.demo import run_pipeline
    from ecom_assets.resources import PrivacyResource, ShopDataSource, WarehouseResource

    work = Path(tempfile.mkdtemp(prefix=f"bench_ingest_{size}_"))
    warehouse = work / "warehouse.duckdb"
    resources = build_resources(
        warehouse=WarehouseResource(path=str(warehouse)),
        privacy=PrivacyResource(key_file=str(work / "key")),
        source=ShopDataSource(inbox_dir=str(work / "inbox"), **SIZES[size]),
    )
    report, stage_peaks = {}, {}
    with TreePeakRSS(os.getpid()) as mem:
        t0 = time.perf_counter()
        for stage in ("snapshots", "events", "inbox", "features"):  # one at a time: each stage's own peak
            with TreePeakRSS(os.getpid()) as stage_mem:
                report.update(run_pipeline(resources, log=lambda line: print(line, file=sys.stderr), stages=(stage,)))
            stage_peaks[stage] = {"tree_gb": round(stage_mem.peak / 1e9, 3),
                                  "this_process_gb": round(stage_mem.own_peak / 1e9, 3)}
        wall = time.perf_counter() - t0
    events_meta = report["events"]["metadata"]["raw/events"]
    in_asset = {k.removeprefix("seconds_"): round(v, 3) for k, v in events_meta.items() if k.startswith("seconds_")}
    import duckdb
    con = duckdb.connect(str(warehouse), read_only=True)
    n_events = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
    con.close()
    reference = _bare_duckdb_reference(warehouse)
    return {
        "size": size,
        "knobs": SIZES[size],
        "events": n_events,
        "wall_seconds": round(wall, 2),
        "peak_rss_gb": round(mem.peak / 1e9, 3),
        "peak_rss_gb_by_stage": stage_peaks,
        "duckdb_memory_limit": os.environ.get("ECOM_DUCKDB_MEMORY_LIMIT", "DuckDB's default (80% of RAM)"),
        "stage_seconds": {k: round(v["seconds"], 2) for k, v in report.items()},
        "events_stage_breakdown_seconds": in_asset,
        "bare_duckdb_reference": reference,
        "ratio_to_bare_duckdb": round(wall / reference["total_seconds"], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also run 1e7 events (several minutes, ~GBs)")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of " + ",".join(SIZES))
    parser.add_argument("--duckdb-memory-limit", default="1.5GB",
                        help="ECOM_DUCKDB_MEMORY_LIMIT for the run (dbt and the assets' connections); '' for DuckDB's own")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    sizes = args.sizes.split(",") if args.sizes else ["1e5", "1e6"] + (["1e7"] if args.full else [])
    runs = []
    for size in sizes:
        print(f"== {size} events", file=sys.stderr)
        env = {**os.environ, "ECOM_DUCKDB_MEMORY_LIMIT": args.duckdb_memory_limit}
        if not args.duckdb_memory_limit:
            env.pop("ECOM_DUCKDB_MEMORY_LIMIT")
        proc = subprocess.run([sys.executable, __file__, "--one", size], capture_output=True, text=True, cwd=ROOT, env=env)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    exponents = {}
    for a, b in zip(runs, runs[1:]):
        exponents[f"{a['size']}->{b['size']}"] = round(
            math.log(b["wall_seconds"] / a["wall_seconds"]) / math.log(b["events"] / a["events"]), 3)
    result = {
        "benchmark": "ingest",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "targets": {"1e6_wall_seconds": 45, "1e6_peak_rss_gb": 3.0, "1e7_wall_seconds": 300, "scaling_exponent": 1.15},
        "runs": runs,
        "scaling_exponent": exponents,
    }
    saved = write_result("ingest", result)
    print(f"{'size':>5} {'events':>10} {'wall s':>8} {'peak GB':>8} {'bare s':>7} {'ratio':>6}  stages")
    for r in runs:
        print(f"{r['size']:>5} {r['events']:>10,} {r['wall_seconds']:>8.1f} {r['peak_rss_gb']:>8.2f} "
              f"{r['bare_duckdb_reference']['total_seconds']:>7.2f} {r['ratio_to_bare_duckdb']:>6.1f}  {r['stage_seconds']}")
    print(f"scaling exponent: {exponents}")
    print(f"saved {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
