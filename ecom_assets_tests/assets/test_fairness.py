"""Trust on the tiny shop: the fairness report, an exposure constraint on the served lists,
explanations beside them, and item-KNN trained on private counts through the ledger."""

import shutil

import duckdb
import numpy as np
import pytest
from dagster import AssetKey, AssetSelection, materialize

from ecom_assets.assets.fairness import fairness_report
from ecom_assets.assets.recommend import recommendations, recommender
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets.resources import PrivacyResource, WarehouseResource
from ecom_assets_tests.conftest import make_resources, query


def test_the_fairness_report_covers_every_grouping_and_its_trade_off(built):
    exposure = query(built, "SELECT * FROM monitoring.fairness_exposure")
    assert set(exposure["dimension"]) == {"brand", "category", "price_tier", "item_age"}
    for _, part in exposure.groupby("dimension"):
        assert np.isclose(part["exposure_share"].sum(), 1.0)
    quality = query(built, "SELECT * FROM monitoring.fairness_quality")
    assert set(quality["dimension"]) == {"activity", "segment", "language", "tenure"}
    assert (quality["ci_low"] <= quality["ndcg_10"]).all() and (quality["ndcg_10"] <= quality["ci_high"]).all()
    curve = query(built, "SELECT * FROM monitoring.fairness_tradeoff")
    assert len(curve) == 12
    uncapped = curve[curve["cap_share"].isna()].sort_values("floor_share")
    assert uncapped["new_item_exposure_share"].is_monotonic_increasing
    reports = sorted((built["warehouse"].resolved_path.parent / "reports").glob("fairness_*.html"))
    assert reports and "<svg" in reports[-1].read_text()


def test_the_fairness_check_warns_when_a_bound_is_crossed(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))

    def run(**config):
        result = materialize([fairness_report], resources={"warehouse": warehouse},
                             run_config={"ops": {"monitoring__fairness_report": {"config": {"bootstraps": 50, **config}}}})
        return result.get_asset_check_evaluations()[0]

    loose = run(max_exposure_gini=1.0, max_brand_share=1.0, max_quality_gap=1.0)
    assert loose.passed
    strict = run(max_exposure_gini=0.0)
    assert not strict.passed and strict.severity.value == "WARN" and "exposure Gini" in strict.description


def _serving_copy(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    shutil.copytree(built["model_store"].resolved_root, tmp_path / "models")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for version, path in con.execute("SELECT version, artifact_path FROM ml.model_registry").fetchall():
        con.execute("UPDATE ml.model_registry SET artifact_path = ? WHERE version = ?",
                    [path.replace(str(built["model_store"].resolved_root), str(tmp_path / "models")), version])
    con.close()
    return make_resources(tmp_path)


def test_a_floor_for_new_items_reaches_the_served_lists_with_their_explanations(built, tmp_path):
    served = query(built, "SELECT * FROM serving.recommendations")
    explained = served[served["strategy"] != "cold_start"]
    assert explained["top_contributions"].notna().all()
    assert explained["top_contributions"].str.match(r"^\w+ [+-]\d").all()
    res = _serving_copy(built, tmp_path)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommendations), resources=res,
                         run_config={"ops": {"serving__recommendations": {"config": {"new_item_floor": 0.3}}}})
    assert result.success
    meta = result.asset_materializations_for_node("serving__recommendations")[0].metadata
    assert meta["new_item_exposure_share_after"].value >= meta["new_item_exposure_share_before"].value
    assert meta["slots_changed_by_constraint"].value > 0
    assert sum(meta["score_share_by_strategy"].value.values()) == pytest.approx(1.0, abs=1e-3)
    lists = query(res, "SELECT user_id, rank FROM serving.recommendations")
    assert lists.groupby("user_id")["rank"].max().le(20).all() and lists["rank"].min() == 1


def test_item_knn_on_private_counts_is_recorded_and_refused_over_budget(built, tmp_path):
    res = _serving_copy(built, tmp_path)
    config = {"sasrec_seconds": 0.0, "ranker": False, "rescore_champion": False, "item_knn_epsilon": 0.5,
              "item_knn_max_items": 3}
    versions_before = len(query(res, "SELECT * FROM ml.model_registry WHERE name = 'recommender'"))
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommender), resources=res,
                         run_config={"ops": {"recommender": {"config": config}}})
    meta = next(m.metadata for m in result.asset_materializations_for_node("recommender")
                if m.asset_key == AssetKey(["ml", "recommender"]))
    fits = meta["private_item_knn_fits"].value
    assert fits >= 2 and np.isclose(meta["privacy_epsilon"].value, 0.5 * fits)
    ledger = query(res, "SELECT * FROM privacy.ledger WHERE query LIKE 'item-KNN%'")
    assert len(ledger) == 2 * fits and set(ledger["mechanism"]) == {"discrete Laplace"}
    assert len(query(res, "SELECT * FROM ml.model_registry WHERE name = 'recommender'")) == versions_before + 1
    # A budget that the next training cannot afford: refused, nothing registered.
    poor = {**res, "privacy": PrivacyResource(key_file=res["privacy"].key_file, epsilon_per_period=0.1)}
    refused = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommender), resources=poor,
                          run_config={"ops": {"recommender": {"config": config}}}, raise_on_error=False)
    assert not refused.success
    assert len(query(res, "SELECT * FROM ml.model_registry WHERE name = 'recommender'")) == versions_before + 1
