"""Recommend group: train, evaluate and gate the hybrid recommender; serve the champion.

    ml/recommender              the hybrid, saved as arrays in the model store, registered
                                in ml.model_registry; a blocking gate check keeps a worse
                                challenger from serving
    ml/recommendation_metrics   every strategy on the temporal test window
    serving/recommendations     top-K per user with a reason, from the registry's champion
"""

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
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

from ecom_assets.assets.gates import current_champion, gate_check
from ecom_assets.assets.metadata import preview, version_stamp
from ecom_assets.assets.text import read_item_embeddings
from ecom_assets.ml.model_io import load_blend, save_blend
from ecom_assets.ml.recommend import ItemGroups, RecommenderSettings, explanation_links, reason_texts, train_and_evaluate
from ecom_assets.ml.registry import register_and_gate
from ecom_assets.ml.serving import recommend
from ecom_assets.ml.temporal import encode_events, histories_before
from ecom_assets.resources import ModelStoreResource, WarehouseResource

GROUP = "recommend"
POOL = "warehouse"
MODEL_NAME = "recommender"
GATE_METRIC = "NDCG@10"
FEATURE_DEPS = [AssetKey(["staging", "stg_events"]), AssetKey(["marts", "split_cutoff"]),
                AssetKey(["marts", "user_features"]), AssetKey(["marts", "item_features"])]
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

    def settings(self, item_embeddings: np.ndarray | None = None) -> RecommenderSettings:
        return RecommenderSettings(k=self.k, valid_days=self.valid_days, seed=self.seed,
                                   als_factors=self.als_factors, als_iterations=self.als_iterations,
                                   sasrec_seconds=self.sasrec_seconds, sasrec_epochs=self.sasrec_epochs,
                                   item_embeddings=item_embeddings if self.use_text else None)


class ServingConfig(Config):
    k: int = 20
    """Items per user."""
    exclude: Literal["bought", "seen"] = "bought"
    """Items a user is not offered again: "bought" (default) or "seen" (anything interacted with)."""


def _read_shop(warehouse: WarehouseResource, with_embeddings: bool = False) -> dict:
    with warehouse.connect(read_only=True) as con:
        shop = {
            "events": con.execute(
                "SELECT user_id, item_id, event_time, event_type FROM staging.stg_events "
                "WHERE event_type NOT IN ('refund', 'remove_from_cart')").df(),
            "cutoff": con.execute("SELECT cutoff FROM marts.split_cutoff").fetchone()[0],
            "users": con.execute("SELECT user_id FROM marts.user_features ORDER BY user_id").df()["user_id"],
            "items": con.execute(
                "SELECT item_id, title_en, category_l2, brand, is_active, stock_qty "
                "FROM marts.item_features ORDER BY item_id").df(),
        }
        if with_embeddings:
            shop["embeddings"] = read_item_embeddings(con, pd.Index(shop["items"]["item_id"]))
    return shop


def _bar_chart(metrics: pd.DataFrame, column: str = "ndcg_10", width: int = 30) -> str:
    top = max(metrics[column].max(), 1e-12)
    lines = [f"`{s:<12}` {'█' * max(1, round(width * v / top))} {v:.4f}" for s, v in zip(metrics["strategy"], metrics[column])]
    return f"**{column} by strategy**\n\n" + "  \n".join(lines)


AT_CUTOFF_FILE = "model_at_cutoff.npz"


def _rescore_champion(context, warehouse: WarehouseResource, shop: dict, config) -> tuple[str, float] | None:
    """(champion version, its validation NDCG@10 on this training's validation window).

    Same cutoff: the recorded figure is on this very window. Otherwise the champion's
    serving model cannot be scored here (it is refit on every event, this window
    included); its twin fit only up to its own test cutoff (saved beside it) can, when
    that cutoff is before this window: the champion as it stood then, on the users and
    items it knows. Else the recorded figure stands."""
    from ecom_assets.ml.recommend import validation_ndcg

    champ = current_champion(warehouse, MODEL_NAME)
    if champ is None:
        return None
    cutoff = np.datetime64(shop["cutoff"])
    trained_until = champ["params"].get("test_cutoff")
    if trained_until is not None and np.datetime64(trained_until) == cutoff:
        return champ["version"], float(champ["metrics"][GATE_METRIC])
    at_cutoff = Path(champ["artifact_path"]).parent / AT_CUTOFF_FILE
    valid_start = cutoff - np.timedelta64(int(config.valid_days * 86_400), "s")
    if trained_until is None or np.datetime64(trained_until) > valid_start or not at_cutoff.exists():
        context.log.info(f"champion {champ['version']}: no model of it that is unseen by this validation window; "
                         "the gate uses its recorded metric")
        return None
    try:
        model, extras = load_blend(at_cutoff, expected_sha256=champ["params"].get("at_cutoff_sha256"))
    except (OSError, ValueError) as exc:
        context.log.warning(f"champion {champ['version']} cannot be loaded ({exc}); the gate uses its recorded metric")
        return None
    events = encode_events(shop["events"], pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"]))
    score, users = validation_ndcg(model, events, cutoff, config.valid_days, config.seed)
    context.log.info(f"champion {champ['version']} (as fit to its cutoff {trained_until}) on this validation window: "
                     f"NDCG@10 {score:.4f} over {users:,} users (recorded at its training: "
                     f"{champ['metrics'].get(GATE_METRIC, float('nan')):.4f})")
    return champ["version"], score


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
    shop = _read_shop(warehouse, with_embeddings=True)
    users, items = pd.Index(shop["users"]), pd.Index(shop["items"]["item_id"])
    events = encode_events(shop["events"], users, items)
    embeddings, encoder_version = shop["embeddings"] or (None, None)
    if embeddings is None and config.use_text:
        context.log.warning("ml.item_embeddings not found: training without the text strategy")
    category, categories = pd.factorize(shop["items"]["category_l2"].fillna("Unknown"))
    brand, brands = pd.factorize(shop["items"]["brand"].fillna("Unknown"))
    result = train_and_evaluate(events, np.datetime64(shop["cutoff"]), ItemGroups(category, len(categories), brand, len(brands)),
                                config.settings(embeddings))

    created = datetime.now(timezone.utc)
    version = version_stamp(created, context.run_id)
    folder = model_store.version_dir(MODEL_NAME, version)
    ids = {"item_ids": items.to_numpy(dtype=str), "user_ids": users.to_numpy(dtype=str)}
    sha = save_blend(folder / "model.npz", result.model, extras=ids)
    at_cutoff_sha = save_blend(folder / AT_CUTOFF_FILE, result.at_cutoff, extras=ids) if result.at_cutoff else None
    hybrid = result.metrics.set_index("strategy").loc["hybrid"].to_dict()
    params = {**config.model_dump(), "weights": result.weights, "text_encoder_version": encoder_version,
              "test_cutoff": str(shop["cutoff"]), "at_cutoff_sha256": at_cutoff_sha}
    metrics = {GATE_METRIC: result.validation["NDCG@10"], "validation_users": result.validation["users"],
               "test_ndcg_10": hybrid.get("ndcg_10"), "test_recall_10": hybrid.get("recall_10")}
    card = {"name": MODEL_NAME, "version": version, "created_at": created.isoformat(), "params": params,
            "metrics": metrics, "data": {"users": len(users), "items": len(items), "events": int(len(events.users)),
                                         "test_cutoff": str(shop["cutoff"]), "at_cutoff_sha256": at_cutoff_sha}, "sha256": sha}
    (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))

    table = result.metrics.assign(model_version=version, created_at=created.replace(tzinfo=None))
    rescored = _rescore_champion(context, warehouse, shop, config) if config.rescore_champion else None
    with warehouse.connect() as con:
        decision = register_and_gate(con, MODEL_NAME, version, params, metrics, str(folder / "model.npz"), sha,
                                     GATE_METRIC, config.gate_tolerance, champion_rescored=rescored)
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.execute("BEGIN TRANSACTION")
        con.register("_metrics", table)
        con.execute("CREATE OR REPLACE TABLE ml.recommendation_metrics AS SELECT * FROM _metrics")
        con.execute("COMMIT")
    context.log.info(f"{version}: {'promoted' if decision.promote else 'REJECTED'} ({decision.reason})")
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommender"]),
        metadata={"version": version, "path": MetadataValue.path(str(folder / "model.npz")), "sha256": sha,
                  "sasrec_epochs": result.tuning.get("sasrec_epochs") or 0,
                  "promoted": decision.promote, "gate": decision.reason, "gate_basis": decision.basis, "weights": MetadataValue.json(result.weights),
                  "validation_ndcg_10": round(result.validation["NDCG@10"], 4),
                  "validation_users": result.validation["users"]},
    )
    yield MaterializeResult(
        asset_key=AssetKey(["ml", "recommendation_metrics"]),
        metadata={"table": "ml.recommendation_metrics", "metrics": MetadataValue.md(result.metrics.round(4).to_markdown(index=False)),
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
    model, extras = load_blend(Path(champ["artifact_path"]), expected_sha256=champ["sha256"])
    users, items = pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"])
    shop = _read_shop(warehouse)
    events = encode_events(shop["events"], users, items)
    histories = histories_before(events)
    bought_events = shop["events"][shop["events"]["event_type"] == "purchase"]
    bought_enc = encode_events(bought_events, users, items)
    bought = [set(h.tolist()) for h in histories_before(bought_enc)]
    exclude = [np.fromiter(b, dtype=np.int64) for b in bought] if config.exclude == "bought" else histories
    catalogue = shop["items"].set_index("item_id").reindex(items)
    blocked = (~catalogue["is_active"].fillna(True).astype(bool) | (catalogue["stock_qty"].fillna(1) <= 0)).to_numpy()
    top = recommend(model, np.arange(len(users)), histories, config.k, exclude=exclude, blocked=blocked,
                    explainer=explanation_links(model))
    reasons = reason_texts(top.items, top.anchors, top.origins, top.origin_names, bought,
                           catalogue["title_en"].fillna(pd.Series(items, index=items)).to_numpy(),
                           catalogue["category_l2"].fillna("the shop").to_numpy())
    filled = top.items >= 0
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    frame = pd.DataFrame({
        "user_id": users.to_numpy()[top.users[filled]],
        "rank": np.tile(np.arange(1, config.k + 1), (len(users), 1))[filled],
        "item_id": items.to_numpy()[top.items[filled]],
        "score": top.scores[filled].astype(float),
        "strategy": np.array(top.origin_names, dtype=object)[top.origins[filled]],
        "reason": reasons[filled],
        "model_version": champ["version"],
        "generated_at": generated_at,
    })
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS serving")
        con.execute("BEGIN TRANSACTION")
        con.register("_recs", frame)
        con.execute("CREATE OR REPLACE TABLE serving.recommendations AS SELECT * FROM _recs")
        con.execute("COMMIT")
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
            JOIN (SELECT DISTINCT user_id, item_id FROM staging.stg_events WHERE event_type = 'purchase') p USING (user_id, item_id)
        """).fetchone()[0]
        blocked = con.execute("""
            SELECT count(*) FROM serving.recommendations r JOIN marts.item_features i USING (item_id)
            WHERE NOT coalesce(i.is_active, true) OR coalesce(i.stock_qty, 1) <= 0
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
