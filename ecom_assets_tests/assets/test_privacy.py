"""The privacy group on the tiny shop: the segment interests the copy reads come only
through the DP release, every release is in the ledger, an over-budget release is
refused and leaves the last one in place."""

import shutil

import pandas as pd
from dagster import materialize

from ecom_assets.resources import PrivacyResource, WarehouseResource
from ecom_assets_tests.conftest import query


def test_segment_interests_are_released_through_the_ledger(built):
    released = query(built, "SELECT * FROM released.segment_interests")
    ledger = query(built, "SELECT * FROM privacy.ledger")
    assert len(released) and released["release_id"].nunique() == 1
    mine = ledger[ledger["release_id"] == released["release_id"].iloc[0]]
    assert set(mine["query"]) == {"buyers per segment", "purchases per segment and category"}
    assert mine["epsilon"].sum() <= 1.0 + 1e-9 and (mine["noise_scale"] > 0).all()
    minimum = built["privacy"].group_minimum()
    on_their_own = released[released["source"] == "segment"]
    assert (on_their_own["noisy_buyers"] >= minimum).all(), "a segment is released only above the minimum group size"
    below = released[released["noisy_buyers"] < minimum]
    assert not below["released"].any()
    report = query(built, "SELECT * FROM monitoring.privacy_ledger")
    assert report["epsilon"].sum() == ledger["epsilon"].sum() and (report["left_epsilon"] >= 0).all()


def test_the_copy_prompts_use_the_released_interests(built):
    released = query(built, "SELECT segment, category FROM released.segment_interests WHERE category IS NOT NULL")
    corpus = query(built, "SELECT DISTINCT segment, prompt FROM ml.copy_corpus")
    for segment, rows in corpus.groupby("segment"):
        wanted = released.loc[released["segment"] == segment, "category"].tolist()
        shown = rows["prompt"].iloc[0].split("interests=")[1].split(" |")[0]
        assert shown == ", ".join(wanted), f"segment {segment}: prompt interests {shown!r}, released {wanted}"


def test_an_over_budget_release_is_refused_and_the_last_one_stays(built, tmp_path):
    from ecom_assets.assets.privacy import segment_interests

    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    before = warehouse.query("SELECT * FROM released.segment_interests ORDER BY segment, rank")
    ledger_before = warehouse.query("SELECT * FROM privacy.ledger")
    # A release spends epsilon 1; a period's budget of 0.5 can never afford it.
    privacy = PrivacyResource(key_file=built["privacy"].key_file, epsilon_per_period=0.5)
    result = materialize([segment_interests], resources={"warehouse": warehouse, "privacy": privacy},
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "refused" in str(failure.event_specific_data.error) and "of 0.5 left" in str(failure.event_specific_data.error)
    pd.testing.assert_frame_equal(before, warehouse.query("SELECT * FROM released.segment_interests ORDER BY segment, rank"))
    assert len(warehouse.query("SELECT * FROM privacy.ledger")) == len(ledger_before)


def _tiny_market(tmp_path, crowd: int):
    """`crowd` buyers of lamps and mugs in one segment, one 'vip' who bought a telescope."""
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    users = [(f"u{i}", "crowd") for i in range(crowd)] + [("loner", "vip")]
    buys = [(f"u{i}", "lamp" if i % 3 else "mug", f"2026-10-0{1 + i % 9}") for i in range(crowd)]
    buys.append(("loner", "telescope", "2026-10-05"))
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.user_features (user_id VARCHAR, segment VARCHAR)")
        con.executemany("INSERT INTO marts.user_features VALUES (?, ?)", users)
        con.execute("CREATE TABLE marts.positive_events (user_id VARCHAR, item_id VARCHAR, event_time TIMESTAMP, "
                    "event_type VARCHAR)")
        con.executemany("INSERT INTO marts.positive_events VALUES (?, ?, ?, 'purchase')", buys)
        con.execute("CREATE TABLE marts.catalogue AS SELECT * FROM (VALUES ('lamp', 'Home'), ('mug', 'Kitchen'), "
                    "('telescope', 'Astronomy')) t(item_id, category_l1)")
    return warehouse


def test_a_segment_too_small_to_hide_in_gets_the_shop_wide_interests(tmp_path):
    from ecom_assets.assets.privacy import read_segment_interests, segment_interests

    warehouse = _tiny_market(tmp_path, crowd=300)
    privacy = PrivacyResource(key_file=str(tmp_path / "key"), min_group_size=30)
    config = {"ops": {"privacy__segment_interests": {"config": {"top": 1}}}}
    assert materialize([segment_interests], resources={"warehouse": warehouse, "privacy": privacy},
                       run_config=config).success
    # 300 buyers clear 30 whatever the noise; one buyer plus noise of scale 2 stays below it
    # (probability about e^-14.5 of the opposite).
    assert read_segment_interests(warehouse) == {"crowd": ["Home"], "vip": ["Home"]}, \
        "the lone buyer's telescope is never released"
    # A shop too small for the minimum releases nothing at all.
    strict = PrivacyResource(key_file=str(tmp_path / "key"), min_group_size=100_000)
    assert materialize([segment_interests], resources={"warehouse": warehouse, "privacy": strict},
                       run_config=config).success
    assert read_segment_interests(warehouse) == {"crowd": [], "vip": []}
    assert warehouse.query("SELECT count(DISTINCT release_id) AS n FROM privacy.ledger")["n"].iloc[0] == 2


def test_popular_lists_and_the_segment_report_are_dp_releases_in_the_ledger(built):
    ledger = query(built, "SELECT * FROM privacy.ledger")
    minimum = built["privacy"].group_minimum()
    popular = query(built, 'SELECT * FROM released.popular_items')
    assert set(popular["kind"]) <= {"segment", "country", "category", "shop"} and popular["released"].any()
    mine = ledger[ledger["release_id"] == popular["release_id"].iloc[0]]
    assert mine["query"].str.startswith("popular items per ").all() and mine["epsilon"].sum() <= 1.0 + 1e-9
    report = query(built, "SELECT * FROM released.segment_metrics")
    shown = report[report["released"]]
    assert len(shown) and (shown["noisy_users"] >= minimum).all() and shown["ndcg_10"].between(0, 1).all()
    assert report.loc[~report["released"], "ndcg_10"].isna().all(), "a withheld segment shows no figure"
    assert set(ledger.loc[ledger["release_id"] == report["release_id"].iloc[0], "query"]) == {
        "shoppers per segment (quality report)", "NDCG@10 sum per segment", "hits@10 per segment"}
    # Cold-start reasons name only groups that were released.
    cold = query(built, "SELECT reason FROM serving.recommendations WHERE strategy = 'cold_start'")["reason"]
    segments = {g.replace("_", " ") for g in popular.loc[popular["released"] & (popular["kind"] == "segment"), "group"]}
    named = cold.str.extract(r"^popular with (.+) shoppers$")[0].dropna()
    assert set(named) <= segments
