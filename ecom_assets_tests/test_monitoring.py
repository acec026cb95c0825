"""Monitoring: Evidently drift summaries that flag a shifted window and not a steady
one, the synthetic shop's drift knob showing up in the feature drift checks, the
rollback job restoring the previous champion, and failed runs recorded as alerts."""

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, build_run_status_sensor_context, materialize

from ecom_assets.assets.monitoring import feature_drift, run_failure_alerts
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS, defs
from ecom_assets.ml.drift import data_quality, drift_report, embedding_drift
from ecom_assets_tests.conftest import make_resources, query


def test_drift_summary_flags_shifted_columns_and_not_steady_ones(tmp_path):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"price": rng.normal(100, 10, 3000), "category": rng.choice(["a", "b", "c"], 3000),
                              "steady": rng.normal(0, 1, 3000)})
    current = pd.DataFrame({"price": rng.normal(130, 10, 3000), "category": rng.choice(["a", "b", "c"], 3000, p=[.8, .1, .1]),
                            "steady": rng.normal(0, 1, 3000)})
    summary = drift_report(reference, current, "toy", "w", tmp_path / "toy.html").set_index("signal")
    assert summary.loc["price", "drifted"] and summary.loc["category", "drifted"] and not summary.loc["steady", "drifted"]
    assert summary.loc["dataset", "score"] == pytest.approx(2 / 3) and summary.loc["dataset", "drifted"]
    assert (tmp_path / "toy.html").stat().st_size > 10_000
    with pytest.raises(ValueError, match="nothing to compare"):
        drift_report(reference, current.iloc[:0], "toy", "w")


def test_embedding_drift_separates_shifted_vectors_and_not_resampled_ones():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, (400, 16))
    same = embedding_drift(base, base[rng.permutation(400)], "emb", "w").set_index("signal")
    shifted = embedding_drift(base, rng.normal(0.6, 1, (400, 16)), "emb", "w").set_index("signal")
    assert not same.loc["embedding", "drifted"] and shifted.loc["embedding", "drifted"]
    assert shifted.loc["embedding", "score"] > 0.9


def test_data_quality_flags_volume_missing_values_and_unseen_categories():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"event_type": rng.choice(["view", "purchase"], 7000), "price": rng.normal(50, 5, 7000)})
    steady = pd.DataFrame({"event_type": rng.choice(["view", "purchase"], 1000), "price": rng.normal(50, 5, 1000)})
    ok = data_quality(reference, steady, 7, "w", categorical=("event_type",)).set_index("signal")
    assert not ok["drifted"].any() and ok.loc["volume", "score"] == pytest.approx(1.0)
    broken = pd.DataFrame({"event_type": ["view", "refund"] * 150, "price": [None, 1.0] * 150})
    bad = data_quality(reference, broken, 7, "w", categorical=("event_type",)).set_index("signal")
    assert bad.loc["volume", "drifted"] and bad.loc["missing:price", "drifted"] and bad.loc["new_values:event_type", "drifted"]
    assert "refund" in bad.loc["new_values:event_type", "method"] and bad.loc["dataset", "drifted"]


def test_drift_in_the_shop_fails_the_drift_check_and_retrains_through_the_gates(tmp_path):
    """The demo shop's drift knob turned on from the first test day: the events report
    drifts, the retrain sensor asks for the model chain, new versions are trained, gated
    and registered, and the drift summary and registry show it all."""
    from dagster import RunRequest, build_sensor_context

    from ecom_assets.assets.automation import retrain_on_drift_or_growth
    from ecom_assets.cli import DEMO_STAGES, run_pipeline

    res = make_resources(tmp_path, n_days=21, drift_date="2026-10-15", drift_strength=1.0)
    tiny = {"ml__product_text_encoder": {"epochs": 3}, "recommender": {"sasrec_seconds": 0.0},
            "ml__ad_copy_generator": {"steps": 60}, "serving__ad_copy": {"variants": 1, "max_products": 20}}
    baseline = tuple(s for s in DEMO_STAGES if s != "monitoring")
    run_pipeline(res, log=lambda _: None, op_config=tiny, stages=baseline)  # every model trained once
    checks = {e.check_name: e for e in materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(feature_drift),
                                                   resources=res).get_asset_check_evaluations()}
    assert not checks["events_stable"].passed
    drifted = query(res, "SELECT signal FROM monitoring.drift_summary WHERE report = 'events' AND drifted")["signal"]
    assert "category" in set(drifted)
    assert len(list((tmp_path / "reports").glob("events_drift_*.html"))) == 1

    request = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                              resources={"warehouse": res["warehouse"]}))
    assert isinstance(request, RunRequest) and "drift since the last training: events" in request.tags["ecom/reason"]
    selection = retrain_on_drift_or_growth.asset_selection
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=res, tags=request.tags,
                         run_config={"ops": {op: {"config": c} for op, c in tiny.items()}}, raise_on_error=False)
    registry = query(res, "SELECT name, status, decision FROM ml.model_registry ORDER BY created_at")
    for name in ("product_text_encoder", "recommender", "ad_copy_generator"):
        versions = registry[registry["name"] == name]
        assert len(versions) == 2, f"{name} retrained once"
        assert {"champion"} <= set(versions["status"]) and set(versions["status"]) <= {"champion", "retired", "rejected"}
        assert "no champion yet" not in json.loads(versions["decision"].iloc[-1])["reason"], "the gate compared the two"
    gates = [e for e in result.get_asset_check_evaluations() if e.check_name == "champion_challenger_gate"]
    assert len(gates) == 3


def test_rollback_restores_the_previous_champion_and_serving_follows_it(built, tmp_path):
    from ecom_assets.assets.recommend import recommendations

    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    row = con.execute("SELECT * FROM ml.model_registry WHERE name = 'recommender' AND status = 'champion'").df().iloc[0]
    older = row.copy()
    older["version"], older["status"] = "older-good-version", "retired"
    older["created_at"] = row["created_at"] - pd.Timedelta(days=1)
    con.register("_older", pd.DataFrame([older]))
    con.execute("INSERT INTO ml.model_registry SELECT * FROM _older")
    con.close()
    res = make_resources(tmp_path)
    result = defs.get_job_def("rollback_model").execute_in_process(
        run_config={"ops": {"restore_previous_champion": {"config": {"model_name": "recommender"}}}}, resources=res)
    assert result.success
    statuses = query(res, "SELECT version, status FROM ml.model_registry WHERE name = 'recommender'").set_index("version")["status"]
    assert statuses["older-good-version"] == "champion" and statuses[row["version"]] == "rolled_back"
    materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommendations), resources=res)
    assert query(res, "SELECT DISTINCT model_version FROM serving.recommendations")["model_version"].tolist() == ["older-good-version"]
    alerts = query(res, "SELECT kind, message FROM monitoring.alerts")
    assert alerts["kind"].tolist() == ["rollback"] and "older-good-version" in alerts["message"][0]
    again = defs.get_job_def("rollback_model").execute_in_process(
        run_config={"ops": {"restore_previous_champion": {"config": {"model_name": "recommender"}}}}, resources=res,
        raise_on_error=False)
    assert not again.success, "no earlier retired version left: a clear failure, nothing changed"


def test_a_failed_run_is_recorded_in_the_alerts_table(tmp_path):
    res = make_resources(tmp_path)
    instance = DagsterInstance.ephemeral()
    failed = defs.get_job_def("rollback_model").execute_in_process(
        run_config={"ops": {"restore_previous_champion": {"config": {"model_name": "nothing"}}}}, resources=res,
        instance=instance, raise_on_error=False)
    assert not failed.success
    failure_event = next(e for e in failed.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = build_run_status_sensor_context(sensor_name="run_failure_alerts", dagster_event=failure_event,
                                              dagster_instance=instance, dagster_run=failed.dagster_run,
                                              resources={"warehouse": res["warehouse"]}).for_run_failure()
    run_failure_alerts(context)
    alerts = query(res, "SELECT * FROM monitoring.alerts")
    assert alerts["kind"].tolist() == ["run_failure"] and alerts["job_name"][0] == "rollback_model"
    assert "restore_previous_champion" in json.loads(alerts["steps"][0])
