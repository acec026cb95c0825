"""The copy loop over simulated days: impressions with propensities through the door, a
policy updated, registered and gated by off-policy evaluation, the OPE report and the A/B
read-out against the holdout."""

import numpy as np
from dagster import AssetSelection, materialize

from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets_tests.conftest import make_resources, query

DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]
CONFIG = {"impressions_per_day": 1_500, "n_bootstrap": 50}


def _turn(res, day):
    return materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.groups("loop"), resources=res,
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
