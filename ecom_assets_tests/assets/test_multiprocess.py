"""What a person does in the UI: materialise serving/recommendations with the default
multiprocess executor, each step in its own process. In-process runs cannot see a model
that loads only because some module happened to be imported earlier."""

import shutil

from dagster import AssetKey, DagsterEventType, execute_job, instance_for_test, reconstructable


def recommend_job():
    from ecom_assets.definitions import defs

    return defs.resolve_job_def("recommend_job")


def test_serving_recommendations_materialises_in_its_own_process(built, tmp_path, monkeypatch):
    from ecom_assets.ml.recsys.strategy import load_strategy
    from ecom_assets_tests.conftest import query

    champion = query(built, "SELECT artifact_path FROM ml.model_registry WHERE name = 'recommender' "
                            "AND status = 'champion'")["artifact_path"][0]
    assert "text" in load_strategy(champion)[0].components, "the champion must hold the text strategy"
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built["warehouse"].resolved_path, warehouse)  # the session's warehouse stays read-only
    # The code location's default resources read these, in every step's process.
    monkeypatch.setenv("ECOM_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ECOM_MODEL_DIR", str(built["model_store"].resolved_root))
    assert "multi" in recommend_job().executor_def.name
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = execute_job(reconstructable(recommend_job), instance=instance,
                             asset_selection=[AssetKey(["serving", "recommendations"])])
        engine = [e.message for e in instance.all_logs(result.run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert any("subprocess" in (m or "").lower() or "multiprocess" in (m or "").lower() for m in engine), engine
    served = type(built["warehouse"])(path=str(warehouse)).query("SELECT count(*) AS n FROM serving.recommendations")
    assert served["n"][0] > 0
