"""Monitoring: Evidently drift summaries that flag a shifted window and not a steady
one, the synthetic shop's drift knob failing the drift checks on the feature tables and
retraining the models, prediction drift between serving snapshots, the rollback job
restoring the previous champion, and failed runs recorded as alerts."""

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, build_run_status_sensor_context, materialize

from ecom_assets.assets.monitoring import run_failure_alerts
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS, defs
from ecom_assets.ml.monitoring.drift import data_quality, drift_report, embedding_drift, share_change
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


def test_a_drifted_week_fails_the_drift_checks_and_retrains_through_the_gates(tmp_path):
    """The demo shop built on two weeks, every model trained; then a third week arrives
    with the shop's tastes shifted (the drift knob): the drift check on the events table
    fails, the retrain sensor asks for the model chain, new versions are trained, gated
    and registered, prediction drift compares the new serving tables with the baseline,
    and the drift summary and registry show it all."""
    from dagster import RunRequest, build_sensor_context

    from ecom_assets.assets.automation import retrain_on_drift_or_growth
    from ecom_assets.demo import run_pipeline

    res = make_resources(tmp_path, n_days=21, drift_date="2026-10-15", drift_strength=1.0)
    days = res["source"].demo_partitions
    assert days[14] == "2026-10-15"
    tiny = {"ml__product_text_encoder": {"epochs": 3}, "recommender": {"sasrec_seconds": 0.0},
            "ml__ad_copy_generator": {"steps": 60}, "serving__ad_copy": {"variants": 1, "max_products": 20}}
    from ecom_assets.demo import DEMO_STAGES

    # baseline: every model trained once (the service group reads no behaviour; it is tested on its own)
    run_pipeline(res, log=lambda _: None, op_config=tiny, partitions=days[:14],
                 stages=tuple(s for s in DEMO_STAGES if s != "service"))
    quiet = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                            resources={"warehouse": res["warehouse"]}))
    assert not isinstance(quiet, RunRequest), "no drift reported after the baseline training"

    warnings = []
    run_pipeline(res, log=warnings.append, stages=("events", "features"), partitions=days[14:])  # the drifted week
    assert any("staging/stg_events:stable_against_training_window did not pass" in w for w in warnings), warnings
    drifted = query(res, "SELECT signal FROM monitoring.drift_summary WHERE report = 'events' AND drifted "
                         "AND created_at = (SELECT max(created_at) FROM monitoring.drift_summary WHERE report = 'events')")
    assert "category" in set(drifted["signal"])
    assert len(list((tmp_path / "reports").glob("events_drift_*.html"))) == 2  # the baseline's and the new week's

    request = retrain_on_drift_or_growth(build_sensor_context(instance=DagsterInstance.ephemeral(),
                                                              resources={"warehouse": res["warehouse"]}, definitions=defs))
    assert isinstance(request, RunRequest) and "drift since the last training: events" in request.tags["ecom/reason"]
    assert request.asset_selection is None, "the events teach both models: the sensor's whole chain"
    selection = retrain_on_drift_or_growth.asset_selection
    graph = defs.resolve_asset_graph()
    ops = {graph.get(k).assets_def.op.name for k in selection.resolve(graph)}
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=res, tags=request.tags,
                         run_config={"ops": {op: {"config": c} for op, c in tiny.items() if op in ops}},
                         raise_on_error=False)
    registry = query(res, "SELECT name, status, decision FROM ml.model_registry ORDER BY created_at")
    assert (registry["name"] == "ad_copy_generator").sum() == 1, "behaviour drift does not retrain the copy generator"
    for name in ("product_text_encoder", "recommender"):
        versions = registry[registry["name"] == name]
        assert len(versions) == 2, f"{name} retrained once"
        assert {"champion"} <= set(versions["status"]) and set(versions["status"]) <= {"champion", "retired", "rejected"}
        decision = json.loads(versions["decision"].iloc[-1])
        assert "no champion yet" not in decision["reason"], "the gate compared the two"
        assert decision["basis"] == "same data", f"{name}: the champion was re-scored on the challenger's validation data"
    gates = [e for e in result.get_asset_check_evaluations() if e.check_name == "champion_challenger_gate"]
    assert len(gates) == 2  # the text encoder and the recommender
    snapshots = query(res, "SELECT count(DISTINCT snapshot_at) AS n FROM monitoring.recommendation_snapshots")["n"][0]
    assert snapshots == 2, "the retraining's serving tables were compared with the baseline's"
    assert {"score", "category"} <= set(query(res, "SELECT signal FROM monitoring.drift_summary WHERE report = 'predictions'")["signal"])


def _prediction_checks(res) -> dict:
    from ecom_assets.assets.monitoring import prediction_drift

    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(prediction_drift), resources=res)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_prediction_drift_is_quiet_on_the_same_predictions_and_flags_shifted_ones(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    res = make_resources(tmp_path)
    steady = _prediction_checks(res)  # against the snapshot the build took
    assert set(steady) == {"recommendation_scores_stable", "recommended_category_mix_stable", "ad_copy_rejection_share_stable"}
    assert all(c.passed for c in steady.values()), {n: c.description for n, c in steady.items()}

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    top = con.execute("SELECT category_l2 FROM marts.item_features GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    con.execute("""UPDATE serving.recommendations SET score = score * 3 + 1,
                   item_id = (SELECT min(item_id) FROM marts.item_features WHERE category_l2 = ?)""", [top])
    con.execute("UPDATE serving.ad_copy SET passed = false WHERE variant = 0")
    con.close()
    shifted = _prediction_checks(res)
    assert not any(c.passed for c in shifted.values()), {n: c.description for n, c in shifted.items()}
    summary = query(res, "SELECT report, signal, drifted FROM monitoring.drift_summary WHERE report IN ('predictions', 'ad_copy') "
                         "AND created_at = (SELECT max(created_at) FROM monitoring.drift_summary)")
    assert summary["drifted"].all() and set(summary["signal"]) == {"score", "category", "rejected_share", "dataset"}
    assert query(res, "SELECT count(DISTINCT snapshot_at) AS n FROM monitoring.ad_copy_snapshots")["n"][0] == 3


def test_a_snapshot_that_fails_halfway_leaves_no_half_snapshot(built, tmp_path, monkeypatch):
    import ecom_assets.assets.monitoring as monitoring
    from ecom_assets.assets.monitoring import prediction_drift

    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    res = make_resources(tmp_path)
    before = query(res, "SELECT count(*) AS n FROM monitoring.recommendation_snapshots")["n"][0]
    real_append = monitoring.append_rows

    def fail_on_copy(con, qualified, *args, **kwargs):
        if qualified == "monitoring.ad_copy_snapshots":
            raise OSError("disk full")
        return real_append(con, qualified, *args, **kwargs)

    monkeypatch.setattr(monitoring, "append_rows", fail_on_copy)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(prediction_drift), resources=res,
                         raise_on_error=False)
    assert not result.success
    assert query(res, "SELECT count(*) AS n FROM monitoring.recommendation_snapshots")["n"][0] == before, \
        "the recommendation half of the snapshot was rolled back with the failed ad-copy half"


def test_share_change_flags_a_moved_rate_either_way():
    assert not share_change(20, 1000, 30, 1000, "r", "s", 0.05, "w").set_index("signal").loc["s", "drifted"]
    up = share_change(20, 1000, 90, 1000, "r", "s", 0.05, "w").set_index("signal")
    down = share_change(90, 1000, 20, 1000, "r", "s", 0.05, "w").set_index("signal")
    assert up.loc["s", "drifted"] and down.loc["s", "drifted"] and up.loc["s", "score"] == pytest.approx(0.07)
    with pytest.raises(ValueError, match="nothing to compare"):
        share_change(0, 0, 1, 10, "r", "s", 0.05, "w")


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
    request = run_failure_alerts(context)
    # The sensor requests a record_alert run (in the warehouse pool) instead of writing itself.
    assert request.run_key == f"alert-{failed.dagster_run.run_id}"
    assert not res["warehouse"].resolved_path.exists() or query(
        res, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'alerts'")["n"][0] == 0
    assert defs.get_job_def("record_alert").execute_in_process(run_config=request.run_config, resources=res).success
    alerts = query(res, "SELECT * FROM monitoring.alerts")
    assert alerts["kind"].tolist() == ["run_failure"] and alerts["job_name"][0] == "rollback_model"
    assert "restore_previous_champion" in json.loads(alerts["steps"][0])


def test_the_reference_profile_from_sql_is_what_the_rows_give(built):
    # The quality check profiles the reference window in one query instead of loading it.
    from ecom_assets.assets.monitoring import SQL, _reference_profile
    from ecom_assets.ml.monitoring.drift import ReferenceProfile

    events = query(built, f"SELECT * FROM ({SQL['events']}) WHERE win = 'reference'").drop(columns="win")
    expected = ReferenceProfile.of(events, ("event_type", "category"))
    got = _reference_profile(built["warehouse"])
    assert got.rows == expected.rows > 0 and got.values == expected.values
    assert got.missing_share == pytest.approx(expected.missing_share)
