"""Recommend group: train, evaluate and gate the hybrid recommender; serve the champion.

    ml/recommender              the hybrid, saved as arrays in the model store, registered
                                in ml.model_registry; a blocking gate check keeps a worse
                                challenger from serving
    ml/recommendation_metrics   every strategy on the temporal test window
    serving/recommendations     top-K per user with a reason, from the registry's champion
    monitoring/recommendation_online_test
                                the demo shop's shoppers respond to each strategy's test
                                lists: does the offline NDCG order of the strategies hold
                                online, and what does a simulated A/B test of two read?
"""

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

from ecom_assets.assets.configs import to_settings
from ecom_assets.assets.gates import current_champion, gate_check, gate_metadata, new_version, register_version
from ecom_assets.assets.metadata import bar_chart, preview
from ecom_assets.assets.privacy import POPULAR_ITEMS_KEY, ledger_authoriser, read_popular_items
from ecom_assets.assets.shop_tables import (
    read_catalogue,
    read_feature_snapshots,
    read_history,
    read_item_attributes,
    read_item_embeddings,
)
from ecom_assets.deployment import compute_for
from ecom_assets.ml.common.rescoring import rescore_champion
from ecom_assets.ml.recsys.lists import StrategyFile, cold_start_lists, recommendation_lists
from ecom_assets.ml.recsys.strategy import load_strategy
from ecom_assets.ml.recsys.training import RecommenderSettings, privacy_releases, score_saved_model, train_recommender
from ecom_assets.resources import (
    BatchComputeResource,
    ModelStoreResource,
    PrivacyResource,
    ShopDataSource,
    WarehouseResource,
)

GROUP = "recommend"
POOL = "warehouse"
MODEL_NAME = "recommender"
GATE_METRIC = "NDCG@10"
AT_CUTOFF_FILE = "model_at_cutoff.npz"
FEATURE_DEPS = [AssetKey(["marts", "positive_events"]), AssetKey(["marts", "split_cutoff"]),
                AssetKey(["marts", "user_features"]), AssetKey(["marts", "catalogue"])]
TRAIN_DEPS = [*FEATURE_DEPS, AssetKey(["ml", "item_embeddings"]), AssetKey(["marts", "user_features_as_of"]),
              AssetKey(["marts", "item_features_as_of"]), AssetKey(["marts", "item_features"])]


class RecommenderConfig(Config):
    k: int = 20
    """Length of each user's list."""
    valid_days: float = 3.0
    """Validation window just before the test cutoff, used to tune the blend and gate it."""
    gate_tolerance: float = 0.02
    """A challenger may be this much worse (relative validation NDCG@10) and still replace the champion."""
    rescore_champion: bool = True
    """Score the champion on this training's validation window too (when it was trained before that window), so the
    gate compares like with like."""
    seed: int = 0
    als_factors: int = 32
    als_iterations: int = 15
    sasrec_seconds: float = 60.0
    """Training budget of each SASRec fit (the sequential transformer); 0 leaves it out."""
    sasrec_epochs: int = 40
    use_text: bool = True
    """Blend in text similarity from ml.item_embeddings (when that table exists)."""
    ranker: bool = True
    """Train the learning-to-rank stage (LightGBM lambdarank over the strategies' candidates, with the dbt features)."""
    serve_tolerance: float = 0.02
    """The blend or ranker serves only if it is at most this much (relative NDCG@10 on the newest window) below the best
    single strategy; else that strategy serves."""
    item_knn_epsilon: Optional[float] = None
    """Fit item-KNN on differentially private co-occurrence counts with this epsilon per fit (None: exact counts); the
    training's fits are recorded in the privacy ledger and refused, with nothing registered, over the period's budget."""
    item_knn_max_items: int = 5
    """Distinct items per shopper a private item-KNN fit counts (their most recent)."""
    item_knn_neighbour_pool: Optional[int] = None
    """A private item-KNN links only to this many most-taken items (by the noisy counts; None: any item)."""



class ServingConfig(Config):
    k: int = 20
    """Items per user."""
    exclude: Literal["bought", "seen"] = "bought"
    """Items a user is not offered again: "bought" (default) or "seen" (anything interacted with)."""
    new_item_floor: float = 0.0
    """Share of each list owed to new items (launched within `new_item_days`), when a user's candidates hold them;
    0 leaves the model's order alone."""
    brand_cap: Optional[float] = None
    """Largest share of a list one brand may take (None: no cap)."""
    new_item_days: float = 60.0
    candidates_per_slot: int = 2
    """With a floor or a cap, each list is re-ranked from this many times k candidates."""


def serving_config_problems(config: ServingConfig) -> list[str]:
    """What is wrong with a serving config, each naming its field (empty when it is fine):
    checked before anything is read, so a bad launch fails at once and the served table stays."""
    problems = []
    if config.k < 1:
        problems.append(f"k must be at least 1, not {config.k}")
    if not 0.0 <= config.new_item_floor <= 1.0:
        problems.append(f"new_item_floor is a share of the list, in [0, 1], not {config.new_item_floor}")
    if config.brand_cap is not None and not 0.0 < config.brand_cap <= 1.0:
        problems.append(f"brand_cap is a share of the list, in (0, 1], not {config.brand_cap}")
    if config.candidates_per_slot < 1:
        problems.append(f"candidates_per_slot must be at least 1, not {config.candidates_per_slot}")
    return problems


def test_lists_table(result, users: pd.Index, items: pd.Index) -> pd.DataFrame:
    """Each strategy's top k for the users of the test window, long: strategy, user_id,
    rank, item_id (its top 10 is what an online test of the strategies shows, see the loop
    group; the fairness report re-ranks the whole list)."""
    frames = []
    for strategy, lists in result.test_lists.items():
        filled = lists >= 0
        frames.append(pd.DataFrame({
            "strategy": strategy, "user_id": users.to_numpy()[np.repeat(result.test_users, lists.shape[1])[filled.ravel()]],
            "rank": np.tile(np.arange(1, lists.shape[1] + 1), len(lists))[filled.ravel()],
            "item_id": items.to_numpy()[lists[filled]]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["strategy", "user_id", "rank", "item_id"])


def importance_chart(importance: dict[str, float], top: int = 20) -> MetadataValue:
    """The ranker's features by gain, largest first, as bars."""
    if not importance:
        return MetadataValue.md("_(no ranker trained)_")
    total = sum(importance.values()) or 1.0
    rows = sorted(importance.items(), key=lambda kv: -kv[1])[:top]
    return bar_chart({name: gain / total for name, gain in rows}, "Ranker feature importance (share of gain)")


def record_private_fits(context: AssetExecutionContext, warehouse: WarehouseResource, privacy: PrivacyResource,
                        releases: list) -> dict:
    """Record a private training's item-KNN releases in the privacy ledger (refused over the
    period's budget: the run fails before a model is registered); its metadata."""
    if not releases:
        return {}
    from ecom_assets.ml.privacy.accountant import BudgetExceeded
    from ecom_assets.warehouse import record_releases

    authorise, _, _, release_id = ledger_authoriser(context, privacy, releases)
    try:
        with warehouse.connect() as con:
            entries = record_releases(con, authorise)
    except BudgetExceeded as exc:
        raise Failure(f"ml/recommender refused (private item-KNN): {exc}") from exc
    return {"privacy_release_id": release_id, "privacy_epsilon": round(float(entries["epsilon"].sum()), 6),
            "private_item_knn_fits": len(releases) // 2}


@multi_asset(
    specs=[
        AssetSpec(["ml", "recommender"], deps=TRAIN_DEPS, group_name=GROUP, kinds={"python", "numpy"},
                  description="Hybrid recommender (transitions, item-KNN, popularity, ALS, SASRec, product-text similarity) "
                              "with blend weights tuned "
                              "on validation; saved as arrays with a model card, registered and gated."),
        AssetSpec(["ml", "recommendation_metrics"], deps=TRAIN_DEPS, group_name=GROUP, kinds={"duckdb"},
                  description="Every strategy on the temporal test window: HR, Recall, NDCG, MAP at 10 and 20, "
                              "coverage, diversity, novelty, popularity bias, exposure Gini by brand and category; "
                              "each strategy's top k for the test users in ml.recommendation_test_lists."),
    ],
    name="recommender",
    **compute_for("recommender", POOL),
)
def recommender(context: AssetExecutionContext, config: RecommenderConfig, warehouse: WarehouseResource,
                model_store: ModelStoreResource, privacy: PrivacyResource):
    events, cutoff, users = read_history(warehouse)
    catalogue = read_catalogue(warehouse)
    items = pd.Index(catalogue["item_id"])
    embeddings, encoder_version = read_item_embeddings(warehouse, items) or (None, None)
    if embeddings is None and config.use_text:
        context.log.warning("ml.item_embeddings not found: training without the text strategy")
    settings = to_settings(config, RecommenderSettings, item_embeddings=embeddings if config.use_text else None,
                           side_features=read_feature_snapshots(warehouse, users, items),
                           item_attributes=read_item_attributes(warehouse, items))
    if settings.side_features is None:
        context.log.warning("marts.*_as_of not found: the ranker trains without the dbt features")
    result = train_recommender(events, users, catalogue, cutoff, settings)
    context.log.info(f"serving: {result.serving.get('reason')}")
    private = record_private_fits(context, warehouse, privacy, privacy_releases(settings))

    new = new_version(context, model_store, MODEL_NAME)
    ids = {"item_ids": items.to_numpy(dtype=str), "user_ids": users.to_numpy(dtype=str)}
    sha = result.model.save(new.folder / "model.npz", extras=ids)
    # The twin fit only up to the test cutoff: what a later training's gate can score.
    at_cutoff_sha = result.at_cutoff.save(new.folder / AT_CUTOFF_FILE, extras=ids) if result.at_cutoff else None
    served = result.serving.get("serves", "hybrid")
    by_strategy = result.metrics.set_index("strategy")
    served_row = by_strategy.loc[served if served in by_strategy.index else "hybrid"].to_dict()
    params = {**config.model_dump(), "weights": result.weights, "text_encoder_version": encoder_version,
              "test_cutoff": str(cutoff), "at_cutoff_sha256": at_cutoff_sha, "serves": served,
              "events_until": str(events["event_time"].max()) if len(events) else None,
              "serving_reason": result.serving.get("reason")}
    metrics = {GATE_METRIC: result.validation["NDCG@10"], "validation_users": result.validation["users"],
               "test_ndcg_10": served_row.get("ndcg_10"), "test_recall_10": served_row.get("recall_10")}
    card = new.card(params=params, metrics=metrics, sha256=sha,
                    data={"users": len(users), "items": len(items), "events": len(events), "test_cutoff": str(cutoff),
                          "at_cutoff_sha256": at_cutoff_sha},
                    summary=[f"{served} over {', '.join(k for k, w in result.weights.items() if w)}: "
                             f"{result.serving.get('reason', '')}"])

    def score_at_cutoff(champ: dict) -> float:
        path = Path(champ["artifact_path"]).parent / AT_CUTOFF_FILE
        return score_saved_model(path, champ["params"].get("at_cutoff_sha256"), events, cutoff, config.valid_days,
                                 config.seed)

    # The champion's serving model is refit on every event (this window included); its
    # twin fit up to its own test cutoff is scored when that cutoff came before this window.
    rescored = rescore_champion(current_champion(warehouse, MODEL_NAME), GATE_METRIC, score_at_cutoff, context.log.info,
                                cutoff=cutoff, window_start=result.validation["start"],
                                seen_until_param="test_cutoff") if config.rescore_champion else None
    decision = register_version(context, warehouse, new, card, new.folder / "model.npz", GATE_METRIC,
                                config.gate_tolerance, rescored)
    table = result.metrics.assign(model_version=new.version, created_at=new.created.replace(tzinfo=None))
    warehouse.replace_table("ml.recommendation_metrics", table)
    warehouse.replace_table("ml.recommendation_test_lists",
                            test_lists_table(result, users, items).assign(model_version=new.version, cutoff=cutoff))
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommender"]),
        metadata={"version": new.version, "path": MetadataValue.path(str(new.folder / "model.npz")), "sha256": sha,
                  "sasrec_epochs": result.tuning.get("sasrec_epochs") or 0, **gate_metadata(decision, warehouse, MODEL_NAME),
                  "weights": MetadataValue.json(result.weights),
                  "validation_ndcg_10": round(result.validation["NDCG@10"], 4),
                  "validation_users": result.validation["users"],
                  "serves": served, "serving_reason": result.serving.get("reason", ""),
                  "newest_window_ndcg_10": MetadataValue.json(result.serving.get("newest_window_ndcg_10", {})),
                  "ranker": MetadataValue.json({k: v for k, v in result.ranker_trace.items()}),
                  "feature_importance": importance_chart(result.importance), **private},
    )
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommendation_metrics"]),
        metadata={"table": "ml.recommendation_metrics",
                  "metrics": MetadataValue.md(result.metrics.round(4).to_markdown(index=False)),
                  "ndcg_plot": bar_chart(dict(zip(result.metrics["strategy"], result.metrics["ndcg_10"])),
                                         "NDCG@10 by strategy, test window") if "ndcg_10" in result.metrics else "no test users",
                  "recall_plot": bar_chart(dict(zip(result.metrics["strategy"], result.metrics["recall_10"])),
                                           "Recall@10 by strategy, test window") if "recall_10" in result.metrics
                  else "no test users",
                  "evaluated_users": int(result.metrics["evaluated_users"].iloc[0])},
    )


champion_challenger_gate = gate_check(MODEL_NAME, AssetKey(["ml", "recommender"]), f"validation {GATE_METRIC}")


@asset(key=["serving", "recommendations"], deps=[AssetKey(["ml", "recommender"]), POPULAR_ITEMS_KEY, *FEATURE_DEPS],
       group_name=GROUP,
       kinds={"duckdb"}, **compute_for("serving/recommendations", POOL),
       description="Top-K items per user from the registry's champion, with the strategy behind each item, a reason "
                   "naming the history item behind it and the inputs that contributed most to its score; "
                   "bought items excluded, hidden and out-of-stock items filtered; users who joined after the "
                   "champion's training get popular items of their segment or country and of what they viewed since (from the "
                   "differentially private privacy/popular_items).")
def recommendations(context: AssetExecutionContext, config: ServingConfig, warehouse: WarehouseResource,
                    batch: BatchComputeResource) -> MaterializeResult:
    config_problems = serving_config_problems(config)
    if config_problems:
        raise ValueError("serving/recommendations config: " + "; ".join(config_problems))
    champ = current_champion(warehouse, MODEL_NAME, required_by="serving/recommendations")
    model, extras = load_strategy(Path(champ["artifact_path"]), expected_sha256=champ["sha256"])
    events, cutoff, _ = read_history(warehouse)
    catalogue = read_catalogue(warehouse)
    known = pd.Index(extras["user_ids"])
    constrained = config.new_item_floor > 0 or config.brand_cap is not None
    pool = config.k * max(1, config.candidates_per_slot) if constrained else config.k
    runner = batch.runner()
    frame = recommendation_lists(model, known, pd.Index(extras["item_ids"]), events, catalogue, pool, config.exclude,
                                 runner=runner, model_file=StrategyFile(champ["artifact_path"], champ["sha256"]))
    shares = frame.attrs.get("strategy_shares", {})
    # Users who joined after the champion's training: popular in their segment or country,
    # and in what they viewed since, each slot with its reason.
    everyone = warehouse.query("SELECT user_id, segment, country FROM marts.user_features")
    new_users = everyone.loc[~everyone["user_id"].isin(known), "user_id"]
    params = champ["params"] if isinstance(champ["params"], dict) else json.loads(champ["params"] or "{}")
    since = pd.Timestamp(params.get("events_until") or params.get("test_cutoff") or cutoff)
    cold = cold_start_lists(everyone, new_users, events, catalogue, pool, since,
                            read_popular_items(warehouse) if len(new_users) else {})
    frame = pd.concat([frame, cold], ignore_index=True) if len(cold) else frame
    exposure = {}
    if constrained:
        frame, exposure = _constrain(warehouse, frame, config, since)
    frame = frame.assign(model_version=champ["version"], generated_at=datetime.now(timezone.utc).replace(tzinfo=None))
    warehouse.replace_table("serving.recommendations", frame)
    kinds = frame["reason"].str.extract(r"^(often bought with|because you viewed|similar to|popular in|popular with)")[0].value_counts()
    return MaterializeResult(metadata={
        "dagster/row_count": len(frame), "users": int(frame["user_id"].nunique()), "model_version": champ["version"],
        "cold_start_users": int(cold["user_id"].nunique()) if len(cold) else 0, "batch_backend": runner.name,
        "strategy_mix": MetadataValue.json(frame["strategy"].value_counts().to_dict()),
        "reason_mix": MetadataValue.json(kinds.to_dict()), **exposure,
        "score_share_by_strategy": MetadataValue.json(shares),
        "preview": preview(frame.drop(columns=["generated_at"]), rows=8),
    })


def _constrain(warehouse: WarehouseResource, frame: pd.DataFrame, config: ServingConfig, as_of) -> tuple[pd.DataFrame, dict]:
    """The lists re-ranked under the configured floor for new items and cap per brand, and
    metadata on what it changed (new items' share of the top k before and after)."""
    from ecom_assets.ml.fairness.exposure import group_exposure
    from ecom_assets.ml.fairness.report import item_groups
    from ecom_assets.ml.fairness.rerank import ExposureConstraint, constrain_lists

    items = warehouse.query("SELECT item_id, brand, category_l2, price, launch_date FROM marts.item_features")
    groups = item_groups(items, as_of, config.new_item_days)
    constraint = ExposureConstraint(k=config.k, floor_group="new", floor_share=config.new_item_floor,
                                    cap_share=config.brand_cap)
    before = frame[frame["rank"] <= config.k]
    after = constrain_lists(frame, groups["item_age"], groups["brand"], constraint)

    def new_share(lists: pd.DataFrame) -> float:
        table = group_exposure(lists, groups["item_age"], config.k).set_index("group")["exposure_share"]
        return round(float(table.get("new", 0.0)), 4)

    changed = before.merge(after, on=["user_id", "item_id"], how="left", indicator=True)
    return after, {"exposure_constraint": MetadataValue.json({"new_item_floor": config.new_item_floor,
                                                              "brand_cap": config.brand_cap, "k": config.k}),
                   "new_item_exposure_share_before": new_share(before), "new_item_exposure_share_after": new_share(after),
                   "slots_changed_by_constraint": int((changed["_merge"] == "left_only").sum())}


@asset_check(asset=AssetKey(["serving", "recommendations"]), name="lists_respect_filters", blocking=True,
             description="No user is offered an item they bought, a hidden or an out-of-stock item; ranks run 1..n.")
def lists_respect_filters(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        bought = con.execute("""
            SELECT count(*) FROM serving.recommendations r
            JOIN (SELECT DISTINCT user_id, item_id FROM marts.positive_events WHERE event_type = 'purchase') p
              USING (user_id, item_id)
        """).fetchone()[0]
        blocked = con.execute("""
            SELECT count(*) FROM serving.recommendations r JOIN marts.catalogue c USING (item_id) WHERE NOT c.is_offerable
        """).fetchone()[0]
        bad_ranks = con.execute("""
            SELECT count(*) FROM (SELECT user_id, max(rank) AS m, count(*) AS n, count(DISTINCT rank) AS d
                                  FROM serving.recommendations GROUP BY user_id) WHERE m != n OR d != n
        """).fetchone()[0]
    return AssetCheckResult(passed=bought == 0 and blocked == 0 and bad_ranks == 0,
                            metadata={"bought_items_offered": int(bought), "blocked_items_offered": int(blocked),
                                      "users_with_broken_ranks": int(bad_ranks)})


@asset_check(asset=AssetKey(["serving", "recommendations"]), name="reasons_name_history_items", blocking=True,
             description="Every reason that names an item names one the user really interacted with: viewed (or more) "
                         "for 'because you viewed' and 'similar to', bought for 'often bought with'.")
def reasons_name_history_items(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        named, outside = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM marts.positive_events e
                WHERE e.user_id = r.user_id AND e.item_id = r.anchor_item_id
                  AND (r.reason NOT LIKE 'often bought with %' OR e.event_type = 'purchase')))
            FROM serving.recommendations r WHERE r.anchor_item_id IS NOT NULL""").fetchone()
        unnamed = con.execute("""
            SELECT count(*) FROM serving.recommendations
            WHERE anchor_item_id IS NULL AND regexp_matches(reason, '^(often bought with|because you viewed|similar to) ')
        """).fetchone()[0]
    return AssetCheckResult(passed=outside == 0 and unnamed == 0,
                            metadata={"reasons_naming_an_item": int(named), "naming_an_item_outside_the_history": int(outside),
                                      "item_reasons_without_their_item": int(unnamed)})


class OnlineTestConfig(Config):
    arms: list[str] = ["hybrid", "item_knn"]
    """The two strategies of the simulated A/B test (any in ml.recommendation_metrics)."""
    visits: int = 7
    """Days each test user comes back and sees their arm's list."""
    salt: str = "recommender-ab-1"
    seed: int = 0


ONLINE_DDL_COLUMNS = "strategy, offline_ndcg_10, online_clicks, online_any_click, online_revenue, offline_rank, online_rank"


@asset(key=["monitoring", "recommendation_online_test"], deps=[AssetKey(["ml", "recommendation_metrics"])],
       group_name=GROUP, kinds={"duckdb", "statsmodels"}, pool=POOL,
       description="The demo shop's shoppers shown each strategy's test-window lists: offline NDCG@10 beside the true "
                   "online clicks per visit, whether the two order the strategies alike (Kendall's tau), and a "
                   "simulated A/B test of two strategies read out like the copy loop's.")
def recommendation_online_test(context: AssetExecutionContext, config: OnlineTestConfig, source: ShopDataSource,
                               warehouse: WarehouseResource, privacy: PrivacyResource) -> MaterializeResult:
    from ecom_assets.ml.bandits.abtest import minimum_detectable_effect, readout
    from ecom_assets.ml.recsys.metrics import ranking_agreement
    from ecom_assets.privacy import pseudonymise
    from ecom_assets.sources.response import ListResponse, simulate_list_test
    from ecom_assets.sources.synthetic import SyntheticShop

    shop = source.shop
    if not isinstance(shop, SyntheticShop):
        context.log.warning(f"source kind {source.kind!r} has no simulated shoppers: no online test")
        return MaterializeResult(metadata={"skipped": f"no simulated shop for source {source.kind}"})
    with warehouse.connect(read_only=True) as con:
        lists = con.execute("SELECT strategy, user_id, rank, item_id, cutoff FROM ml.recommendation_test_lists "
                            "WHERE rank <= 10").df()
        offline = con.execute("SELECT strategy, ndcg_10, model_version FROM ml.recommendation_metrics").df()
    if lists.empty:
        return MaterializeResult(metadata={"skipped": "no test users in ml.recommendation_test_lists"})
    # The warehouse knows users by pseudonym only; the shop's own ids are pseudonymised with
    # the same key to find each test user's hidden tastes.
    # Users and items from other sources (an inbox file) have no simulated response: their
    # users are left out of the test and their items draw no click, both counted.
    shop_ids = pd.Index(pseudonymise(pd.Series(shop._users["raw_id"]), privacy.key().key))
    all_users = pd.Index(sorted(lists["user_id"].unique()))
    user_ids = all_users[shop_ids.get_indexer(all_users) >= 0]
    if user_ids.empty:
        raise ValueError(f"none of the {len(all_users)} test users is the demo shop's: was the warehouse filled from "
                         "another source or with another pseudonym key?")
    users = shop_ids.get_indexer(user_ids)
    lists = lists[lists["user_id"].isin(user_ids)]
    items = pd.Index(shop.products()["item_id"]).get_indexer(lists["item_id"])
    k = int(lists["rank"].max())
    matrices = {}
    for strategy, g in lists.assign(item=items).groupby("strategy"):
        m = np.full((len(user_ids), k), -1, dtype=np.int64)
        m[user_ids.get_indexer(g["user_id"]), g["rank"].to_numpy() - 1] = g["item"].to_numpy()
        matrices[strategy] = m
    start = pd.Timestamp(lists["cutoff"].iloc[0]).date()
    exact, per_user = simulate_list_test(ListResponse(shop), users, user_ids.to_numpy(), matrices, start, config.arms,
                                         config.salt, config.visits, config.seed)
    table = offline.drop(columns=["model_version"]).rename(columns={"ndcg_10": "offline_ndcg_10"}).merge(
        exact.rename(columns={"clicks": "online_clicks", "any_click": "online_any_click", "revenue": "online_revenue"}),
        on="strategy")
    table["offline_rank"] = table["offline_ndcg_10"].rank(ascending=False, method="min").astype(int)
    table["online_rank"] = table["online_clicks"].rank(ascending=False, method="min").astype(int)
    agreement = ranking_agreement(dict(zip(table["strategy"], table["offline_ndcg_10"])),
                                  dict(zip(table["strategy"], table["online_clicks"])))
    control, treated = config.arms[1], config.arms[0]
    ab = readout(per_user, control=control)
    ab_treated = ab.set_index("arm").loc[treated]
    truth = table.set_index("strategy")
    offline_says = "better" if truth.loc[treated, "offline_ndcg_10"] > truth.loc[control, "offline_ndcg_10"] else "worse"
    online_says = ("better" if ab_treated["lift_low"] > 0 else "worse" if ab_treated["lift_high"] < 0 else "no different")
    mde = minimum_detectable_effect(float(ab.set_index("arm").loc[control, "conversion_rate"]),
                                    int(ab["users"].min()))
    now = pd.Timestamp.now("UTC").tz_localize(None)
    version = str(offline["model_version"].iloc[0])
    warehouse.replace_table("monitoring.recommendation_online_test", table.assign(model_version=version, created_at=now),
                            f"{ONLINE_DDL_COLUMNS}, model_version, created_at")
    warehouse.replace_table("monitoring.recommendation_ab", ab.assign(model_version=version, created_at=now))
    verdict = (f"offline NDCG@10 says {treated} is {offline_says} than {control}; the simulated A/B test says "
               f"{online_says} (lift in users who clicked: {ab_treated['lift']:+.4f} "
               f"[{ab_treated['lift_low']:+.4f}, {ab_treated['lift_high']:+.4f}], minimum detectable {mde:.4f})")
    context.log.info(verdict)
    return MaterializeResult(metadata={
        "model_version": version, "test_users": len(user_ids), "visits": config.visits,
        "test_users_of_other_sources": len(all_users) - len(user_ids),
        "listed_items_of_other_sources": int((items < 0).sum()),
        "kendall_tau": round(agreement["kendall_tau"], 4), "kendall_p": round(agreement["kendall_p"], 4),
        "same_best": agreement["same_best"], "offline_best": agreement["offline_best"],
        "online_best": agreement["online_best"],
        "discordant_pairs": MetadataValue.json(agreement["discordant_pairs"]),
        "strategies": MetadataValue.md(table.sort_values("online_rank").round(4).to_markdown(index=False)),
        "ab_test": MetadataValue.md(ab.round(5).to_markdown(index=False)),
        "ab_verdict": verdict, "ab_lift": round(float(ab_treated["lift"]), 5), "ab_p_value": float(ab_treated["p_value"]),
        "minimum_detectable_effect": round(mde, 5)})


recommend_assets = [recommender, recommendations, recommendation_online_test]
recommend_checks = [champion_challenger_gate, lists_respect_filters, reasons_name_history_items]
