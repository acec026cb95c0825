"""The recommend group on the tiny shop: metrics for every strategy, served lists with
reasons from the champion, and a gate that keeps a worse challenger out."""

import base64
import json
import shutil

from dagster import AssetCheckSeverity, AssetKey, AssetSelection, materialize

from ecom_assets.assets.recommend import recommendations, recommender
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets_tests.conftest import make_resources, query


def test_every_user_gets_a_ranked_list_with_reasons(built):
    users = query(built, "SELECT count(*) AS n FROM marts.user_features")["n"][0]
    per_user = query(built, "SELECT user_id, count(*) AS n, max(rank) AS top FROM serving.recommendations GROUP BY 1")
    assert len(per_user) == users
    assert (per_user["n"] == 20).all() and (per_user["top"] == 20).all()
    recs = query(built, "SELECT * FROM serving.recommendations")
    assert recs["reason"].notna().all()
    assert recs["reason"].str.match(r"^(because you viewed|often bought with|similar to|popular in|popular with) .+").all()
    assert set(recs["strategy"]) <= {"transitions", "item_knn", "popularity", "als", "sasrec", "text", "bpr", "cold_start"}
    champion = query(built, "SELECT version FROM ml.model_registry WHERE status = 'champion' AND name = 'recommender'")["version"]
    assert recs["model_version"].unique().tolist() == champion.tolist()


def test_bought_and_unavailable_items_are_never_offered(built):
    offered_bought = query(built, """
        SELECT count(*) AS n FROM serving.recommendations r
        JOIN (SELECT DISTINCT user_id, item_id FROM staging.stg_events WHERE event_type = 'purchase') p USING (user_id, item_id)""")
    unavailable = query(built, """
        SELECT count(*) AS n FROM serving.recommendations JOIN marts.item_features i USING (item_id)
        WHERE NOT i.is_active OR i.stock_qty <= 0""")
    assert offered_bought["n"][0] == 0 and unavailable["n"][0] == 0


def test_metrics_cover_every_strategy_and_the_hybrid_beats_popularity(built):
    m = query(built, "SELECT * FROM ml.recommendation_metrics").set_index("strategy")
    assert set(m.index) == {"popularity", "item_knn", "transitions", "als", "sasrec", "text", "bpr", "hybrid", "ranker"}
    for col in ("hr_10", "recall_10", "ndcg_10", "map_10", "ndcg_20", "coverage", "diversity", "novelty",
                "popularity_bias", "category_gini", "brand_gini"):
        assert m[col].notna().all(), col
    assert m.loc["hybrid", "ndcg_10"] > m.loc["popularity", "ndcg_10"]
    assert (m[["coverage", "diversity", "category_gini", "brand_gini"]].stack().between(0, 1)).all()


def test_the_model_card_and_artefact_match_the_registry(built):
    from pathlib import Path

    from ecom_assets.ml.common.model_files import sha256_file

    row = query(built, "SELECT artifact_path, sha256 FROM ml.model_registry WHERE status = 'champion' AND name = 'recommender'").iloc[0]
    path = Path(row["artifact_path"])
    assert sha256_file(path) == row["sha256"]
    card = json.loads((path.parent / "card.json").read_text())
    assert card["sha256"] == row["sha256"] and card["metrics"]["NDCG@10"] > 0


def test_the_gate_keeps_a_worse_challenger_out_and_the_champion_keeps_serving(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    shutil.copytree(built["model_store"].resolved_root, tmp_path / "models")
    res = make_resources(tmp_path)
    import duckdb

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    champ_version, artifact = con.execute(
        "SELECT version, artifact_path FROM ml.model_registry WHERE status = 'champion' AND name = 'recommender'").fetchone()
    # Point the copied champion at the copied artefact, and make it look much better than anything we can train.
    con.execute("UPDATE ml.model_registry SET metrics = ?, artifact_path = ? WHERE version = ?",
                [json.dumps({"NDCG@10": 0.99}), str(tmp_path / "models" / "recommender" / champ_version / "model.npz"),
                 champ_version])
    con.close()

    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommender, recommendations),
                         resources=res, raise_on_error=False)
    gate = next(e for e in result.get_asset_check_evaluations() if e.check_name == "champion_challenger_gate")
    assert not gate.passed and gate.metadata["champion"].value == 0.99
    assert gate.severity == AssetCheckSeverity.WARN, "a rejected challenger is the gate working, not a broken run"
    materialized = {m.asset_key for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())}
    assert AssetKey(["serving", "recommendations"]) in materialized, "serving refreshes on new data, with the champion"
    statuses = query(res, "SELECT status FROM ml.model_registry WHERE name = 'recommender' ORDER BY created_at")["status"].tolist()
    assert statuses[-1] == "rejected" and "champion" in statuses
    served = query(res, "SELECT DISTINCT model_version FROM serving.recommendations")["model_version"].tolist()
    assert served == [champ_version]


def test_public_sequences_get_times_that_make_the_temporal_split_leave_one_out(tmp_path):
    import pandas as pd

    from ecom_assets.sources.public import PublicShop, read_s3rec

    (tmp_path / "tiny.txt").write_text("1 10 20 30 40\n2 20 30\n3 50 10 20 30 40 60\n")
    shop = PublicShop(read_s3rec(tmp_path / "tiny.txt"), "2026-10-01", 10)
    days = [shop.events_for_day(d) for d in pd.date_range("2026-10-01", periods=10).strftime("%Y-%m-%d")]
    events = pd.concat(days, ignore_index=True)
    assert len(events) == 12 and events["event_id"].is_unique
    last_day = days[-1]
    assert sorted(last_day["item_id"]) == ["30", "40", "60"], "exactly every user's last item"
    cutoff = pd.Timestamp("2026-10-10 12:00") - pd.Timedelta(days=1)
    earlier = pd.concat(days[:-1], ignore_index=True)
    assert len(earlier) == 9 and (earlier["event_time"] < cutoff).all(), "all other items before the test cutoff"
    by_user = events.sort_values("event_time").groupby("user_id")["item_id"].agg(list)
    assert by_user["3"] == ["50", "10", "20", "30", "40", "60"], "order kept"


def test_the_whole_graph_runs_on_a_public_dataset(tmp_path):
    from ecom_assets.demo import run_pipeline
    from ecom_assets_tests.conftest import make_resources

    rng = __import__("numpy").random.default_rng(0)
    lines = [f"{u} " + " ".join(str(x) for x in (rng.integers(0, 40) + __import__("numpy").arange(rng.integers(4, 9))) % 40)
             for u in range(60)]
    (tmp_path / "seqs.txt").write_text("\n".join(lines) + "\n")
    res = make_resources(tmp_path, kind="s3rec", dataset_path=str(tmp_path / "seqs.txt"), n_days=12)
    run_pipeline(res, log=lambda _: None, op_config={"dbt_features": {"test_days": 1},
                                                     "recommender": {"sasrec_seconds": 5.0},
                                                     "ml__product_text_encoder": {"epochs": 3}},
                 stages=("snapshots", "events", "inbox", "features", "text", "recommend"))
    assert query(res, "SELECT count(*) AS n FROM marts.test_interactions")["n"][0] == 60
    m = query(res, "SELECT strategy, ndcg_10 FROM ml.recommendation_metrics").set_index("strategy")["ndcg_10"]
    assert m["hybrid"] > m["popularity"]
    assert query(res, "SELECT count(DISTINCT user_id) AS n FROM serving.recommendations")["n"][0] == 60


def test_the_registry_records_what_serves_and_why(built):
    row = query(built, "SELECT params FROM ml.model_registry WHERE name = 'recommender' ORDER BY created_at DESC LIMIT 1")
    params = json.loads(row["params"][0])
    assert params["serves"] in {"hybrid", "ranker", "transitions", "item_knn", "popularity", "als", "sasrec", "text", "bpr"}
    assert params["serving_reason"].startswith(params["serves"]) and params["events_until"]


def test_feature_importances_and_the_serving_choice_are_on_the_recommender_asset(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    res = make_resources(tmp_path)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommender), resources=res,
                         run_config={"ops": {"recommender": {"config": {"sasrec_seconds": 3.0}}}})
    meta = next(m.metadata for m in result.asset_materializations_for_node("recommender")
                if m.asset_key == AssetKey(["ml", "recommender"]))
    chart = meta["feature_importance"].value
    assert chart.startswith("![Ranker feature importance") and "data:image/svg+xml;base64," in chart
    svg = base64.b64decode(chart.split("base64,", 1)[1].rstrip(")")).decode()
    assert "user_n_purchases" in svg or "item_" in svg
    newest = meta["newest_window_ndcg_10"].value
    best_single = max(v for k, v in newest.items() if k.endswith("(best single)"))
    served = meta["serves"].value
    if served in ("hybrid", "ranker"):
        assert newest[f"{served} (cross-fitted)"] >= best_single * (1 - 0.02)
    ranker = meta["ranker"].value
    assert ranker["rounds"] >= 1 and 0 < ranker["candidate_recall_valid"] <= 1
    m = query(res, "SELECT strategy FROM ml.recommendation_metrics")["strategy"].tolist()
    assert "ranker" in m and "hybrid" in m


def test_a_user_who_joined_after_training_gets_a_list_with_reasons(built, tmp_path):
    import duckdb

    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    shutil.copytree(built["model_store"].resolved_root, tmp_path / "models")
    from ecom_assets.assets.privacy import popular_items
    from ecom_assets.resources import PrivacyResource

    res = make_resources(tmp_path)
    # The "popular in" lists released again with noise that vanishes (a huge epsilon and
    # budget), so that which groups are released does not depend on this run's draws.
    exact = {**res, "privacy": PrivacyResource(key_file=res["privacy"].key_file, epsilon_per_period=1e12)}
    assert materialize([popular_items], resources=exact,
                       run_config={"ops": {"privacy__popular_items": {"config": {"epsilon": 1e9}}}}).success
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    champ_version = con.execute("SELECT version FROM ml.model_registry WHERE status = 'champion' AND name = 'recommender'").fetchone()[0]
    con.execute("UPDATE ml.model_registry SET artifact_path = ? WHERE version = ?",
                [str(tmp_path / "models" / "recommender" / champ_version / "model.npz"), champ_version])
    segment = con.execute("""SELECT "group" FROM released.popular_items WHERE kind = 'segment' AND released
                             ORDER BY "group" LIMIT 1""").fetchone()[0]
    con.execute("INSERT INTO marts.user_features (user_id, segment) VALUES ('u_newcomer', ?)", [segment])
    # An item of a category whose "popular in" list was released (a small category's is withheld).
    item = con.execute("""SELECT item_id FROM marts.catalogue WHERE is_offerable AND category_l2 IN (
                              SELECT "group" FROM released.popular_items WHERE kind = 'category' AND released
                              GROUP BY 1 HAVING count(*) >= 2)
                          ORDER BY item_id LIMIT 1""").fetchone()[0]
    # positive_events is a view over the events: freeze it as a table with the newcomer's first view added.
    con.execute("CREATE TABLE marts.frozen_events AS SELECT * FROM marts.positive_events")
    con.execute("DROP VIEW marts.positive_events")
    con.execute("""CREATE TABLE marts.positive_events AS SELECT * FROM marts.frozen_events UNION ALL
                   SELECT 'u_newcomer', ?, max(event_time) + INTERVAL 1 MINUTE, 'view' FROM marts.frozen_events""", [item])
    con.close()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(recommendations), resources=res)
    assert result.success
    lists = query(res, "SELECT * FROM serving.recommendations WHERE user_id = 'u_newcomer' ORDER BY rank")
    assert len(lists) == 20 and (lists["strategy"] == "cold_start").all()
    assert lists["reason"].iloc[0] == f"popular with {segment.replace('_', ' ')} shoppers"
    assert lists["reason"].str.contains("which you viewed").any()
    meta = result.asset_materializations_for_node("serving__recommendations")[0].metadata
    assert meta["cold_start_users"].value == 1


def test_every_reason_that_names_an_item_names_one_from_the_user_s_history(built, tmp_path):
    from ecom_assets.assets.recommend import reasons_name_history_items
    from ecom_assets.resources import WarehouseResource

    recs = query(built, "SELECT * FROM serving.recommendations")
    named = recs[recs["anchor_item_id"].notna()]
    assert len(named) and named["reason"].str.match(r"^(because you viewed|often bought with|similar to) ").all()
    assert not recs.loc[recs["anchor_item_id"].isna(), "reason"].str.match(r"^(because you viewed|often bought with) ").any()
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))

    def evaluate():
        result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.checks(reasons_name_history_items),
                             resources={**built, "warehouse": warehouse}, raise_on_error=False)
        return result.get_asset_check_evaluations()[0]

    assert evaluate().passed
    # Point one reason at an item that user never touched: the blocking check fails.
    with warehouse.connect() as con:
        user, rank = con.execute("SELECT user_id, rank FROM serving.recommendations WHERE anchor_item_id IS NOT NULL "
                                 "ORDER BY user_id, rank LIMIT 1").fetchone()
        stranger = con.execute("SELECT item_id FROM marts.catalogue WHERE item_id NOT IN (SELECT item_id FROM "
                               "marts.positive_events WHERE user_id = ?) LIMIT 1", [user]).fetchone()[0]
        con.execute("UPDATE serving.recommendations SET anchor_item_id = ? WHERE user_id = ? AND rank = ?",
                    [stranger, user, rank])
    failed = evaluate()
    assert not failed.passed and failed.metadata["naming_an_item_outside_the_history"].value == 1
