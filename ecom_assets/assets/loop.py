"""Loop group: the copy variants are judged by how shoppers respond, one day at a time.

    copy_loop (one step, daily partitions) ->
        raw/impressions        day d's copy impressions, shown under the policy that served
                               after day d-1 (a 10% salted holdout sees uniform choice), with
                               the propensity of every choice, through the door like events
        ml/copy_policy         the learner (linear Thompson sampling over what a policy may
                               see) updated with day d's impressions, saved as an array
                               file, registered and gated: it serves from day d+1 only if
                               the lower end of its doubly robust interval on day d's logs
                               is not below what the serving policy achieved
        monitoring/ope_report  each candidate (the updated learner, the serving policy,
                               uniform) valued on day d's logs by every estimator, with
                               intervals, beside the shop's exact truth
    monitoring/ab_readouts     policy vs holdout over all days so far: per-arm users,
                               click-through and revenue per user, lift with its interval,
                               SRM, always-valid p-value across the daily looks

The loop is a graph, not a cycle: the policy of day d depends on the policy of day d-1 (a
time-window mapping with offset -1, a self-dependency) and on day d's impressions, which
the same step produces under the policy of day d-1 before updating it.
Impressions are simulated by the demo shop's hidden response model
(`sources/response.py`), which also gives the exact value of every policy (regret).
"""


import json
import time

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
    multi_asset,
)

from ecom_assets.assets.gates import gate_check, new_version, verified_artifact
from ecom_assets.assets.ingest import EVENTS_PARTITIONS, accounting_check, pseudonym_check
from ecom_assets.assets.metadata import line_chart, preview
from ecom_assets.deployment import compute_for
from ecom_assets.ingestion import build_load
from ecom_assets.resources import ModelStoreResource, PrivacyResource, ShopDataSource, WarehouseResource
from ecom_assets.sources.mappings import MAPPINGS
from ecom_assets.warehouse import append_rows, replace_rows
from ecom_assets.warehouse.registry import GateDecision, history, record_decision

GROUP = "loop"
POOL = "warehouse"
IMPRESSIONS_KEY = AssetKey(["raw", "impressions"])
POLICY_KEY = AssetKey(["ml", "copy_policy"])
OPE_KEY = AssetKey(["monitoring", "ope_report"])
READOUTS_KEY = AssetKey(["monitoring", "ab_readouts"])
ASSIGNMENTS_KEY = AssetKey(["serving", "copy_assignments"])
AD_COPY_KEY = AssetKey(["serving", "ad_copy"])
KEEP_ASSIGNMENT_DAYS = 14
MODEL_NAME = "copy_policy"
HOLDOUT, TREATED = "holdout", "policy"
PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
OPE_DDL = """CREATE TABLE IF NOT EXISTS monitoring.ope_report (day DATE, policy VARCHAR, version VARCHAR,
             estimator VARCHAR, value DOUBLE, lower DOUBLE, upper DOUBLE, truth DOUBLE, created_at TIMESTAMP)"""


class LoopConfig(Config):
    impressions_per_day: int = 4_000
    holdout_share: float = 0.1
    """Users (salted assignment) who see uniform choice: the A/B read-out's control arm."""
    salt: str = "copy-holdout-1"
    n_bootstrap: int = 200
    seed: int = 0


def _fresh_policy(dim: int, n_arms: int):
    from ecom_assets.ml.bandits.policies import LinearTS

    return LinearTS(dim=dim, n_actions=n_arms, v=0.2, n_sim=100, seed=0, epsilon=0.05)


def _versions(warehouse: WarehouseResource) -> pd.DataFrame:
    if not warehouse.resolved_path.exists():
        return pd.DataFrame()
    with warehouse.connect(read_only=True) as con:
        return history(con, MODEL_NAME)


def _load_version(row: dict):
    from ecom_assets.ml.bandits.policies import load_policy

    return load_policy(verified_artifact(row), row["sha256"])


@multi_asset(
    name="copy_loop", partitions_def=EVENTS_PARTITIONS, group_name=GROUP, **compute_for("copy_loop", POOL),
    specs=[
        # Day d's impressions are shown under the policy of day d-1, which this step reads through
        # the policy's own dependency on its previous day: declaring it on the impressions too
        # would make impressions <-> policy a cycle between asset keys, which the automation
        # daemon cannot order.
        AssetSpec(IMPRESSIONS_KEY, kinds={"duckdb"},
                  description="Copy impressions of the day under the policy served after the previous day (10% holdout "
                              "on uniform choice), with propensities; pseudonymised, validated, accounted."),
        AssetSpec(POLICY_KEY, deps=[IMPRESSIONS_KEY, AssetDep(POLICY_KEY, partition_mapping=PREVIOUS_DAY)],
                  kinds={"numpy"}, description="Linear Thompson sampling over the copy arms, updated daily; serves "
                                               "only if its doubly robust lower bound beats the serving policy."),
        AssetSpec(OPE_KEY, deps=[POLICY_KEY], kinds={"duckdb"},
                  description="monitoring.ope_report: each candidate policy on the day's logs, every estimator with "
                              "its 95% interval, beside the demo shop's exact value."),
    ],
)
def copy_loop(context: AssetExecutionContext, config: LoopConfig, source: ShopDataSource, warehouse: WarehouseResource,
              model_store: ModelStoreResource, privacy: PrivacyResource):
    from ecom_assets.ml.bandits.abtest import assign
    from ecom_assets.ml.bandits.ope import Estimate, LoggedRounds, cross_fitted_rewards, evaluate_policies, off_policy_gate
    from ecom_assets.ml.bandits.policies import save_policy
    from ecom_assets.sources.response import ARMS, SEGMENTS, CopyResponse, log_impressions
    from ecom_assets.sources.synthetic import SyntheticShop

    t0 = time.perf_counter()
    day = context.partition_key
    shop = source.shop
    if not isinstance(shop, SyntheticShop):
        context.log.warning(f"source kind {source.kind!r} has no simulated shoppers: no copy impressions for {day}")
        for key in (IMPRESSIONS_KEY, POLICY_KEY, OPE_KEY):
            yield MaterializeResult(asset_key=key, metadata={"skipped": f"no simulated shop for source {source.kind}"})
        return
    response = CopyResponse(shop)
    ctx = response.contexts(day, config.impressions_per_day)
    x = response.observable_features(ctx)
    n_arms = len(ARMS)
    versions = _versions(warehouse)
    champions = versions[versions["status"] == "champion"] if len(versions) else versions
    champ = champions.iloc[-1].to_dict() if len(champions) else None
    serving = _load_version(champ) if champ else _fresh_policy(x.shape[2], n_arms)
    serving_version = champ["version"] if champ else "initial"
    # The learner's state accumulates every day's impressions, promoted or not; the gate
    # decides which version serves.
    newest = versions.iloc[-1].to_dict() if len(versions) else None
    learner = _load_version(newest) if newest else _fresh_policy(x.shape[2], n_arms)

    holdout = assign(shop._users["raw_id"][ctx.user], [TREATED, HOLDOUT], config.salt,
                     [1 - config.holdout_share, config.holdout_share]) == HOLDOUT
    serving_dist = serving.action_dist(x)[:, :, 0]
    logged_dist = np.where(holdout[:, None], 1.0 / n_arms, serving_dist)
    rng = np.random.default_rng([config.seed, pd.Timestamp(day).toordinal()])
    frame, actions, pscore = log_impressions(response, ctx, logged_dist, rng,
                                             np.where(holdout, HOLDOUT, serving_version))
    key = privacy.key()
    load = build_load(frame, mapping=MAPPINGS["canonical_impressions"], key=key.key, table="raw.impressions",
                      load_id=f"{source.kind}:impressions:{day}", source=source.kind, partition_key=day,
                      run_id=context.run_id)
    warehouse.raw_store().write_loads([load])
    clicks = frame["clicked"].to_numpy(float)
    yield MaterializeResult(asset_key=IMPRESSIONS_KEY, metadata={
        "rows_read": load.rows_read, "rows_accepted": len(load.accepted), "rows_quarantined": len(load.quarantine),
        "click_rate": round(float(clicks.mean()), 5), "holdout_share": round(float(holdout.mean()), 4),
        "serving_version": serving_version})

    learner.update(actions, clicks, features=x)
    new = new_version(context, model_store, MODEL_NAME)
    path = new.folder / "policy.npz"
    sha = save_policy(learner, path)
    rounds = LoggedRounds.of(clicks, actions, pscore)
    q = cross_fitted_rewards(None, rounds, n_actions=n_arms, joint_features=x, seed=config.seed)
    candidate_dist = learner.action_dist(x)
    policies = {"candidate": candidate_dist, "serving": logged_dist[:, :, None],
                "uniform": np.full_like(candidate_dist, 1.0 / n_arms)}
    versions_of = {"candidate": new.version, "serving": serving_version, "uniform": "uniform"}
    probabilities = response.click_probability(ctx)  # the shop's hidden truth, once for every policy
    truths = {name: response.expected_reward(ctx, dist, probabilities=probabilities) for name, dist in policies.items()}
    oracle = float(probabilities.max(axis=1).mean())
    report = evaluate_policies(rounds, policies, q, n_bootstrap=config.n_bootstrap, seed=config.seed)
    dr_row = report[(report["policy"] == "candidate") & (report["estimator"] == "dr")].iloc[0]
    dr = Estimate("dr", float(dr_row["value"]), float(dr_row["lower"]), float(dr_row["upper"]))
    current_value = float(clicks[~holdout].mean()) if champ else None  # what the serving policy achieved on its own traffic
    verdict = off_policy_gate(dr, current_value, f"serving {serving_version} on its traffic")
    decision = GateDecision(verdict.promote, "dr_lower_bound", dr.lower, current_value,
                            champ["version"] if champ else None, 0.0, verdict.reason, "same data")
    promote = decision.promote
    metrics = {"dr_estimate": dr.value, "dr_lower": dr.lower, "dr_upper": dr.upper,
               "logged_click_rate": float(clicks[~holdout].mean()), "true_value": truths["candidate"],
               "oracle_value": oracle, "uniform_value": truths["uniform"], "ess_share": float(dr_row["ess_share"])}
    report = report.drop(columns=["ess_share"]).assign(
        day=pd.Timestamp(day), version=report["policy"].map(versions_of), truth=report["policy"].map(truths))
    loop_day = pd.DataFrame([{
        "day": pd.Timestamp(day), "impressions": len(frame), "serving_version": serving_version,
        "candidate_version": new.version, "promoted": promote, "serves_next": new.version if promote else serving_version,
        "logged_click_rate": float(clicks.mean()),
        "served_value": truths["serving"], "candidate_value": truths["candidate"], "uniform_value": truths["uniform"],
        "oracle_value": oracle}])
    with warehouse.connect() as con:
        record_decision(con, MODEL_NAME, new.version, {"day": day, "segments": list(SEGMENTS), **config.model_dump()},
                        metrics, str(path), sha, decision)
        append_rows(con, "monitoring.ope_report", OPE_DDL, report.assign(created_at=pd.Timestamp.now("UTC").tz_localize(None)),
                    "day, policy, version, estimator, value, lower, upper, truth, created_at")
        replace_rows(con, "monitoring.copy_loop_days", loop_day, "day")
        days = con.execute("SELECT * FROM monitoring.copy_loop_days WHERE day <= ? ORDER BY day", [pd.Timestamp(day)]).df()
    context.log.info(f"{day}: {new.version} {'promoted' if promote else 'kept out'} ({decision.reason})")
    yield MaterializeResult(asset_key=POLICY_KEY, metadata={
        "version": new.version, "promoted": promote, "gate": decision.reason, "sha256": sha,
        "true_value": round(truths["candidate"], 5), "serving_true_value": round(truths["serving"], 5),
        "oracle_value": round(oracle, 5), "uniform_value": round(truths["uniform"], 5),
        "share_of_oracle": round(truths["candidate"] / oracle, 4),
        "regret_vs_oracle": round(oracle - truths["serving"], 5), "gain_vs_uniform": round(truths["serving"] - truths["uniform"], 5),
        **regret_charts(days), "seconds": round(time.perf_counter() - t0, 2)})
    yield MaterializeResult(asset_key=OPE_KEY, metadata={
        "dagster/row_count": len(report),
        "report": MetadataValue.md(report.drop(columns=["day"]).round(5).to_markdown(index=False))})


def regret_charts(days: pd.DataFrame) -> dict:
    """The loop so far as two plots: each day's true click-through of what served, the
    oracle and uniform choice; and the expected clicks lost to the oracle and gained over
    uniform, summed over the days' impressions."""
    labels = [f"{d:%m-%d}" for d in pd.to_datetime(days["day"])]
    lost = ((days["oracle_value"] - days["served_value"]) * days["impressions"]).cumsum()
    gained = ((days["served_value"] - days["uniform_value"]) * days["impressions"]).cumsum()
    return {
        "value_by_day": line_chart({"oracle": days["oracle_value"].tolist(), "served": days["served_value"].tolist(),
                                    "uniform": days["uniform_value"].tolist()}, labels,
                                   "True click-through per impression", "CTR"),
        "cumulative_regret": line_chart({"lost to oracle": lost.tolist(), "gained over uniform": gained.tolist()}, labels,
                                        "Cumulative expected clicks", "clicks"),
    }


@asset(key=READOUTS_KEY, deps=[IMPRESSIONS_KEY], partitions_def=EVENTS_PARTITIONS, group_name=GROUP, pool=POOL,
       kinds={"duckdb", "statsmodels"},
       description="monitoring.ab_readouts: the copy policy against the holdout on every day so far, per user: "
                   "click-through and revenue, lift with its 95% interval, sample-ratio check and an always-valid "
                   "p-value across the daily looks.")
def ab_readouts(context: AssetExecutionContext, config: LoopConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.bandits.abtest import always_valid_pvalues, daily_looks, readout

    day = context.partition_key
    per_user_day = warehouse.query("""
        SELECT user_id, CAST(shown_at AS DATE) AS day,
               CASE WHEN policy_version = 'holdout' THEN 'holdout' ELSE 'policy' END AS arm,
               max(CAST(clicked AS INT)) AS converted, sum(revenue) AS revenue
        FROM raw.impressions WHERE CAST(shown_at AS DATE) <= ? GROUP BY 1, 2, 3""", [day])
    if per_user_day.empty:
        return MaterializeResult(metadata={"users": 0})
    per_user = per_user_day.groupby(["user_id", "arm"], as_index=False).agg(converted=("converted", "max"),
                                                                            revenue=("revenue", "sum"))
    weights = {TREATED: 1 - config.holdout_share, HOLDOUT: config.holdout_share}
    rows = readout(per_user, control=HOLDOUT, weights=weights)
    looks = daily_looks(per_user_day, control=HOLDOUT, treated=TREATED)
    valid = always_valid_pvalues(looks)
    rows["always_valid_p"] = np.where(rows["arm"] == TREATED, valid[-1], np.nan)
    rows = rows.assign(day=pd.Timestamp(day), looks=len(looks))
    with warehouse.connect() as con:
        replace_rows(con, "monitoring.ab_readouts", rows, "day")
        history_rows = con.execute("SELECT day, lift, lift_low, lift_high, always_valid_p FROM monitoring.ab_readouts "
                                   "WHERE arm = ? AND day <= ? ORDER BY day", [TREATED, pd.Timestamp(day)]).df()
    treated = rows.set_index("arm").loc[TREATED]
    labels = [f"{d:%m-%d}" for d in pd.to_datetime(history_rows["day"])]
    return MaterializeResult(metadata={
        "users": int(rows["users"].sum()), "looks": len(looks),
        "lift": round(float(treated["lift"]), 5), "lift_interval": f"[{treated['lift_low']:.4f}, {treated['lift_high']:.4f}]",
        "always_valid_p": float(valid[-1]), "srm_p_value": float(treated["srm_p_value"]),
        "readout": preview(rows.drop(columns=["day"]).round(5), rows=5, max_chars=40),
        "daily_always_valid_p": MetadataValue.json([round(float(p), 6) for p in valid]),
        "lift_by_day": line_chart({"lift": history_rows["lift"].tolist(), "95% low": history_rows["lift_low"].tolist(),
                                   "95% high": history_rows["lift_high"].tolist()}, labels,
                                  "Per-user click-through, policy minus holdout", "lift"),
        "always_valid_p_by_day": line_chart({"always-valid p": history_rows["always_valid_p"].tolist()}, labels,
                                            "Always-valid p-value at each daily look", "p")})


@asset(key=ASSIGNMENTS_KEY, deps=[POLICY_KEY, AD_COPY_KEY], partitions_def=EVENTS_PARTITIONS, group_name=GROUP, pool=POOL,
       kinds={"duckdb"},
       description="serving.copy_assignments: for the day after each loop day, what each product x segment x shopper "
                   "language is shown: the reviewed text chosen for each copy arm, and the probability the serving policy "
                   "gives that arm among the arms that have a text (the propensity to log with the impression).")
def copy_assignments(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.copy.arms import serving_assignments
    from ecom_assets.warehouse import table_exists

    day = pd.Timestamp(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "serving.ad_copy"):
            raise ValueError("serving.ad_copy does not exist yet: materialise the copy group (copy_job) before "
                             "serving/copy_assignments")
        served = con.execute("SELECT serves_next FROM monitoring.copy_loop_days WHERE day = ?", [day]).fetchone()
        copy = con.execute("""SELECT a.item_id, a.segment, a.variant, a.language, a.text, a.score, c.discount_pct
                              FROM serving.ad_copy a JOIN marts.catalogue c USING (item_id)
                              WHERE a.passed AND c.is_offerable""").df()
    if served is None:
        raise ValueError(f"monitoring.copy_loop_days has no row for {day:%Y-%m-%d}: materialise copy_loop for that day first")
    versions = _versions(warehouse)
    match = versions[versions["version"] == served[0]] if len(versions) else versions
    if match.empty:
        raise ValueError(f"copy policy version {served[0]!r} (serving after {day:%Y-%m-%d}) is not in the registry")
    row = match.iloc[-1].to_dict()
    policy = _load_version(row)
    params = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    segments = list(params.get("segments") or [])
    unknown = sorted(set(copy["segment"]) - set(segments))
    if unknown:
        context.log.warning(f"segments unknown to policy {served[0]}: {unknown}; their copy is assigned uniformly")
    table, n_contexts = serving_assignments(copy, segments, policy.action_dist)
    serves_on = day + pd.Timedelta(days=1)
    table = table.assign(serves_on=serves_on, policy_version=served[0])
    with warehouse.connect() as con:
        replace_rows(con, "serving.copy_assignments", table, "serves_on",
                     drop_before=serves_on - pd.Timedelta(days=KEEP_ASSIGNMENT_DAYS))
    share = table.groupby("arm")["propensity"].sum() / n_contexts
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), "serves_on": f"{serves_on:%Y-%m-%d}", "policy_version": served[0],
        "contexts": n_contexts, "arms_per_context": round(len(table) / max(n_contexts, 1), 2),
        "expected_arm_share": MetadataValue.json(share.round(4).to_dict()),
        "preview": preview(table.sort_values("propensity", ascending=False)[
            ["item_id", "segment", "user_language", "arm", "propensity", "text"]], rows=6, max_chars=70)})


@asset_check(asset=ASSIGNMENTS_KEY, name="propensities_sum_to_one", blocking=True,
             description="For the day served, each product x segment x language's arm probabilities are in (0, 1] and sum "
                         "to 1, and each arm's text is of that arm.")
def propensities_sum_to_one(context, warehouse: WarehouseResource) -> AssetCheckResult:
    from ecom_assets.ml.copy.arms import arm_of

    with warehouse.connect(read_only=True) as con:
        table = con.execute("""SELECT * FROM serving.copy_assignments
                               WHERE serves_on = (SELECT max(serves_on) FROM serving.copy_assignments)""").df()
    sums = table.groupby(["item_id", "segment", "user_language"])["propensity"].sum()
    bad_sum = int((~np.isclose(sums, 1.0, atol=1e-6)).sum())
    bad_range = int(((table["propensity"] <= 0) | (table["propensity"] > 1)).sum())
    wrong_arm = int(sum(arm_of(lang, text) != arm for lang, text, arm in zip(table["language"], table["text"], table["arm"])))
    return AssetCheckResult(passed=bad_sum == 0 and bad_range == 0 and wrong_arm == 0,
                            metadata={"contexts": len(sums), "contexts_not_summing_to_one": bad_sum,
                                      "propensities_out_of_range": bad_range, "texts_of_another_arm": wrong_arm})


loop_assets = [copy_loop, ab_readouts, copy_assignments]
loop_checks = [accounting_check(["raw", "impressions"], "raw.impressions"),
               pseudonym_check(["raw", "impressions"], "raw.impressions"),
               gate_check(MODEL_NAME, POLICY_KEY, "dr_lower_bound"), propensities_sum_to_one]
