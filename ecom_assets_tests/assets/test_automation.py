"""Automation, tested with Dagster's own evaluation tools: the weekly retrain tick, the
model chain following a retrained model (and not plain data updates), and the
drift-or-growth sensor that never starts a second retraining run."""

import shutil
from datetime import datetime, timedelta, timezone

import duckdb
import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    evaluate_automation_conditions,
)

from ecom_assets.assets.automation import CUTOFF_TAG, RETRAIN_TAG, TRAINED, retrain_on_drift_or_growth
from ecom_assets.definitions import defs
from ecom_assets_tests.conftest import make_resources

ENCODER, ONNX = AssetKey(["ml", "product_text_encoder"]), AssetKey(["ml", "product_text_encoder_onnx"])


def _instance_with_everything_materialised() -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if not defs.resolve_asset_graph().get(key).is_partitioned:
            instance.report_runless_asset_event(AssetMaterialization(key))
    return instance


def _requested(result) -> set:
    return {key for key in result.get_requested_subset_keys()} if hasattr(result, "get_requested_subset_keys") else \
        {r.key for r in result.results if r.true_subset.size > 0}


def test_trained_assets_are_requested_once_the_weekly_tick_has_passed():
    instance = _instance_with_everything_materialised()
    sunday = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    first = evaluate_automation_conditions(defs, instance, evaluation_time=sunday)
    assert not set(TRAINED) & _requested(first)
    monday = evaluate_automation_conditions(defs, instance, evaluation_time=sunday + timedelta(hours=17),
                                            cursor=first.cursor)
    assert set(TRAINED) <= _requested(monday)


def test_a_retrained_model_is_followed_by_its_chain_and_plain_data_is_not():
    instance = _instance_with_everything_materialised()
    now = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    first = evaluate_automation_conditions(defs, instance, evaluation_time=now)
    instance.report_runless_asset_event(AssetMaterialization(AssetKey(["marts", "item_features"])))
    data_only = evaluate_automation_conditions(defs, instance, evaluation_time=now + timedelta(minutes=5), cursor=first.cursor)
    assert ONNX not in _requested(data_only), "a catalogue refresh alone does not re-export the model"
    instance.report_runless_asset_event(AssetMaterialization(ENCODER))
    after_model = evaluate_automation_conditions(defs, instance, evaluation_time=now + timedelta(minutes=10),
                                                 cursor=data_only.cursor)
    assert ONNX in _requested(after_model)


def test_the_retrain_sensor_reacts_to_drift_after_training_and_never_runs_twice(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    res = make_resources(tmp_path)
    instance = DagsterInstance.ephemeral()

    def evaluate():
        return retrain_on_drift_or_growth(build_sensor_context(instance=instance, resources={"warehouse": res["warehouse"]},
                                                               definitions=defs))

    quiet = evaluate()
    assert isinstance(quiet, SkipReason) and "no drift reported after the last training" in quiet.skip_message
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1)
    con.register("_d", pd.DataFrame([{"report": "events", "signal": "dataset", "method": "share", "score": 0.8,
                                      "threshold": 0.5, "drifted": True, "window": "w", "created_at": later}]))
    con.execute("INSERT INTO monitoring.drift_summary SELECT * FROM _d")
    con.close()
    request = evaluate()
    assert isinstance(request, RunRequest) and request.tags[RETRAIN_TAG] == "true" and request.tags[CUTOFF_TAG]
    assert "drift since the last training: events (80% of columns)" in request.tags["ecom/reason"]
    assert request.asset_selection is None, "the events teach both behaviour models: the sensor's whole chain"
    assert request.run_config["ops"]["ml__product_text_encoder"]["config"] == {"warm_start": True}, \
        "a retraining continues from the serving encoder"
    running = DagsterRun(job_name="__ASSET_JOB", run_id="a" * 36, status=DagsterRunStatus.STARTED, tags=request.tags)
    instance.add_run(running)
    busy = evaluate()
    assert isinstance(busy, SkipReason) and "still in progress" in busy.skip_message
    instance.delete_run(running.run_id)
    instance.add_run(running.with_status(DagsterRunStatus.SUCCESS))
    handled = evaluate()
    assert isinstance(handled, SkipReason) and "already retrained for" in handled.skip_message, \
        "drift against the same training window retrains once, not every time the report is refreshed"


def test_a_retraining_run_holds_no_partitioned_asset():
    # A retraining is one unpartitioned run: a daily-partitioned asset in its selection (the
    # loop's copy assignments, downstream of the ad copy) fails it.
    from ecom_assets.assets.automation import BEHAVIOUR_CHAIN, MODEL_CHAIN

    graph = defs.resolve_asset_graph()
    chain = MODEL_CHAIN.resolve(graph)
    assert AssetKey(["serving", "ad_copy"]) in chain and AssetKey(["ml", "recommender"]) in chain
    partitioned = [k.to_user_string() for k in chain if graph.get(k).partitions_def is not None]
    assert partitioned == []
    # The drift retraining: what learns from behaviour and what reads it, not the copy generator.
    retrain = BEHAVIOUR_CHAIN.resolve(graph)
    assert retrain <= chain and AssetKey(["serving", "recommendations"]) in retrain
    assert AssetKey(["ml", "ad_copy_generator"]) not in retrain and AssetKey(["serving", "ad_copy"]) not in retrain


def _insert_drift(path, report: str, minutes: int) -> None:
    con = duckdb.connect(str(path))
    later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=minutes)
    con.register("_d", pd.DataFrame([{"report": report, "signal": "dataset", "method": "share", "score": 0.6,
                                      "threshold": 0.5, "drifted": True, "window": "w", "created_at": later}]))
    con.execute("INSERT INTO monitoring.drift_summary SELECT * FROM _d")
    con.close()


def test_drift_in_the_ranking_features_alone_retrains_the_recommender_not_the_text_encoder(built, tmp_path):
    from dagster import AssetSelection

    from ecom_assets.assets.automation import BEHAVIOUR_CHAIN

    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    res = make_resources(tmp_path)
    _insert_drift(tmp_path / "warehouse.duckdb", "user_features", 1)
    request = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                              resources={"warehouse": res["warehouse"]}, definitions=defs))
    assert isinstance(request, RunRequest)
    assert "user_features (60% of columns) (retrains ml/recommender)" in request.tags["ecom/reason"]
    selected = set(request.asset_selection)
    graph = defs.resolve_asset_graph()
    assert {AssetKey(["ml", "recommender"]), AssetKey(["ml", "recommendation_metrics"]),
            AssetKey(["serving", "recommendations"])} <= selected
    assert not selected & {ENCODER, ONNX, AssetKey(["ml", "item_embeddings"])}, "the encoder learns from events only"
    assert selected <= BEHAVIOUR_CHAIN.resolve(graph), "a subset of what the sensor may request"
    assert request.run_config in (None, {}), "no encoder in the run: no warm-start config for it"
    # The request is launchable as is: the recommender's multi-asset whole, nothing partitioned.
    assert AssetSelection.assets(*selected).resolve(graph) == selected
    assert all(graph.get(k).partitions_def is None for k in selected)
    # Drift the encoder's own space shows too widens the run to the whole chain.
    _insert_drift(tmp_path / "warehouse.duckdb", "engaged_item_embeddings", 2)
    both = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                           resources={"warehouse": res["warehouse"]}, definitions=defs))
    assert both.asset_selection is None and ENCODER.to_user_string() in both.tags["ecom/reason"]


def test_every_behaviour_report_retrains_some_model():
    from ecom_assets.assets.automation import LEARNS_FROM, TRAINED_ON_BEHAVIOUR
    from ecom_assets.assets.monitoring import BEHAVIOUR_REPORTS

    assert set(LEARNS_FROM) == set(TRAINED_ON_BEHAVIOUR)
    assert set().union(*LEARNS_FROM.values()) == set(BEHAVIOUR_REPORTS)
