"""The demo story: the whole asset graph on the demo shop, then a drifted week and the
self-retraining loop, told on the terminal (`make run`; `python -m ecom_assets.cli run`).

The graph is built on all but the newest week; then the newest week arrives with the
shop's tastes shifted (the drift knob), the drift checks on the feature tables fail, the
retrain sensor is evaluated as the daemon would and the model chain it requests is run:
new versions, gated, served, with prediction drift against the baseline. Without the
drift scenario (`--no-drift`) the graph is built once on every day. Every stage reports
its seconds.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable

import pandas as pd
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

DEMO_STAGES = ("snapshots", "events", "inbox", "features", "text", "recommend", "copy", "service", "monitoring", "loop",
               "preview")
# The copy loop turns over the newest days of the window, one partition at a time (about
# 3 s a day on 2 cores; five days show the policy learning and its gate deciding).
LOOP_DAYS = 5
# The laptop demo's training budgets (op config; the assets' own defaults are for real
# shops). Measured on 2 cores: the text encoder, the recommender's SASRec fits, the copy
# generator and the support encoder took about 70% of a 17-minute demo run under the
# production budgets; budgets about twice these still left an 11-minute run. The generator
# keeps the most: it trains from scratch, and its copy is what a shopper reads; without
# dropout its 30 s reach as many steps as 45 s with it, to a lower held-out perplexity
# (ml/copy/generator.py). Measured on the demo shop's validation windows: SASRec at 4 s per
# fit scored as at 6 s (NDCG@10 0.1382 vs 0.1373); the text encoder's head at 8 s as at 12 s
# (0.0963 vs 0.0957); 5 s of Chinese distillation took 3 steps and moved the held-out
# pairs' MRR from 0.9511 (the vocabulary extension alone) to 0.9516, so the demo skips it.
# The support encoder's 8 s bought one step of fine-tuning (validation MRR of its dense
# retrieval 0.6811 -> 0.6825): the demo retrieves with the base encoder. Two copy variants
# per product, segment and language instead of three (the segment's family and the offer's;
# two are already a choice for the bandit) cut a third of decoding.
DEMO_BUDGETS: dict[str, dict] = {
    "ml__product_text_encoder": {"max_seconds": 8.0, "distill_seconds": 0.0},
    "recommender": {"sasrec_seconds": 4.0},
    "ml__ad_copy_generator": {"max_seconds": 30.0, "dropout": 0.0},
    "ml__support_encoder": {"max_seconds": 0.0},
    "serving__ad_copy": {"variants": 2},
}


def run_pipeline(resources: dict | None = None, instance: DagsterInstance | None = None,
                 log: Callable[[str], None] = print, log_level: str = "WARNING",
                 op_config: dict[str, dict] | None = None, stages: tuple[str, ...] = DEMO_STAGES,
                 partitions: list[str] | None = None, quiet: bool = False) -> dict[str, dict]:
    """Materialise every asset of the demo graph, stage by stage, with checks.

    Event partitions form one single-run backfill over `partitions` (default: the source's
    whole demo window); the other stages are unpartitioned. `op_config` maps op names to their config (e.g.
    {"dbt_features": {"test_days": 1}}). `quiet`: everything the libraries print, native
    code included, goes to the stage's log file, and the terminal shows a live elapsed time
    while the stage runs (the demo, without --verbose). Returns, per stage, its seconds and
    the numeric metadata of what it materialised (timings, row counts).
    """
    from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS, build_resources, defs
    from ecom_assets.jobs import STAGES
    from ecom_assets.run_health import process_tags, recover_interrupted_runs, wait_for_pool

    resources = resources or build_resources()
    if instance is not None:  # a run killed earlier must not hold the warehouse slot forever
        recover_interrupted_runs(instance, log)
    partitions = partitions or resources["source"].demo_partitions
    range_tags = {"dagster/asset_partition_range_start": partitions[0], "dagster/asset_partition_range_end": partitions[-1]}
    graph = defs.resolve_asset_graph()
    report = {}
    for name, selection in STAGES.items():
        if name not in stages:
            continue
        t0 = time.perf_counter()
        tags = {**process_tags(), **(range_tags if name == "events" else {})}
        if instance is not None:
            wait_for_pool(instance, "warehouse", log)
        # dbt's own event lines go to stdout; below DEBUG they go to a log file beside the warehouse.
        stdout_log = resources["warehouse"].resolved_path.parent / "logs" / f"{name}.log"
        run_config = _run_config(graph, selection, op_config, log_level)
        # The loop's days depend on each other (day d serves the policy of day d-1): one run per day, in order.
        days = partitions[-LOOP_DAYS:] if name == "loop" else [None]
        results = []
        try:
            with _stage_output(stdout_log, name, quiet, log_level):
                for day in days:
                    results.append(materialize(
                        [*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=resources,
                        instance=instance, tags=tags, partition_key=day, run_config=run_config))
        except Exception:
            log(f"  stage {name} failed; its stdout (dbt's output included) is in {stdout_log}")
            raise
        evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
        failed = [e for e in evaluations if not e.passed and e.severity == AssetCheckSeverity.ERROR]
        warned = dict.fromkeys(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations
                               if not e.passed and e.severity != AssetCheckSeverity.ERROR)
        for warning in warned:  # once per check, however many days the stage ran
            log(f"  warning: {warning} did not pass")
        if failed:
            raise RuntimeError(f"stage {name}: checks failed: {[f'{e.asset_key.to_user_string()}:{e.check_name}' for e in failed]}")
        seconds = time.perf_counter() - t0
        materializations = [e.event_specific_data.materialization for r in results for e in r.get_asset_materialization_events()]
        metadata = {
            m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items() if isinstance(v.value, (int, float))}
            for m in materializations
        }
        report[name] = {"seconds": seconds, "metadata": metadata}
        line = {"loop": _loop_line, "recommend": _online_test_line, "service": _service_line}.get(name)
        log(f"  {name:<10} {seconds:6.1f} s" + (line(resources["warehouse"]) if line else ""))
    return report


def _run_config(graph, selection, op_config: dict[str, dict] | None, log_level: str) -> dict:
    """Run config for one materialisation of `selection`: the console log level, and the
    op configs of `op_config` that belong to ops in the selection."""
    ops = {graph.get(k).assets_def.op.name for k in selection.resolve(graph)}
    return {"loggers": {"console": {"config": {"log_level": log_level}}},
            "ops": {op: {"config": cfg} for op, cfg in (op_config or {}).items() if op in ops}}


@contextlib.contextmanager
def _stage_output(log_file: Path, name: str, quiet: bool, log_level: str):
    """Where a stage's output goes: with `quiet`, everything (native included) to
    `log_file` and a live elapsed time on the terminal; else below DEBUG, Python's stdout
    (dbt's event lines) to `log_file`; at DEBUG, the terminal."""
    from ecom_assets.console import Ticker, stage_output

    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        if quiet:
            stack.enter_context(Ticker(stack.enter_context(stage_output(log_file)), name))
        elif log_level != "DEBUG":
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(log_file, "w"))))
        yield


def _online_test_line(warehouse) -> str:
    """The recommenders' online check in one line: does offline NDCG order them as the shop's clicks do?"""
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "monitoring.recommendation_online_test"):
            return ""
        t = con.execute("SELECT strategy, offline_rank, online_rank FROM monitoring.recommendation_online_test").df()
    if t.empty:
        return ""
    from scipy.stats import kendalltau

    tau = kendalltau(-t["offline_rank"], -t["online_rank"])[0]
    offline_best, online_best = (t.loc[t[col].idxmin(), "strategy"] for col in ("offline_rank", "online_rank"))
    return (f"  (online check in the simulated shop: best offline {offline_best}, best by clicks {online_best}, "
            f"Kendall tau {tau:+.2f})")


def _service_line(warehouse) -> str:
    """The support replies in one line: how many were answered, and how many of those right, per language."""
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "monitoring.support_quality"):
            return ""
        q = con.execute("SELECT value, questions, answerable, coverage, precision, answered_correctly "
                        "FROM monitoring.support_quality WHERE scope = 'language' ORDER BY value").df()
    # Answerable: no personal data, and the account data the right answer needs is there.
    parts = [f"{r.value} {r.questions:,}: {r.coverage:.0%} answered at precision "
             f"{'-' if r.precision != r.precision or r.precision is None else f'{r.precision:.0%}'}, "
             f"{r.answered_correctly:.1%} of the {r.answerable:,} answerable answered right" for r in q.itertuples()]
    return f"  (support replies: {'; '.join(parts)})" if parts else ""


def _loop_line(warehouse) -> str:
    """The newest day of the copy loop in one line: what serves, against the oracle and uniform."""
    row = warehouse.query("""
        SELECT version, status, json_extract(metrics, '$.true_value')::DOUBLE AS value,
               json_extract(metrics, '$.oracle_value')::DOUBLE AS oracle,
               json_extract(metrics, '$.uniform_value')::DOUBLE AS uniform
        FROM ml.model_registry WHERE name = 'copy_policy' ORDER BY created_at DESC LIMIT 1""")
    if row.empty:
        return ""
    r = row.iloc[0]
    readout = warehouse.query("SELECT lift, lift_low, lift_high, always_valid_p FROM monitoring.ab_readouts "
                              "WHERE arm = 'policy' ORDER BY day DESC LIMIT 1")
    ab = "" if readout.empty else (f"; vs holdout: per-user click-through {readout['lift'][0]:+.3f} "
                                    f"[{readout['lift_low'][0]:+.3f}, {readout['lift_high'][0]:+.3f}], "
                                    f"always-valid p {readout['always_valid_p'][0]:.3f}")
    return (f"  (newest copy policy: CTR {r['value']:.4f} = {r['value'] / r['oracle']:.0%} of the oracle, "
            f"{r['value'] / r['uniform']:.2f}x uniform, {r['status']} by the gate{ab})")


def retrain_on_drift(resources: dict, instance: DagsterInstance | None, log: Callable[[str], None] = print,
                     op_config: dict[str, dict] | None = None, quiet: bool = False) -> bool:
    """Evaluate the retrain sensor as the daemon would and run what it requests (with
    `op_config`, the same budgets as the build); say in a few lines what drifted, what
    each gate decided and how the served predictions moved. True when a retraining ran."""
    from dagster import RunRequest, build_sensor_context

    from ecom_assets.assets.automation import retrain_on_drift_or_growth
    from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS, defs
    from ecom_assets.run_health import process_tags, wait_for_pool

    warehouse = resources["warehouse"]
    drift = newest_drift(warehouse)
    log("  drift      " + ", ".join(f"{r.report} {r.score:.2f}{' DRIFTED' if r.drifted else ''}" for r in drift.itertuples())
        + "  (share of drifted columns; ROC AUC for embeddings)")
    # A fresh instance for the decision: the demo rebuilds the same shop (same cutoff), and a
    # retraining recorded by an earlier demo run must not count as this one's.
    request = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                              resources={"warehouse": warehouse}, definitions=defs))
    if not isinstance(request, RunRequest):
        log(f"  retrain sensor: skipped ({request.skip_message})")
        return False
    log(f"  retrain sensor: {request.tags['ecom/reason']}")
    t0 = time.perf_counter()
    if instance is not None:
        wait_for_pool(instance, "warehouse", log)
    # What the daemon would launch: the models that learn from what drifted, and their downstream.
    selection = (AssetSelection.assets(*request.asset_selection) if request.asset_selection
                 else retrain_on_drift_or_growth.asset_selection)
    # The sensor's own op config (the encoder's warm start) under the demo's budgets.
    requested = {op: cfg["config"] for op, cfg in (request.run_config or {}).get("ops", {}).items()}
    merged = {op: {**requested.get(op, {}), **(op_config or {}).get(op, {})} for op in {*requested, *(op_config or {})}}
    run_config = _run_config(defs.resolve_asset_graph(), selection, merged, "WARNING")
    # Not quiet (--verbose): the terminal, as before the budgets existed.
    with _stage_output(warehouse.resolved_path.parent / "logs" / "retraining.log", "retraining", quiet,
                       "WARNING" if quiet else "DEBUG"):
        materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=resources, instance=instance,
                    tags={**request.tags, **process_tags()}, raise_on_error=False, run_config=run_config)
    gates = warehouse.query("""
        SELECT name, status, json_extract_string(decision, '$.reason') AS gate FROM ml.model_registry
        QUALIFY row_number() OVER (PARTITION BY name ORDER BY created_at DESC) = 1
            AND created_at >= ? ORDER BY name""", [_utc_naive(t0)])
    log(f"  {'retraining':<10} {time.perf_counter() - t0:6.1f} s")
    for row in gates.itertuples():
        log(f"    {row.name:<22} {row.status:<9} {str(row.gate)[:110]}")
    moved = warehouse.query("""
        SELECT report, signal, round(score, 3) AS score, drifted FROM monitoring.drift_summary
        WHERE report IN ('predictions', 'ad_copy') AND signal != 'dataset'
          AND created_at = (SELECT max(created_at) FROM monitoring.drift_summary WHERE report = 'predictions')""")
    if len(moved):
        log("  served now vs before: " + ", ".join(f"{r.signal} {r.score}{' (drifted)' if r.drifted else ''}"
                                                  for r in moved.itertuples()))
    return True


def _utc_naive(perf_started: float):
    """The wall-clock UTC time (naive, as the registry stores it) of a perf_counter reading."""
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(seconds=time.perf_counter() - perf_started)).replace(tzinfo=None)


def _reset_demo_window(warehouse, window: list[str], replay: list[str], table: str = "raw.events") -> None:
    """The demo shop's event partitions are exactly its window: days an earlier demo run
    with other knobs left outside it are removed, and so is the week the drift scenario
    replays after the baseline (it must not be in the baseline)."""
    from ecom_assets.warehouse import LEDGER_TABLE, table_exists

    with warehouse.connect() as con:
        if not table_exists(con, LEDGER_TABLE):
            return
        loaded = [r[0] for r in con.execute(f"SELECT DISTINCT partition_key FROM {LEDGER_TABLE} "
                                            "WHERE target_table = ? AND partition_key IS NOT NULL", [table]).fetchall()]
    stale = sorted((set(loaded) - set(window)) | (set(loaded) & set(replay)))
    if stale:
        warehouse.raw_store().drop_partitions(table, stale)


def _archive_demo_ledger(warehouse) -> int:
    """The synthetic demo shop is generated afresh by every demo run and holds nobody's
    data: the releases earlier demo runs recorded are moved to privacy.ledger_archive, so
    that repeated runs in one week do not exhaust the budget. A real shop's ledger (any
    other source) is never touched. Returns the rows archived."""
    from ecom_assets.warehouse import PRIVACY_LEDGER_TABLE, privacy_ledger, transaction

    with warehouse.connect() as con:
        if not len(privacy_ledger(con)):
            return 0
        with transaction(con):
            con.execute(f"CREATE TABLE IF NOT EXISTS privacy.ledger_archive AS SELECT * FROM {PRIVACY_LEDGER_TABLE} "
                        "WHERE false")
            n = con.execute(f"SELECT count(*) FROM {PRIVACY_LEDGER_TABLE}").fetchone()[0]
            con.execute(f"INSERT INTO privacy.ledger_archive SELECT * FROM {PRIVACY_LEDGER_TABLE}")
            con.execute(f"DELETE FROM {PRIVACY_LEDGER_TABLE}")
    return int(n)


def newest_drift(warehouse) -> pd.DataFrame:
    return warehouse.query("""
        SELECT report, round(score, 3) AS score, drifted, created_at FROM monitoring.drift_summary s
        WHERE signal = 'dataset' AND created_at = (SELECT max(created_at) FROM monitoring.drift_summary t
                                                   WHERE t.report = s.report) ORDER BY report""")


def stage_inbox_files(inbox_dir: Path, entity: str, files: list[str]) -> list[Path]:
    """Copy `files` into <inbox>/<entity>/ as a merchant would drop them (a file already
    there with the same content is left alone: the inbox ingests a file once)."""
    import shutil

    staged = []
    for name in files:
        source = Path(name)
        if not source.is_file():
            raise FileNotFoundError(f"{entity} file {source} does not exist")
        target = inbox_dir / entity / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
        staged.append(target)
    return staged


def run_demo(knobs: dict, no_drift: bool = False, test_days: int | None = None, verbose: bool = False,
             copy_examples: list[str] = (), full_budgets: bool = False) -> None:
    """The story on the terminal, one line per stage. knobs: ShopDataSource fields (n_users,
    n_items, n_days, events_per_day, seed, kind, dataset_path); copy_examples: files put in
    the inbox's copy_examples folder first; full_budgets: train with the assets' own
    budgets instead of DEMO_BUDGETS; verbose: Dagster's, dbt's and the libraries' output
    on the terminal instead of data/logs/<stage>.log."""
    import logging
    import warnings

    from ecom_assets.console import quiet_libraries

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if not verbose:
        quiet_libraries()
    # A root handler that passes warnings only, installed before any library configures
    # logging (one imported mid-run adds an unfiltered handler, which repeats every Dagster
    # step message in the demo's output).
    root_handler = logging.StreamHandler()
    root_handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(root_handler)
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    warnings.filterwarnings("ignore", message="Parameter `allow_nonexistent_upstream_partitions`")
    from ecom_assets.definitions import build_resources
    from ecom_assets.resources import ShopDataSource

    knobs = dict(knobs)
    synthetic = knobs.get("kind", "synthetic") == "synthetic"
    drift_scenario = not no_drift and synthetic
    if drift_scenario:
        week = ShopDataSource(**knobs).demo_partitions[-(test_days or 7):]
        knobs.update(drift_date=week[0], drift_strength=1.0)
    resources = build_resources(source=ShopDataSource(**knobs))
    public = knobs.get("kind") in ("s3rec", "recbole")
    test_days = test_days or (1 if public else None)
    op_config = {} if full_budgets else {op: dict(cfg) for op, cfg in DEMO_BUDGETS.items()}
    if test_days:
        op_config["dbt_features"] = {"test_days": test_days}
    src = resources["source"]
    for path in stage_inbox_files(src.resolved_inbox_dir, "copy_examples", list(copy_examples)):
        print(f"Copy examples in the inbox: {path.name}")
    if public:
        print(f"Materialising the asset graph on {src.dataset_path} ({src.kind}), laid over {src.n_days} days")
    else:
        print(f"Materialising the asset graph: {src.n_users:,} users, {src.n_items:,} items, {src.n_days} days "
              f"x ~{src.events_per_day:,} events (seed {src.seed}; "
              f"{'full' if full_budgets else 'demo'} training budgets)")
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    t0 = time.perf_counter()
    run = dict(instance=instance, log_level="DEBUG" if verbose else "WARNING", op_config=op_config, quiet=not verbose)
    if synthetic:
        _reset_demo_window(resources["warehouse"], src.demo_partitions, week if drift_scenario else [])
        archived = _archive_demo_ledger(resources["warehouse"])
        if archived:
            print(f"Synthetic demo shop: {archived} privacy releases of earlier demo runs moved to privacy.ledger_archive")
    if drift_scenario:
        days = src.demo_partitions
        print(f"Baseline: {days[0]} .. {days[-len(week) - 1]}")
        run_pipeline(resources, partitions=days[:-len(week)], **run)
        print(f"New week: {week[0]} .. {week[-1]} (the shop's tastes shift: drift knob on)")
        run_pipeline(resources, partitions=week, stages=("events", "features", "loop"), **run)
        retrain_on_drift(resources, instance, op_config=op_config, quiet=not verbose)
    else:
        run_pipeline(resources, **run)
    warehouse = resources["warehouse"].resolved_path
    print(f"\nDone in {time.perf_counter() - t0:.1f} s. {_summary(warehouse)}")
    print(_next_steps(warehouse, src.resolved_inbox_dir))


def _summary(warehouse_path) -> str:
    """One line: the warehouse, its tables and rows, and what was quarantined."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        tables = [name for (name,) in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'staging', 'intermediate', 'marts', 'ml', 'serving', 'monitoring')").fetchall()]
        rows = sum(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables)
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] if "raw.quarantine" in tables else 0
        return (f"Warehouse {warehouse_path}: {len(tables)} tables, {rows:,} rows; {quarantined:,} rows quarantined "
                "with their reasons (raw.quarantine)")
    finally:
        con.close()


def _next_steps(warehouse_path: Path, inbox: Path) -> str:
    reports = sorted((Path(warehouse_path).parent / "reports").glob("storefront_*.html"))
    page = f"\n  the storefront preview: {reports[-1]}" if reports else ""
    return ("Next: make ui, then open http://127.0.0.1:3000\n"
            "  Lineage: every group, raw tables to serving tables; assets serving/recommendations (reasons), "
            "serving/ad_copy (its blocking checks), monitoring/fairness_report, reports/storefront_preview"
            f"{page}\n  logs of each stage: {Path(warehouse_path).parent / 'logs'}; "
            f"drop files in {inbox}/<entity>/ and the inbox sensor loads them")
