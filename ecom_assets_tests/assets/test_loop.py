"""The copy loop over simulated days: impressions with propensities through the door, a
policy updated, registered and gated by off-policy evaluation, the OPE report and the A/B
read-out against the holdout."""

import numpy as np
from dagster import AssetSelection, materialize

from ecom_assets.assets.loop import ASSIGNMENTS_KEY
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets_tests.conftest import make_resources, query

DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]
CONFIG = {"impressions_per_day": 1_500, "n_bootstrap": 50}


def _turn(res, day):
    # This warehouse has no ad copy: the serving assignments are tested on the built one.
    selection = AssetSelection.groups("loop") - AssetSelection.assets(ASSIGNMENTS_KEY)
    return materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=res,
                       partition_key=day, run_config={"ops": {"copy_loop": {"config": CONFIG},
                                                              "monitoring__ab_readouts": {"config": CONFIG}}})


def test_the_loop_turns_day_by_day_and_judges_copy_by_outcomes(tmp_path):
    res = make_resources(tmp_path)
    results = [_turn(res, day) for day in DAYS]
    assert all(r.success for r in results)
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in results[-1].get_asset_check_evaluations()}
    assert checks[("raw/impressions", "rows_accounted_for")] and checks[("raw/impressions", "user_ids_pseudonymised")]

    impressions = query(res, "SELECT * FROM raw.impressions")
    assert len(impressions) == 3 * 1_500 and impressions["user_id"].str.match(r"^u_[0-9a-f]{24}$").all()
    assert impressions["propensity"].between(0, 1, inclusive="right").all()
    holdout = impressions["policy_version"] == "holdout"
    assert 0.05 < holdout.mean() < 0.15
    first_day = impressions[impressions["shown_at"].dt.strftime("%Y-%m-%d") == DAYS[0]]
    assert set(first_day.loc[first_day["policy_version"] != "holdout", "policy_version"]) == {"initial"}

    registry = query(res, "SELECT version, status, metrics FROM ml.model_registry WHERE name = 'copy_policy' "
                          "ORDER BY created_at")
    assert len(registry) == 3 and registry["status"].iloc[0] in ("champion", "retired")
    later = impressions[impressions["shown_at"].dt.strftime("%Y-%m-%d") == DAYS[1]]
    served = set(later.loc[later["policy_version"] != "holdout", "policy_version"])
    assert served == {registry["version"].iloc[0]}, "day 2 is shown under the policy registered on day 1"

    ope = query(res, "SELECT * FROM monitoring.ope_report")
    assert len(ope) == 3 * 3 * 6 and set(ope["estimator"]) == {"dm", "ipw", "snipw", "dr", "sndr", "switch-dr"}
    last = ope[ope["day"] == ope["day"].max()].set_index(["policy", "estimator"])
    assert last.loc[("candidate", "dr"), "truth"] > last.loc[("uniform", "dr"), "truth"], "the learner beats uniform"
    assert (last["lower"] <= last["upper"]).all()

    readouts = query(res, "SELECT * FROM monitoring.ab_readouts ORDER BY day, arm")
    assert len(readouts) == 3 * 2 and set(readouts["arm"]) == {"holdout", "policy"}
    newest = readouts[readouts["day"] == readouts["day"].max()].set_index("arm")
    assert newest.loc["policy", "looks"] == 3 and not np.isnan(newest.loc["policy", "always_valid_p"])
    assert not newest.loc["policy", "srm_mismatch"]

    days = query(res, "SELECT * FROM monitoring.copy_loop_days ORDER BY day")
    assert len(days) == 3 and (days["oracle_value"] >= days["served_value"]).all()
    assert days["serves_next"].iloc[0] == registry["version"].iloc[0]
    charts = results[-1].asset_materializations_for_node("copy_loop")
    policy_md = next(m for m in charts if m.asset_key.to_user_string() == "ml/copy_policy").metadata
    assert policy_md["cumulative_regret"].value.startswith("![Cumulative expected clicks](data:image/svg+xml;base64,")


def test_serving_assignments_give_each_product_segment_and_language_its_arms_with_propensities(built):
    table = query(built, "SELECT * FROM serving.copy_assignments")
    newest = table[table["serves_on"] == table["serves_on"].max()]
    sums = newest.groupby(["item_id", "segment", "user_language"])["propensity"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)
    assert newest["propensity"].between(0, 1, inclusive="right").all()
    published = query(built, "SELECT DISTINCT item_id, segment FROM serving.ad_copy WHERE passed")
    assert len(newest[["item_id", "segment"]].drop_duplicates()) <= len(published)
    last_day = query(built, "SELECT day, serves_next FROM monitoring.copy_loop_days ORDER BY day DESC LIMIT 1").iloc[0]
    assert set(newest["policy_version"]) == {last_day["serves_next"]}
    assert (newest["serves_on"] == last_day["day"] + np.timedelta64(1, "D")).all()
    from ecom_assets.ml.copy.arms import arm_of

    assert all(arm_of(lang, text) == arm for lang, text, arm in zip(newest["language"], newest["text"], newest["arm"]))


def test_the_online_test_puts_every_strategy_s_offline_ndcg_beside_its_simulated_clicks(built):
    table = query(built, "SELECT * FROM monitoring.recommendation_online_test").set_index("strategy")
    offline = query(built, "SELECT strategy, ndcg_10 FROM ml.recommendation_metrics").set_index("strategy")
    assert set(table.index) == set(offline.index)
    np.testing.assert_allclose(table.loc[offline.index, "offline_ndcg_10"], offline["ndcg_10"])
    assert (table["online_clicks"] > 0).all() and (table["online_any_click"] <= table["online_clicks"] + 1e-12).all()
    assert sorted(table["online_rank"]) == list(range(1, len(table) + 1)) or table["online_clicks"].duplicated().any()
    ab = query(built, "SELECT * FROM monitoring.recommendation_ab").set_index("arm")
    assert set(ab.index) == {"hybrid", "item_knn"} and ab["users"].sum() > 0
    assert np.isnan(ab.loc["item_knn", "lift"]) and not np.isnan(ab.loc["hybrid", "lift_low"])
