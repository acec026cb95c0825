"""Monitoring group: drift of the shop's behaviour and features, failures, rollback.

    monitoring/feature_drift   Evidently reports (HTML beside the warehouse, linked in the
                               metadata) for events, per-user and per-item window features:
                               the current window (from the test cutoff on) against the
                               training window before it; one row per column and report in
                               monitoring.drift_summary (kept as history). Checks warn when
                               a report's share of drifted columns reaches its threshold.
    run_failure_alerts         a run-failure sensor: every failed run lands in monitoring.alerts
    rollback_model             a job: the previous champion of a named model serves again
"""

import json
from datetime import datetime, timezone

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RunFailureSensorContext,
    asset,
    job,
    op,
    run_failure_sensor,
)

from ecom_assets.assets.metadata import counts_table
from ecom_assets.resources import WarehouseResource

GROUP = "monitoring"
POOL = "warehouse"
DRIFT_KEY = AssetKey(["monitoring", "feature_drift"])
REPORTS = ("events", "user_features", "item_features")
EMBEDDING_REPORT = "engaged_item_embeddings"

# Reference: the `?` days before the test cutoff (0: as long as the current window, so
# that per-user and per-item counts compare like with like); current: from the cutoff on.
_WINDOWED = """
WITH bounds AS (
    SELECT c.cutoff, CASE WHEN ? > 0 THEN to_days(CAST(? AS INTEGER)) ELSE max(e.event_time) - c.cutoff END AS span
    FROM marts.split_cutoff c CROSS JOIN staging.stg_events e GROUP BY c.cutoff
),
w AS (
    SELECT e.*, i.category_l2,
           CASE WHEN e.event_time >= b.cutoff THEN 'current'
                WHEN e.event_time >= b.cutoff - b.span THEN 'reference' END AS win
    FROM staging.stg_events e CROSS JOIN bounds b LEFT JOIN marts.item_features i USING (item_id)
)
"""
SQL = {
    "events": _WINDOWED + """
        SELECT win, event_type, category_l2 AS category, price, quantity, hour(event_time) AS hour_of_day
        FROM w WHERE win IS NOT NULL""",
    "user_features": _WINDOWED + """
        SELECT win, count(*) AS events, count(DISTINCT CAST(event_time AS DATE)) AS active_days,
               avg(CASE WHEN event_type = 'purchase' THEN 1.0 ELSE 0.0 END) AS purchase_share,
               count(DISTINCT category_l2) AS categories, avg(price) AS mean_price
        FROM w WHERE win IS NOT NULL GROUP BY win, user_id""",
    "item_features": _WINDOWED + """
        SELECT win, count(*) FILTER (WHERE event_type = 'view') AS views,
               count(*) FILTER (WHERE event_type = 'purchase') AS purchases, count(DISTINCT user_id) AS users,
               avg(price) AS mean_price
        FROM w WHERE win IS NOT NULL GROUP BY win, item_id""",
}


class DriftConfig(Config):
    reference_days: int = 0
    """Training-window days before the test cutoff that form the reference; 0 = as long as the current window."""
    drift_share: float = 0.5
    """A report drifts when at least this share of its columns drifted."""
    max_rows: int = 50_000
    seed: int = 0


@asset(key=DRIFT_KEY, deps=[AssetKey(["staging", "stg_events"]), AssetKey(["marts", "split_cutoff"]),
                            AssetKey(["marts", "item_features"]), AssetKey(["marts", "user_features"])],
       group_name=GROUP, kinds={"evidently", "duckdb"}, pool=POOL,
       check_specs=[*(AssetCheckSpec(f"{r}_stable", asset=DRIFT_KEY, blocking=False,
                                     description=f"Warns when the {r} report's share of drifted columns reaches the threshold")
                      for r in REPORTS),
                    AssetCheckSpec(f"{EMBEDDING_REPORT}_stable", asset=DRIFT_KEY, blocking=False,
                                   description="Warns when the product-text embeddings of what users engage with in the "
                                               "current window can be told apart from the reference window's"),
                    AssetCheckSpec("data_quality_stable", asset=DRIFT_KEY, blocking=False,
                                   description="Warns when the newest event day's volume, missing values or unseen "
                                               "categories depart from the reference window")],
       description="Evidently drift reports (events, per-user and per-item window features: current window vs the "
                   "training window) with one summary row per column in monitoring.drift_summary.")
def feature_drift(context: AssetExecutionContext, config: DriftConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.drift import drift_report

    created = datetime.now(timezone.utc).replace(tzinfo=None)
    folder = warehouse.resolved_path.parent / "reports"
    summaries, links, checks = [], {}, []
    with warehouse.connect(read_only=True) as con:
        frames = {r: con.execute(SQL[r], [config.reference_days, config.reference_days]).df() for r in REPORTS}
    for report, frame in frames.items():
        reference, current = frame[frame["win"] == "reference"].drop(columns="win"), frame[frame["win"] == "current"].drop(columns="win")
        if reference.empty or current.empty:
            raise Failure(f"{report}: an empty window (reference {len(reference)} rows, current {len(current)} rows); "
                          "is there data on both sides of marts.split_cutoff?")
        html = folder / f"{report}_drift_{created:%Y%m%dT%H%M%S}.html"
        window = (f"reference: {config.reference_days or 'as many'} days before the cutoff ({len(reference):,} rows); "
                  f"current: from the cutoff ({len(current):,} rows)")
        summary = drift_report(reference, current, report, window, html, config.drift_share, config.max_rows, config.seed)
        summaries.append(summary)
        links[report] = MetadataValue.path(str(html))
        verdict = summary[summary["signal"] == "dataset"].iloc[0]
        drifted_columns = summary[(summary["signal"] != "dataset") & summary["drifted"]]["signal"].tolist()
        checks.append(AssetCheckResult(
            check_name=f"{report}_stable", passed=not bool(verdict["drifted"]), severity=AssetCheckSeverity.WARN,
            description=f"{verdict['score']:.0%} of columns drifted (threshold {config.drift_share:.0%})",
            metadata={"drifted_columns": MetadataValue.json(drifted_columns), "share": float(verdict["score"]),
                      "report": MetadataValue.path(str(html))}))
    embedding_summary = _engaged_embedding_drift(context, warehouse, config)
    if embedding_summary is not None:
        summaries.append(embedding_summary)
        verdict = embedding_summary.iloc[-1]
        checks.append(AssetCheckResult(
            check_name=f"{EMBEDDING_REPORT}_stable", passed=not bool(verdict["drifted"]), severity=AssetCheckSeverity.WARN,
            description=f"ROC AUC {verdict['score']:.3f} (threshold {verdict['threshold']})",
            metadata={"roc_auc": float(verdict["score"])}))
    quality = _newest_day_quality(warehouse, frames["events"], config)
    summaries.append(quality)
    fired = quality[(quality["signal"] != "dataset") & quality["drifted"]]
    checks.append(AssetCheckResult(
        check_name="data_quality_stable", passed=fired.empty, severity=AssetCheckSeverity.WARN,
        description="newest day as expected" if fired.empty else "; ".join(f"{s} ({m})" for s, m in zip(fired["signal"], fired["method"])),
        metadata={"signals": MetadataValue.md(quality.drop(columns=["report", "window"]).round(4).to_markdown(index=False))}))
    table = pd.concat(summaries, ignore_index=True).assign(created_at=created)
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
        con.execute("""CREATE TABLE IF NOT EXISTS monitoring.drift_summary (report VARCHAR, signal VARCHAR, method VARCHAR,
                       score DOUBLE, threshold DOUBLE, drifted BOOLEAN, "window" VARCHAR, created_at TIMESTAMP)""")
        con.register("_drift", table)
        con.execute("INSERT INTO monitoring.drift_summary SELECT * FROM _drift")
    drifted = table[table["drifted"] & (table["signal"] != "dataset")]
    return MaterializeResult(
        metadata={"dagster/row_count": len(table), "reports": MetadataValue.json({k: v.value for k, v in links.items()}),
                  **{f"{r}_report": link for r, link in links.items()},
                  "drifted_columns": counts_table(drifted["report"].value_counts(), "report", "drifted columns"),
                  "summary": MetadataValue.md(table.drop(columns=["window", "created_at"]).round(4).to_markdown(index=False))},
        check_results=checks)


def _engaged_embedding_drift(context, warehouse: WarehouseResource, config: DriftConfig) -> pd.DataFrame | None:
    """Text embeddings of the distinct items users engaged with in each window: a shift in
    what they look at, in the encoder's semantic space. Distinct items, not events: the
    same popular items in both windows make the two sides identical, not separable."""
    import numpy as np

    from ecom_assets.ml.drift import embedding_drift
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "ml.item_embeddings"):
            context.log.info("ml.item_embeddings not materialised: no embedding drift report")
            return None
        # Sampled in the database: a window can hold millions of events.
        vectors = {win: con.execute(_WINDOWED + f"""
            SELECT x.embedding FROM (SELECT DISTINCT item_id FROM w WHERE w.win = '{win}') e
            JOIN ml.item_embeddings x USING (item_id) USING SAMPLE reservoir(4000 ROWS) REPEATABLE ({int(config.seed)})""",
                                    [config.reference_days, config.reference_days]).df()["embedding"]
                   for win in ("reference", "current")}
    vectors = {win: np.stack(v.to_numpy()).astype(np.float32) for win, v in vectors.items() if len(v)}
    if len(vectors) < 2:
        return None
    window = f"engaged items: reference {len(vectors['reference']):,}, current {len(vectors['current']):,}"
    return embedding_drift(vectors["reference"], vectors["current"], EMBEDDING_REPORT, window, seed=config.seed)


def _newest_day_quality(warehouse: WarehouseResource, events: pd.DataFrame, config: DriftConfig) -> pd.DataFrame:
    from ecom_assets.ml.drift import data_quality

    with warehouse.connect(read_only=True) as con:
        newest = con.execute("""
            SELECT e.event_type, i.category_l2 AS category, e.price, e.quantity, hour(e.event_time) AS hour_of_day
            FROM staging.stg_events e LEFT JOIN marts.item_features i USING (item_id)
            WHERE CAST(e.event_time AS DATE) = (SELECT max(CAST(event_time AS DATE)) FROM staging.stg_events)""").df()
        days = con.execute("""SELECT count(DISTINCT CAST(e.event_time AS DATE)) FROM staging.stg_events e, marts.split_cutoff c
                              WHERE e.event_time < c.cutoff AND e.event_time >= c.cutoff - (SELECT max(event_time) - c.cutoff
                              FROM staging.stg_events)""").fetchone()[0] if not config.reference_days else config.reference_days
    reference = events[events["win"] == "reference"].drop(columns="win")
    return data_quality(reference, newest, days, f"newest day ({len(newest):,} rows) vs reference ({len(reference):,} rows, "
                                                 f"{days} days)")


ALERTS_DDL = """CREATE TABLE IF NOT EXISTS monitoring.alerts (created_at TIMESTAMP, kind VARCHAR, job_name VARCHAR,
                run_id VARCHAR, message VARCHAR, steps VARCHAR)"""


def record_alert(warehouse: WarehouseResource, kind: str, job_name: str, run_id: str, message: str, steps: list[str]) -> None:
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
        con.execute(ALERTS_DDL)
        con.execute("INSERT INTO monitoring.alerts VALUES (?, ?, ?, ?, ?, ?)",
                    [datetime.now(timezone.utc).replace(tzinfo=None), kind, job_name, run_id, message[:2000],
                     json.dumps(steps)])


@run_failure_sensor(name="run_failure_alerts", default_status=DefaultSensorStatus.RUNNING,
                    description="Records every failed run (job, run id, failing steps, error) in monitoring.alerts.")
def run_failure_alerts(context: RunFailureSensorContext, warehouse: WarehouseResource):
    steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    message = context.failure_event.message or "run failed"
    record_alert(warehouse, "run_failure", context.dagster_run.job_name, context.dagster_run.run_id, message, steps)


class RollbackConfig(Config):
    model_name: str
    """A name in ml.model_registry: recommender, product_text_encoder or ad_copy_generator."""
    reason: str = "manual rollback"


@op(description="The current champion of model_name is retired and the previous one serves again.")
def restore_previous_champion(context: OpExecutionContext, config: RollbackConfig, warehouse: WarehouseResource) -> None:
    from ecom_assets.ml.registry import rollback

    with warehouse.connect() as con:
        restored, retired = rollback(con, config.model_name)
    context.log.info(f"{config.model_name}: {restored} serves again ({retired} retired)")
    record_alert(warehouse, "rollback", context.job_name, context.run_id,
                 f"{config.model_name}: {retired} -> {restored} ({config.reason})", [])


@job(name="rollback_model", description="Restore the previous champion of a named model in ml.model_registry; "
                                        "serving assets follow the champion on their next materialisation.")
def rollback_model():
    restore_previous_champion()


monitoring_assets = [feature_drift]
monitoring_sensors = [run_failure_alerts]
monitoring_jobs = [rollback_model]
