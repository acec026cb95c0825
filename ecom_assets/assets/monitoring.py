"""Monitoring group: drift of the shop, of the features and of the predictions; failures; rollback.

Drift checks sit on the tables they judge, so the UI shows them there and they run
whenever those tables are refreshed (the dbt run, the daily job, a retraining):

    staging/stg_events    stable_against_training_window   events (type, category, price,
                                                            quantity, hour): current window
                                                            (from the test cutoff on) vs an
                                                            equally long training window
                          newest_day_quality               volume, missing values, unseen
                                                            categories of the newest day
    marts/user_features   stable_against_training_window   per-user window features
    marts/item_features   stable_against_training_window   per-item window features
    ml/item_embeddings    engaged_items_stable             Evidently embedding drift of the
                                                            items engaged with in each window

    monitoring/prediction_drift   a snapshot of what is served (recommendation scores and
                                  their categories, ad-copy rejections) kept as history and
                                  compared with the previous snapshot; warning checks per
                                  signal.

Every report is an Evidently HTML file beside the warehouse (linked from the check or
materialisation) and rows in monitoring.drift_summary (report, signal, method, score,
threshold, drifted, window, created_at), kept as history; the retrain sensor reads it.

    run_failure_alerts         a run-failure sensor: every failed run lands in monitoring.alerts
    rollback_model             a job: the previous champion of a named model serves again
"""

import json
from datetime import datetime, timezone

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RunFailureSensorContext,
    RunRequest,
    SkipReason,
    asset,
    asset_check,
    job,
    multi_asset_check,
    op,
    run_failure_sensor,
)

from ecom_assets.assets.metadata import counts_table
from ecom_assets.resources import WarehouseResource
from ecom_assets.warehouse import append_rows, transaction

GROUP = "monitoring"
POOL = "warehouse"
EVENTS_KEY = AssetKey(["staging", "stg_events"])
ITEM_FEATURES_KEY = AssetKey(["marts", "item_features"])
USER_FEATURES_KEY = AssetKey(["marts", "user_features"])
ITEM_EMBEDDINGS_KEY = AssetKey(["ml", "item_embeddings"])
PREDICTION_DRIFT_KEY = AssetKey(["monitoring", "prediction_drift"])
WINDOW_CHECK = "stable_against_training_window"
QUALITY_CHECK = "newest_day_quality"
EMBEDDING_CHECK = "engaged_items_stable"
# Report name -> the table its window drift check sits on.
REPORT_TABLES = {"events": EVENTS_KEY, "user_features": USER_FEATURES_KEY, "item_features": ITEM_FEATURES_KEY}
EMBEDDING_REPORT = "engaged_item_embeddings"
# Reports whose drift means the models learnt from a shop that has moved on (the retrain
# sensor's trigger); data quality and prediction drift inform, they do not retrain.
BEHAVIOUR_REPORTS = (*REPORT_TABLES, EMBEDDING_REPORT)

# The windows are dbt's (marts.drift_events: `current` from the test cutoff on, `reference`
# the training-window days before it; dbt var drift_reference_days); the checks read them.
WINDOW_TABLES = {"events": AssetKey(["marts", "drift_events"]), "user_features": AssetKey(["marts", "drift_user_windows"]),
                 "item_features": AssetKey(["marts", "drift_item_windows"])}
SQL = {
    "events": """SELECT win, event_type, category_l2 AS category, price, quantity, hour(event_time) AS hour_of_day
                 FROM marts.drift_events""",
    "user_features": """SELECT win, events, active_days, purchase_share, categories, mean_price
                        FROM marts.drift_user_windows""",
    "item_features": "SELECT win, views, purchases, users, mean_price FROM marts.drift_item_windows",
}
SUMMARY_DDL = """CREATE TABLE IF NOT EXISTS monitoring.drift_summary (report VARCHAR, signal VARCHAR, method VARCHAR,
                 score DOUBLE, threshold DOUBLE, drifted BOOLEAN, "window" VARCHAR, created_at TIMESTAMP)"""


class DriftConfig(Config):
    drift_share: float = 0.5
    """A report drifts when at least this share of its columns drifted."""
    max_rows: int = 50_000
    seed: int = 0


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def drift_history_chart(warehouse: WarehouseResource, last: int = 30) -> MetadataValue:
    """Each drift report's dataset-level score (share of drifted columns, or the change)
    at its last `last` runs, from monitoring.drift_summary, as lines over time."""
    from ecom_assets.assets.metadata import line_chart
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "monitoring.drift_summary"):
            return MetadataValue.md("_(no drift reports yet)_")
        rows = con.execute("""SELECT report, created_at, max(score) AS score FROM monitoring.drift_summary
                              WHERE signal = 'dataset' GROUP BY report, created_at ORDER BY created_at""").df()
    if rows.empty:
        return MetadataValue.md("_(no drift reports yet)_")
    wide = rows.pivot_table(index="created_at", columns="report", values="score", aggfunc="max").tail(last)
    labels = [f"{t:%m-%d %H:%M}" for t in wide.index]
    return line_chart({report: wide[report].tolist() for report in wide.columns}, labels,
                      "Drift by report over time (dataset score)", "score")


def append_drift_summary(warehouse: WarehouseResource, rows: list[pd.DataFrame], created: datetime) -> None:
    if not rows:
        return
    with warehouse.connect() as con:
        append_rows(con, "monitoring.drift_summary", SUMMARY_DDL, pd.concat(rows, ignore_index=True).assign(created_at=created))


REPORTS_KEPT = 30  # HTML reports per report name (a few MB each; the summary table keeps the full history)


def _report_path(warehouse: WarehouseResource, report: str, created: datetime):
    folder = warehouse.resolved_path.parent / "reports"
    for old in sorted(folder.glob(f"{report}_drift_*.html"))[:-(REPORTS_KEPT - 1)]:
        old.unlink(missing_ok=True)
    return folder / f"{report}_drift_{created:%Y%m%dT%H%M%S}.html"


def _cannot_compare(key: AssetCheckKey, why: str) -> AssetCheckResult:
    # Not passed: nothing was shown to be stable. A warning, so a young shop still builds.
    return AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=False,
                            severity=AssetCheckSeverity.WARN, description=f"cannot compare: {why}")


@multi_asset_check(
    name="feature_window_drift",
    specs=[*(AssetCheckSpec(WINDOW_CHECK, asset=key, blocking=False,
                            additional_deps=[WINDOW_TABLES[report]],
                            description=f"Evidently data drift of the {report.replace('_', ' ')} (current window from the "
                                        "test cutoff on vs an equally long training window before it); warns when the "
                                        "share of drifted columns reaches the threshold")
             for report, key in REPORT_TABLES.items()),
           AssetCheckSpec(QUALITY_CHECK, asset=EVENTS_KEY, blocking=False,
                          additional_deps=[WINDOW_TABLES["events"], AssetKey(["marts", "catalogue"])],
                          description="Warns when the newest event day's volume, missing values or unseen categories "
                                      "depart from the reference window")],
    can_subset=True,
    description="Drift of the behaviour features against the training window (Evidently), one report per table; "
                "rows appended to monitoring.drift_summary, HTML reports linked.")
def feature_window_drift(context: AssetCheckExecutionContext, config: DriftConfig, warehouse: WarehouseResource):
    from ecom_assets.ml.monitoring.drift import drift_report

    created = _now()
    selected = set(context.selected_asset_check_keys)
    wanted = [r for r, key in REPORT_TABLES.items() if AssetCheckKey(key, WINDOW_CHECK) in selected]
    quality_key = AssetCheckKey(EVENTS_KEY, QUALITY_CHECK)
    with warehouse.connect(read_only=True) as con:
        # Each window as the seeded sample the report compares, never the whole window (at
        # 1e7 events the events window alone is gigabytes in pandas).
        frames = {r: con.execute(_window_sample(SQL[r], config.max_rows, config.seed)).df() for r in wanted}
    summaries = []
    for report in wanted:
        key = AssetCheckKey(REPORT_TABLES[report], WINDOW_CHECK)
        frame = frames[report]
        reference, current = frame[frame["win"] == "reference"].drop(columns="win"), frame[frame["win"] == "current"].drop(columns="win")
        if reference.empty or current.empty:
            yield _cannot_compare(key, f"reference window {len(reference)} rows, current window {len(current)} rows; "
                                       "is there data on both sides of marts.split_cutoff?")
            continue
        html = _report_path(warehouse, report, created)
        window = (f"reference: the training window before the cutoff ({len(reference):,} rows); "
                  f"current: from the cutoff ({len(current):,} rows)")
        summary = drift_report(reference, current, report, window, html, config.drift_share, config.max_rows, config.seed)
        summaries.append(summary)
        verdict = summary[summary["signal"] == "dataset"].iloc[0]
        columns = summary[summary["signal"] != "dataset"]
        yield AssetCheckResult(
            asset_key=key.asset_key, check_name=key.name, passed=not bool(verdict["drifted"]), severity=AssetCheckSeverity.WARN,
            description=f"{report}: {verdict['score']:.0%} of columns drifted (threshold {config.drift_share:.0%})",
            metadata={"share_drifted": float(verdict["score"]), "report": MetadataValue.path(str(html)),
                      "drifted_columns": MetadataValue.json(columns[columns["drifted"]]["signal"].tolist()),
                      "columns": MetadataValue.md(columns[["signal", "method", "score", "threshold", "drifted"]]
                                                  .round(4).to_markdown(index=False)),
                      "window": window})
    if quality_key in selected:
        profile = _reference_profile(warehouse)
        if profile.rows:
            quality = _newest_day_quality(warehouse, profile)
            summaries.append(quality)
            fired = quality[(quality["signal"] != "dataset") & quality["drifted"]]
            yield AssetCheckResult(
                asset_key=EVENTS_KEY, check_name=QUALITY_CHECK, passed=fired.empty, severity=AssetCheckSeverity.WARN,
                description="newest day as expected" if fired.empty
                else "; ".join(f"{s} ({m})" for s, m in zip(fired["signal"], fired["method"])),
                metadata={"signals": MetadataValue.md(quality.drop(columns=["report", "window"]).round(4).to_markdown(index=False)),
                          "window": quality["window"].iloc[0]})
        else:
            yield _cannot_compare(quality_key, "no reference window before marts.split_cutoff")
    append_drift_summary(warehouse, summaries, created)


@asset_check(asset=ITEM_EMBEDDINGS_KEY, name=EMBEDDING_CHECK, blocking=False,
             additional_deps=[WINDOW_TABLES["events"]],
             description="Evidently embedding drift: warns when the product-text embeddings of what users engage with in "
                         "the current window can be told apart from the reference window's (classifier ROC AUC)")
def engaged_items_stable(context: AssetCheckExecutionContext, config: DriftConfig,
                         warehouse: WarehouseResource) -> AssetCheckResult:
    """Text embeddings of the distinct items users engaged with in each window: a shift in
    what they look at, in the encoder's semantic space. Distinct items, not events: the
    same popular items in both windows make the two sides identical, not separable."""
    import numpy as np

    from ecom_assets.ml.monitoring.drift import embedding_drift

    created = _now()
    with warehouse.connect(read_only=True) as con:
        # Sampled in the database: a window can hold millions of events.
        vectors = {win: con.execute(f"""
            SELECT x.embedding FROM (SELECT DISTINCT item_id FROM marts.drift_events WHERE win = ?) e
            JOIN ml.item_embeddings x USING (item_id) USING SAMPLE reservoir(4000 ROWS) REPEATABLE ({int(config.seed)})""",
                                    [win]).df()["embedding"]
                   for win in ("reference", "current")}
    sizes = {win: len(v) for win, v in vectors.items()}
    if min(sizes.values()) == 0:
        return _cannot_compare(AssetCheckKey(ITEM_EMBEDDINGS_KEY, EMBEDDING_CHECK),
                               f"engaged items with embeddings: reference {sizes['reference']}, current {sizes['current']}")
    arrays = {win: np.stack(v.to_numpy()).astype(np.float32) for win, v in vectors.items()}
    window = f"engaged items: reference {sizes['reference']:,}, current {sizes['current']:,}"
    summary = embedding_drift(arrays["reference"], arrays["current"], EMBEDDING_REPORT, window, seed=config.seed)
    append_drift_summary(warehouse, [summary], created)
    verdict = summary.iloc[-1]
    return AssetCheckResult(passed=not bool(verdict["drifted"]), severity=AssetCheckSeverity.WARN,
                            description=f"ROC AUC {verdict['score']:.3f} (threshold {verdict['threshold']})",
                            metadata={"roc_auc": float(verdict["score"]), "window": window})


def _window_sample(sql: str, rows: int, seed: int) -> str:
    """`sql` (with a `win` column) as a seeded reservoir sample of `rows` per window."""
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT * FROM ({sql}) WHERE win = '{win}') USING SAMPLE reservoir({int(rows)} ROWS) "
        f"REPEATABLE ({int(seed)})" for win in ("reference", "current"))


def _reference_profile(warehouse: WarehouseResource):
    """The reference window of the events report as one aggregate: rows, missing shares,
    the categorical columns' values."""
    from ecom_assets.ml.monitoring.drift import ReferenceProfile

    columns = ["event_type", "category", "price", "quantity", "hour_of_day"]
    with warehouse.connect(read_only=True) as con:
        row = con.execute(f"""SELECT count(*), {', '.join(f'avg(CASE WHEN {c} IS NULL THEN 1.0 ELSE 0.0 END)' for c in columns)},
                                     list(DISTINCT event_type), list(DISTINCT category)
                              FROM ({SQL['events']}) WHERE win = 'reference'""").fetchone()
    rows, missing, values = row[0], row[1:1 + len(columns)], row[1 + len(columns):]
    return ReferenceProfile(int(rows), {c: float(m or 0.0) for c, m in zip(columns, missing)},
                            {"event_type": {v for v in values[0] or [] if v is not None},  # no rows: NULL lists
                             "category": {v for v in values[1] or [] if v is not None}})


def _newest_day_quality(warehouse: WarehouseResource, profile) -> pd.DataFrame:
    from ecom_assets.ml.monitoring.drift import data_quality

    with warehouse.connect(read_only=True) as con:
        newest = con.execute("""
            SELECT e.event_type, i.category_l2 AS category, e.price, e.quantity, hour(e.event_time) AS hour_of_day
            FROM staging.stg_events e LEFT JOIN marts.catalogue i USING (item_id)
            WHERE CAST(e.event_time AS DATE) = (SELECT max(CAST(event_time AS DATE)) FROM staging.stg_events)""").df()
        days = con.execute("SELECT count(DISTINCT CAST(event_time AS DATE)) FROM marts.drift_events "
                           "WHERE win = 'reference'").fetchone()[0]
    return data_quality(profile, newest, days, f"newest day ({len(newest):,} rows) vs reference ({profile.rows:,} rows, "
                                               f"{days} days)")


class PredictionDriftConfig(Config):
    max_rows: int = 20_000
    """Recommendation rows kept per snapshot (seeded reservoir sample)."""
    keep_snapshots: int = 30
    """Snapshots kept as history; older ones are deleted."""
    max_rejection_change: float = 0.05
    """The ad-copy check warns when the rejected share moved by more than this (absolute) since the previous snapshot."""
    seed: int = 0


PREDICTION_CHECKS = {"score": "recommendation_scores_stable", "category": "recommended_category_mix_stable",
                     "rejected_share": "ad_copy_rejection_share_stable"}
SNAPSHOT_DDL = ["""CREATE TABLE IF NOT EXISTS monitoring.recommendation_snapshots (snapshot_at TIMESTAMP, model_version VARCHAR,
                   score DOUBLE, "rank" BIGINT, category VARCHAR)""",
                """CREATE TABLE IF NOT EXISTS monitoring.ad_copy_snapshots (snapshot_at TIMESTAMP, generator_version VARCHAR,
                   "language" VARCHAR, candidates BIGINT, rejected BIGINT)"""]


@asset(key=PREDICTION_DRIFT_KEY, deps=[AssetKey(["serving", "recommendations"]), AssetKey(["serving", "ad_copy"]),
                                          AssetKey(["marts", "catalogue"])],
       group_name=GROUP, kinds={"evidently", "duckdb"}, pool=POOL,
       check_specs=[AssetCheckSpec(PREDICTION_CHECKS["score"], asset=PREDICTION_DRIFT_KEY, blocking=False,
                                   description="Warns when the distribution of served recommendation scores drifted from "
                                               "the previous snapshot (Evidently)"),
                    AssetCheckSpec(PREDICTION_CHECKS["category"], asset=PREDICTION_DRIFT_KEY, blocking=False,
                                   description="Warns when the category mix of what is recommended drifted from the "
                                               "previous snapshot (Evidently)"),
                    AssetCheckSpec(PREDICTION_CHECKS["rejected_share"], asset=PREDICTION_DRIFT_KEY, blocking=False,
                                   description="Warns when the share of ad-copy candidates rejected by the review moved by "
                                               "more than max_rejection_change since the previous snapshot")],
       description="Prediction drift: a snapshot of what is served (recommendation scores and the categories recommended, "
                   "ad-copy rejections) appended to monitoring.recommendation_snapshots / ad_copy_snapshots and compared "
                   "with the previous snapshot; rows in monitoring.drift_summary.")
def prediction_drift(context: AssetExecutionContext, config: PredictionDriftConfig,
                     warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.monitoring.drift import drift_report, share_change
    from ecom_assets.warehouse import table_exists

    created = _now()
    with warehouse.connect(read_only=True) as con:
        recs = con.execute(f"""
            SELECT r.model_version, r.score, r."rank", coalesce(i.category_l2, 'unknown') AS category
            FROM serving.recommendations r LEFT JOIN marts.catalogue i USING (item_id)
            USING SAMPLE reservoir({int(config.max_rows)} ROWS) REPEATABLE ({int(config.seed)})""").df()
        copy = pd.DataFrame(columns=["generator_version", "language", "candidates", "rejected"])
        if table_exists(con, "serving.ad_copy"):
            copy = con.execute("""SELECT any_value(generator_version) AS generator_version, "language",
                                         count(*) AS candidates, count(*) FILTER (WHERE NOT passed) AS rejected
                                  FROM serving.ad_copy GROUP BY "language" ORDER BY "language" """).df()
        previous_at, previous, previous_copy = None, None, None
        if table_exists(con, "monitoring.recommendation_snapshots"):
            previous_at = con.execute("SELECT max(snapshot_at) FROM monitoring.recommendation_snapshots").fetchone()[0]
            previous = con.execute("SELECT * FROM monitoring.recommendation_snapshots WHERE snapshot_at = ?",
                                   [previous_at]).df()
        if table_exists(con, "monitoring.ad_copy_snapshots"):
            previous_copy = con.execute("SELECT * FROM monitoring.ad_copy_snapshots WHERE snapshot_at = "
                                        "(SELECT max(snapshot_at) FROM monitoring.ad_copy_snapshots)").df()
    if recs.empty:
        raise ValueError("serving.recommendations is empty: nothing to snapshot")
    versions = ", ".join(sorted(recs["model_version"].unique()))
    summaries, checks, links = [], [], {}
    if previous is None or previous.empty:
        for name in PREDICTION_CHECKS.values():
            checks.append(AssetCheckResult(check_name=name, passed=True, severity=AssetCheckSeverity.WARN,
                                           description="first snapshot: the baseline later snapshots are compared with"))
    else:
        window = (f"previous snapshot {previous_at:%Y-%m-%d %H:%M:%S} (recommender {', '.join(sorted(previous['model_version'].unique()))}, "
                  f"{len(previous):,} rows) vs now (recommender {versions}, {len(recs):,} rows)")
        html = _report_path(warehouse, "predictions", created)
        summary = drift_report(previous[["score", "category"]], recs[["score", "category"]], "predictions", window, html,
                               drift_share=0.5, max_rows=config.max_rows, seed=config.seed)
        summaries.append(summary)
        links["predictions_report"] = MetadataValue.path(str(html))
        by_signal = summary.set_index("signal")
        for signal in ("score", "category"):
            row = by_signal.loc[signal]
            checks.append(AssetCheckResult(
                check_name=PREDICTION_CHECKS[signal], passed=not bool(row["drifted"]), severity=AssetCheckSeverity.WARN,
                description=f"{row['method']} {row['score']:.4f} (threshold {row['threshold']})",
                metadata={"score": float(row["score"]), "report": MetadataValue.path(str(html)), "window": window}))
        if previous_copy is not None and not previous_copy.empty and not copy.empty:
            rejection = share_change(int(previous_copy["rejected"].sum()), int(previous_copy["candidates"].sum()),
                                     int(copy["rejected"].sum()), int(copy["candidates"].sum()), "ad_copy", "rejected_share",
                                     config.max_rejection_change,
                                     f"previous snapshot (generator {', '.join(sorted(previous_copy['generator_version'].unique()))}) "
                                     f"vs now (generator {', '.join(sorted(copy['generator_version'].unique()))})")
            summaries.append(rejection)
            row = rejection.iloc[0]
            checks.append(AssetCheckResult(
                check_name=PREDICTION_CHECKS["rejected_share"], passed=not bool(row["drifted"]), severity=AssetCheckSeverity.WARN,
                description=f"rejected share moved by {row['score']:+.1%} (threshold {row['threshold']:.0%})",
                metadata={"change": float(row["score"])}))
        else:
            checks.append(AssetCheckResult(check_name=PREDICTION_CHECKS["rejected_share"], passed=True,
                                           severity=AssetCheckSeverity.WARN,
                                           description="no ad copy in this or the previous snapshot: nothing to compare"))
    with warehouse.connect() as con, transaction(con):  # the snapshot and its pruning land together or not at all
        append_rows(con, "monitoring.recommendation_snapshots", SNAPSHOT_DDL[0], recs.assign(snapshot_at=created),
                    'snapshot_at, model_version, score, "rank", category')
        if not copy.empty:
            append_rows(con, "monitoring.ad_copy_snapshots", SNAPSHOT_DDL[1], copy.assign(snapshot_at=created),
                        'snapshot_at, generator_version, "language", candidates, rejected')
        for table in ("recommendation_snapshots", "ad_copy_snapshots"):
            con.execute(f"""DELETE FROM monitoring.{table} WHERE snapshot_at NOT IN (SELECT DISTINCT snapshot_at
                            FROM monitoring.{table} ORDER BY snapshot_at DESC LIMIT {int(config.keep_snapshots)})""")
    append_drift_summary(warehouse, summaries, created)
    table = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    links["drift_over_time"] = drift_history_chart(warehouse)
    shares = (copy.assign(rejected_share=copy["rejected"] / copy["candidates"]) if not copy.empty else copy)
    return MaterializeResult(
        metadata={"dagster/row_count": len(recs), "recommender_versions": versions,
                  "previous_snapshot": str(previous_at) if previous_at else "none (first snapshot)",
                  "category_mix": counts_table(recs["category"].value_counts().head(10), "category", "recommended rows"),
                  "ad_copy_rejections": MetadataValue.md(shares.round(4).to_markdown(index=False) if not copy.empty else "no ad copy"),
                  **links,
                  **({"summary": MetadataValue.md(table.drop(columns=["window"]).round(4).to_markdown(index=False))}
                     if not table.empty else {})},
        check_results=checks)


ALERTS_DDL = """CREATE TABLE IF NOT EXISTS monitoring.alerts (created_at TIMESTAMP, kind VARCHAR, job_name VARCHAR,
                run_id VARCHAR, message VARCHAR, steps VARCHAR)"""


def record_alert(warehouse: WarehouseResource, kind: str, job_name: str, run_id: str, message: str, steps: list[str]) -> None:
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
        con.execute(ALERTS_DDL)
        con.execute("INSERT INTO monitoring.alerts VALUES (?, ?, ?, ?, ?, ?)",
                    [datetime.now(timezone.utc).replace(tzinfo=None), kind, job_name, run_id, message[:2000],
                     json.dumps(steps)])


class AlertConfig(Config):
    kind: str
    job_name: str
    run_id: str
    message: str
    steps: list[str] = []


@op(pool=POOL, description="Writes one alert row to monitoring.alerts (in the warehouse pool, like every writer).")
def write_alert(config: AlertConfig, warehouse: WarehouseResource) -> None:
    record_alert(warehouse, config.kind, config.job_name, config.run_id, config.message, config.steps)


@job(name="record_alert", description="One row in monitoring.alerts; requested by the run-failure sensor so that the "
                                      "write waits for the warehouse pool instead of racing the runs that hold it.")
def record_alert_job():
    write_alert()


def _root_cause(error) -> str:
    """The first line of the innermost error (Dagster wraps the asset's own exception in
    a step-execution error whose message names only the op)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = [line.strip() for line in (error.message or "").splitlines() if line.strip()]
    return lines[0][:500] if lines else ""


@run_failure_sensor(name="run_failure_alerts", default_status=DefaultSensorStatus.RUNNING, request_job=record_alert_job,
                    description="Every failed run (job, run id, failing steps, error) is recorded in monitoring.alerts, "
                                "through a record_alert run in the warehouse pool.")
def run_failure_alerts(context: RunFailureSensorContext):
    run = context.dagster_run
    if run.job_name == record_alert_job.name:
        return SkipReason(f"the alert run {run.run_id[:8]} itself failed: not alerting on it (no loop)")
    failures = context.get_step_failure_events()
    steps = [e.step_key for e in failures if e.step_key]
    message = context.failure_event.message or "run failed"
    # What went wrong, not only where: each failed step's own error (its first line).
    errors = [f"{e.step_key}: {_root_cause(e.event_specific_data.error)}" for e in failures
              if e.step_key and getattr(e.event_specific_data, "error", None) is not None]
    if errors:
        message = f"{message} {'; '.join(errors)}"
    return RunRequest(run_key=f"alert-{run.run_id}", run_config={"ops": {"write_alert": {"config": {
        "kind": "run_failure", "job_name": run.job_name, "run_id": run.run_id, "message": message[:2000], "steps": steps}}}})


class RollbackConfig(Config):
    model_name: str
    """A name in ml.model_registry: recommender, product_text_encoder or ad_copy_generator."""
    reason: str = "manual rollback"


@op(description="The current champion of model_name is retired and the previous one serves again.")
def restore_previous_champion(context: OpExecutionContext, config: RollbackConfig, warehouse: WarehouseResource) -> None:
    from ecom_assets.warehouse.registry import rollback

    with warehouse.connect() as con:
        restored, retired = rollback(con, config.model_name)
    context.log.info(f"{config.model_name}: {restored} serves again ({retired} retired)")
    record_alert(warehouse, "rollback", context.job_name, context.run_id,
                 f"{config.model_name}: {retired} -> {restored} ({config.reason})", [])


@job(name="rollback_model", description="Restore the previous champion of a named model in ml.model_registry; "
                                        "serving assets follow the champion on their next materialisation.")
def rollback_model():
    restore_previous_champion()


monitoring_assets = [prediction_drift]
monitoring_checks = [feature_window_drift, engaged_items_stable]
monitoring_sensors = [run_failure_alerts]
monitoring_jobs = [rollback_model, record_alert_job]
