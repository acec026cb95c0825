"""When models retrain and what follows them.

Declarative automation (evaluated by the daemon under `dagster dev`):
- the trained assets (text encoder, recommender, copy generator) are requested once a week
  (Monday 04:00 UTC), never while a run of them is in progress;
- everything downstream of a trained asset (ONNX exports, embeddings, similar items,
  serving tables, and the recommender itself, which reads the text embeddings) follows
  when a model it uses was updated, and only then: new catalogue or event data alone
  does not re-export a model.

A sensor covers what a condition cannot see, reading the warehouse:
- `retrain_on_drift_or_growth` requests the models trained on behaviour (the text encoder
  and the recommender; not the copy generator, which reads the catalogue only) and their downstream when
  a drift check on the feature tables (events, user and item window features, engaged
  items' embeddings) failed after the last training (its newest report in
  monitoring.drift_summary drifted), once per test cutoff (drift against the training
  window persists until new data moves the cutoff), or when at least RETRAIN_MIN_NEW_EVENTS events were ingested since the last
  training; it skips while a retraining run is queued or running, so retraining never
  runs twice at once. Drift retrains only the models that learn from a drifted table
  (LEARNS_FROM): user or item features that moved retrain the recommender, which ranks
  with them, not the text encoder, which learns from the events alone.

`daily_events_schedule` (stopped by default) ingests yesterday's event partition and
refreshes the dbt features every night.
"""

import os
from datetime import datetime, timezone

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    sensor,
)

from ecom_assets.assets.monitoring import BEHAVIOUR_REPORTS, EMBEDDING_REPORT
from ecom_assets.resources import WarehouseResource
from ecom_assets.run_health import IN_PROGRESS

TRAINED = [AssetKey(["ml", "product_text_encoder"]), AssetKey(["ml", "recommender"]), AssetKey(["ml", "ad_copy_generator"]),
           AssetKey(["ml", "support_encoder"])]
MODEL_NAMES = ["product_text_encoder", "recommender", "ad_copy_generator"]
WEEKLY_CRON = "0 4 * * 1"
RETRAIN_TAG = "ecom/retrain"
CUTOFF_TAG = "ecom/cutoff"  # the test cutoff a retraining ran at: drift triggers once per cutoff
RETRAIN_MIN_NEW_EVENTS = int(os.environ.get("ECOM_RETRAIN_MIN_NEW_EVENTS", "100000"))

# The loop group's assets are daily partitions turned by their own schedule (the copy
# assignments of day d follow that day's policy): a retraining run, unpartitioned, leaves them out.
MODEL_CHAIN = AssetSelection.assets(*TRAINED).downstream() - AssetSelection.groups("loop")
# What the shoppers' behaviour teaches: the encoder (next-item pairs) and the recommender.
# The copy generator learns from the catalogue's copy corpus only, so drift in behaviour or
# a pile of new events does not retrain it (its weekly retrain and a changed corpus do):
# that keeps ~2 minutes of GPT-2 training and copy generation out of each drift retraining.
TRAINED_ON_BEHAVIOUR = [AssetKey(["ml", "product_text_encoder"]), AssetKey(["ml", "recommender"])]
BEHAVIOUR_CHAIN = AssetSelection.assets(*TRAINED_ON_BEHAVIOUR).downstream() - AssetSelection.groups("loop")
WEEKLY_RETRAIN = (AutomationCondition.cron_tick_passed(WEEKLY_CRON, "UTC") & ~AutomationCondition.in_progress()
                  & ~AutomationCondition.any_deps_missing()).with_label("weekly retrain (Monday 04:00 UTC)")
FOLLOW_MODELS = (AutomationCondition.any_deps_updated().allow(MODEL_CHAIN) & ~AutomationCondition.in_progress()
                 & ~AutomationCondition.any_deps_in_progress() & ~AutomationCondition.any_deps_missing()
                 ).with_label("a model it uses was updated")


# The drift reports (monitoring.drift_summary) of the tables each behaviour model learns
# from: the encoder's next-item pairs come from the events (the engaged items' embeddings
# show the same shift in its own space); the recommender also ranks with the user and item
# window features. A report that drifted retrains the models that list it, and their downstream.
LEARNS_FROM: dict[AssetKey, tuple[str, ...]] = {
    AssetKey(["ml", "product_text_encoder"]): ("events", EMBEDDING_REPORT),
    AssetKey(["ml", "recommender"]): (*BEHAVIOUR_REPORTS,),
}

RETRAIN_RUN_CONFIG = {"ops": {"ml__product_text_encoder": {"config": {"warm_start": True}}}}
RECOMMENDER_KEYS = {AssetKey(["ml", "recommender"]), AssetKey(["ml", "recommendation_metrics"])}


def automation_condition_for(key: AssetKey, chain_keys: set[AssetKey]) -> AutomationCondition | None:
    """Weekly for trained assets, follow-the-model for the rest of the chain (the
    recommender is both: it reads the text embeddings), none elsewhere."""
    if key in RECOMMENDER_KEYS:
        return (WEEKLY_RETRAIN | FOLLOW_MODELS).with_label("weekly, or when the text embeddings it reads change")
    if key in TRAINED:
        return WEEKLY_RETRAIN
    if key in chain_keys:
        return FOLLOW_MODELS
    return None


def _verdict(report: str, score: float) -> str:
    return f"{report} (ROC AUC {score:.2f})" if report == EMBEDDING_REPORT else f"{report} ({score:.0%} of columns)"


def models_to_retrain(drifted_reports: list[str]) -> list[AssetKey]:
    """The behaviour models that learn from a table whose drift report drifted."""
    return [model for model, reports in LEARNS_FROM.items() if set(reports) & set(drifted_reports)]


def retrain_decision(con, min_new_events: int, drift_handled_for: str | None = None) -> tuple[bool, str, list[AssetKey]]:
    """(retrain?, why, which models) from the registry, the drift summary and the ingest ledger.

    Drift compares the window after the test cutoff with the training window before it,
    so it persists after a retraining on the same data: it triggers once per cutoff
    (`drift_handled_for` is the cutoff a drift retraining already ran for). Drift
    retrains the models that learn from a drifted table; enough new events, all of them."""
    from ecom_assets.warehouse import table_exists
    from ecom_assets.warehouse.registry import REGISTRY_TABLE

    handled = ""
    if not table_exists(con, REGISTRY_TABLE):
        return False, "no model trained yet: materialise the graph first", []
    placeholders = ", ".join("?" for _ in MODEL_NAMES)
    last = con.execute(f"SELECT max(created_at) FROM {REGISTRY_TABLE} WHERE name IN ({placeholders})", MODEL_NAMES).fetchone()[0]
    if last is None:
        return False, "no model trained yet: materialise the graph first", []
    if table_exists(con, "monitoring.drift_summary"):
        # Each report's newest verdict, if it came after the last training.
        reports = ", ".join(f"'{r}'" for r in BEHAVIOUR_REPORTS)
        drifted = con.execute(f"""
            WITH newest AS (SELECT report, max(created_at) AS at FROM monitoring.drift_summary
                            WHERE report IN ({reports}) GROUP BY report)
            SELECT s.report, s.score FROM monitoring.drift_summary s JOIN newest n ON s.report = n.report AND s.created_at = n.at
            WHERE s.signal = 'dataset' AND s.drifted AND s.created_at > ? ORDER BY s.report""", [last]).fetchall()
        cutoff = str(con.execute("SELECT cutoff FROM marts.split_cutoff").fetchone()[0])
        if drifted and cutoff != drift_handled_for:
            models = models_to_retrain([r for r, _ in drifted])
            return (True, "drift since the last training: " + ", ".join(_verdict(r, s) for r, s in drifted)
                    + " (retrains " + ", ".join(m.to_user_string() for m in models) + ")", models)
        if drifted:
            handled = f"drift at cutoff {cutoff} already retrained for; "
    new_events = con.execute("SELECT coalesce(sum(rows_accepted), 0) FROM raw.ingest_ledger "
                             "WHERE target_table IN ('raw.events', 'raw.inbox_events') AND loaded_at > ?", [last]).fetchone()[0]
    if new_events >= min_new_events:
        return True, f"{new_events:,} new events since the last training (threshold {min_new_events:,})", \
            list(TRAINED_ON_BEHAVIOUR)
    return False, handled or f"no drift reported after the last training ({last:%Y-%m-%d %H:%M}); " \
        + f"{new_events:,} new events (threshold {min_new_events:,})", []


@sensor(name="retrain_on_drift_or_growth", minimum_interval_seconds=600, asset_selection=BEHAVIOUR_CHAIN,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests the models that learn from behaviour (text encoder, recommender) and everything "
                    "downstream when a drift check on the feature tables failed after the last training or enough new "
                    "events arrived; never while a retraining run is in flight.")
def retrain_on_drift_or_growth(context: SensorEvaluationContext, warehouse: WarehouseResource):
    in_flight = context.instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS, tags={RETRAIN_TAG: "true"}), limit=1)
    if in_flight:
        return SkipReason(f"retraining run {in_flight[0].run_id[:8]} is still in progress")
    with warehouse.connect(read_only=True) as con:
        cutoff = str(con.execute("SELECT cutoff FROM marts.split_cutoff").fetchone()[0])
        done = context.instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.SUCCESS],
                                                            tags={RETRAIN_TAG: "true", CUTOFF_TAG: cutoff}), limit=1)
        retrain, why, models = retrain_decision(con, RETRAIN_MIN_NEW_EVENTS, drift_handled_for=cutoff if done else None)
    if not retrain:
        return SkipReason(why)
    keys = retrain_selection(context, models)
    # A retraining continues from the serving encoder (its vocabulary extension included).
    run_config = RETRAIN_RUN_CONFIG if keys is None or AssetKey(["ml", "product_text_encoder"]) in keys else None
    return RunRequest(run_key=f"retrain-{datetime.now(timezone.utc):%Y%m%dT%H%M}", run_config=run_config,
                      asset_selection=keys,
                      tags={RETRAIN_TAG: "true", CUTOFF_TAG: cutoff, "ecom/reason": why[:200]})


def retrain_selection(context: SensorEvaluationContext, models: list[AssetKey]) -> list[AssetKey] | None:
    """The assets a retraining of `models` runs: they and their downstream outside the loop,
    in the sensor's own selection. None (the sensor's whole selection) when the context
    carries no definitions to resolve it against, or every behaviour model retrains."""
    repository = context.repository_def
    if repository is None or set(models) >= set(TRAINED_ON_BEHAVIOUR):
        return None
    graph = repository.asset_graph
    chain = BEHAVIOUR_CHAIN.resolve(graph)
    # A multi-asset runs whole (the recommender and its metrics), so its siblings come along.
    wanted = (AssetSelection.assets(*models).required_multi_asset_neighbors().downstream()
              - AssetSelection.groups("loop")).resolve(graph)
    return sorted(wanted & chain, key=lambda k: k.to_user_string())


def daily_events_schedule_for(raw_events, dbt_features):
    job = define_asset_job("daily_events", selection=AssetSelection.assets(raw_events, dbt_features),
                           partitions_def=raw_events.partitions_def,
                           description="One day of events into raw.events, then the dbt features.")
    return build_schedule_from_partitioned_job(job, hour_of_day=1, minute_of_hour=0,
                                               default_status=DefaultScheduleStatus.STOPPED), job
