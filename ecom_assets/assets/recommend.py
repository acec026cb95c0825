"""Recommend group: train, evaluate and gate the hybrid recommender; serve the champion.

    ml/recommender              the hybrid, saved as arrays in the model store, registered
                                in ml.model_registry; a blocking gate check keeps a worse
                                challenger from serving
    ml/recommendation_metrics   every strategy on the temporal test window
    serving/recommendations     top-K per user with a reason, from the registry's champion
"""

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

from ecom_assets.assets.configs import to_settings
from ecom_assets.assets.gates import current_champion, gate_check, gate_metadata, new_version, register_version
from ecom_assets.assets.metadata import preview
from ecom_assets.assets.shop_tables import read_catalogue, read_history, read_item_embeddings
from ecom_assets.ml.common.rescoring import rescore_champion
from ecom_assets.ml.recsys.lists import recommendation_lists
from ecom_assets.ml.recsys.strategy import load_strategy
from ecom_assets.ml.recsys.training import RecommenderSettings, score_saved_model, train_recommender
from ecom_assets.resources import ModelStoreResource, WarehouseResource

GROUP = "recommend"
POOL = "warehouse"
MODEL_NAME = "recommender"
GATE_METRIC = "NDCG@10"
AT_CUTOFF_FILE = "model_at_cutoff.npz"
FEATURE_DEPS = [AssetKey(["marts", "positive_events"]), AssetKey(["marts", "split_cutoff"]),
                AssetKey(["marts", "user_features"]), AssetKey(["marts", "catalogue"])]
TRAIN_DEPS = [*FEATURE_DEPS, AssetKey(["ml", "item_embeddings"])]


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



class ServingConfig(Config):
    k: int = 20
    """Items per user."""
    exclude: Literal["bought", "seen"] = "bought"
    """Items a user is not offered again: "bought" (default) or "seen" (anything interacted with)."""


def _bar_chart(metrics: pd.DataFrame, column: str = "ndcg_10", width: int = 30) -> str:
    top = max(metrics[column].max(), 1e-12)
    lines = [f"`{s:<12}` {'█' * max(1, round(width * v / top))} {v:.4f}" for s, v in zip(metrics["strategy"], metrics[column])]
    return f"**{column} by strategy**\n\n" + "  \n".join(lines)


@multi_asset(
    specs=[
        AssetSpec(["ml", "recommender"], deps=TRAIN_DEPS, group_name=GROUP, kinds={"python", "numpy"},
                  description="Hybrid recommender (transitions, item-KNN, popularity, ALS, SASRec, product-text similarity) "
                              "with blend weights tuned "
                              "on validation; saved as arrays with a model card, registered and gated."),
        AssetSpec(["ml", "recommendation_metrics"], deps=TRAIN_DEPS, group_name=GROUP, kinds={"duckdb"},
                  description="Every strategy on the temporal test window: HR, Recall, NDCG, MAP at 10 and 20, "
                              "coverage, diversity, novelty, popularity bias, exposure Gini by brand and category."),
    ],
    name="recommender",
    pool=POOL,
)
def recommender(context: AssetExecutionContext, config: RecommenderConfig, warehouse: WarehouseResource,
                model_store: ModelStoreResource):
    events, cutoff, users = read_history(warehouse)
    catalogue = read_catalogue(warehouse)
    items = pd.Index(catalogue["item_id"])
    embeddings, encoder_version = read_item_embeddings(warehouse, items) or (None, None)
    if embeddings is None and config.use_text:
        context.log.warning("ml.item_embeddings not found: training without the text strategy")
    settings = to_settings(config, RecommenderSettings, item_embeddings=embeddings if config.use_text else None)
    result = train_recommender(events, users, catalogue, cutoff, settings)

    new = new_version(context, model_store, MODEL_NAME)
    ids = {"item_ids": items.to_numpy(dtype=str), "user_ids": users.to_numpy(dtype=str)}
    sha = result.model.save(new.folder / "model.npz", extras=ids)
    # The twin fit only up to the test cutoff: what a later training's gate can score.
    at_cutoff_sha = result.at_cutoff.save(new.folder / AT_CUTOFF_FILE, extras=ids) if result.at_cutoff else None
    hybrid = result.metrics.set_index("strategy").loc["hybrid"].to_dict()
    params = {**config.model_dump(), "weights": result.weights, "text_encoder_version": encoder_version,
              "test_cutoff": str(cutoff), "at_cutoff_sha256": at_cutoff_sha}
    metrics = {GATE_METRIC: result.validation["NDCG@10"], "validation_users": result.validation["users"],
               "test_ndcg_10": hybrid.get("ndcg_10"), "test_recall_10": hybrid.get("recall_10")}
    card = new.card(params=params, metrics=metrics, sha256=sha,
                    data={"users": len(users), "items": len(items), "events": len(events), "test_cutoff": str(cutoff),
                          "at_cutoff_sha256": at_cutoff_sha},
                    summary=[f"hybrid of {', '.join(k for k, w in result.weights.items() if w)}, weights tuned on the "
                             f"{config.valid_days:g} days before the test cutoff {cutoff}"])

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
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommender"]),
        metadata={"version": new.version, "path": MetadataValue.path(str(new.folder / "model.npz")), "sha256": sha,
                  "sasrec_epochs": result.tuning.get("sasrec_epochs") or 0, **gate_metadata(decision),
                  "weights": MetadataValue.json(result.weights),
                  "validation_ndcg_10": round(result.validation["NDCG@10"], 4),
                  "validation_users": result.validation["users"]},
    )
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommendation_metrics"]),
        metadata={"table": "ml.recommendation_metrics",
                  "metrics": MetadataValue.md(result.metrics.round(4).to_markdown(index=False)),
                  "plot": MetadataValue.md(_bar_chart(result.metrics)) if "ndcg_10" in result.metrics else "no test users",
                  "evaluated_users": int(result.metrics["evaluated_users"].iloc[0])},
    )


champion_challenger_gate = gate_check(MODEL_NAME, AssetKey(["ml", "recommender"]), f"validation {GATE_METRIC}")


@asset(key=["serving", "recommendations"], deps=[AssetKey(["ml", "recommender"]), *FEATURE_DEPS], group_name=GROUP,
       kinds={"duckdb"}, pool=POOL,
       description="Top-K items per user from the registry's champion, with the strategy behind each item and a reason; "
                   "bought items excluded, hidden and out-of-stock items filtered.")
def recommendations(context: AssetExecutionContext, config: ServingConfig, warehouse: WarehouseResource) -> MaterializeResult:
    champ = current_champion(warehouse, MODEL_NAME, required_by="serving/recommendations")
    model, extras = load_strategy(Path(champ["artifact_path"]), expected_sha256=champ["sha256"])
    events, _, _ = read_history(warehouse)
    frame = recommendation_lists(model, pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"]), events,
                                 read_catalogue(warehouse), config.k, config.exclude)
    frame = frame.assign(model_version=champ["version"], generated_at=datetime.now(timezone.utc).replace(tzinfo=None))
    warehouse.replace_table("serving.recommendations", frame)
    kinds = frame["reason"].str.extract(r"^(often bought with|because you viewed|similar to|popular in)")[0].value_counts()
    return MaterializeResult(metadata={
        "dagster/row_count": len(frame), "users": int(frame["user_id"].nunique()), "model_version": champ["version"],
        "strategy_mix": MetadataValue.json(frame["strategy"].value_counts().to_dict()),
        "reason_mix": MetadataValue.json(kinds.to_dict()),
        "preview": preview(frame.drop(columns=["generated_at"]), rows=8),
    })


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


recommend_assets = [recommender, recommendations]
recommend_checks = [champion_challenger_gate, lists_respect_filters]
