"""Text group: the shop's product text encoder, its ONNX export and the embeddings.

    ml/product_text_encoder        base checkpoint fine-tuned contrastively on co-interaction
                                   pairs of the training window; HF checkpoint + model card in
                                   the model store, registered and gated in ml.model_registry
    ml/product_text_encoder_onnx   fp32 (pooling + normalisation in the graph) and int8 ONNX;
                                   blocking parity checks against torch
    ml/item_embeddings             one vector per catalogue item (onnxruntime); only items
                                   whose text or model changed are re-embedded
    ml/user_embeddings             recency-weighted mean of each user's recent items
    serving/similar_items          top-10 look-alike items per item (exact or faiss index)
"""


import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ecom_assets.assets.gates import current_champion, gate_check
from ecom_assets.assets.metadata import preview, version_stamp
from ecom_assets.resources import ModelStoreResource, WarehouseResource

GROUP = "text"
POOL = "warehouse"
MODEL_NAME = "product_text_encoder"
GATE_METRIC = "NDCG@10"
ENCODER_KEY = AssetKey(["ml", "product_text_encoder"])
ONNX_KEY = AssetKey(["ml", "product_text_encoder_onnx"])
ITEM_EMBEDDINGS_KEY = AssetKey(["ml", "item_embeddings"])
CATALOGUE_DEPS = [AssetKey(["marts", "item_features"]), AssetKey(["staging", "stg_products"])]
HISTORY_DEPS = [AssetKey(["staging", "stg_events"]), AssetKey(["marts", "split_cutoff"])]
MAX_UNKNOWN_SHARE = 0.05
MAX_ABS_DIFF = 1e-4
MIN_INT8_COSINE = 0.98
PROBE_EXTRA = ["无线蓝牙耳机 降噪 长续航", "stainless steel water bottle, 750 ml", "儿童益智积木玩具套装",
               "organic green tea, 100 bags", "a", "运动鞋 男款 透气 跑步"]


class TextEncoderConfig(Config):
    base_model: str = ""
    """Local Hugging Face checkpoint folder or hub id of a BERT-family encoder; empty = the packaged
    all-MiniLM-L6-v2 (English). A multilingual checkpoint is a drop-in for Chinese catalogues."""
    language: Literal["auto", "en", "zh", "both"] = "auto"
    """Which title/description the encoder reads: auto = English where present, else Chinese."""
    max_length: int = 64
    mode: Literal["head", "full"] = "head"
    """head: train a projection head over cached embeddings (fast on CPU); full: every layer (GPU)."""
    objective: Literal["pairs", "next_item"] = "next_item"
    """pairs: items taken together; next_item: a user's recent items against the item they took next."""
    epochs: int = 150
    batch_size: int = 256
    learning_rate: float = 1e-3
    head_hidden: int = 0
    """0: a linear residual projection head; > 0: a one-hidden-layer MLP head of that width."""
    hard_negatives: int = 1
    pair_window: int = 2
    patience: int = 12
    max_seconds: float = 300.0
    """Training time budget; the best epoch so far is kept when it runs out."""
    valid_days: float = 3.0
    """Validation window just before the test cutoff: early stopping and the gate read it."""
    gate_tolerance: float = 0.02
    rescore_champion: bool = True
    """Score the champion on this training's validation window too, so the gate compares like with like."""
    seed: int = 0
    device: str = "auto"


class EmbeddingConfig(Config):
    precision: Literal["fp32", "int8"] = "fp32"
    """Which ONNX model embeds the catalogue (int8 is ~1.7x faster, cosine >= 0.98 to fp32)."""
    batch_size: int = 128
    user_window: int = 10
    """Recent items that make a user's embedding (weights decay 0.8 per step back)."""


def _catalogue(warehouse: WarehouseResource) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        return con.execute("""
            SELECT i.item_id, i.title_en, i.title_zh, i.category_path, i.brand, i.price_band, i.is_active, i.stock_qty,
                   p.description_en, p.description_zh
            FROM marts.item_features i LEFT JOIN staging.stg_products p USING (item_id)
            ORDER BY i.item_id""").df()


def _events(warehouse: WarehouseResource) -> tuple[pd.DataFrame, object, pd.Series]:
    with warehouse.connect(read_only=True) as con:
        events = con.execute("SELECT user_id, item_id, event_time FROM staging.stg_events "
                             "WHERE event_type NOT IN ('refund', 'remove_from_cart')").df()
        cutoff = con.execute("SELECT cutoff FROM marts.split_cutoff").fetchone()[0]
        users = con.execute("SELECT user_id FROM marts.user_features ORDER BY user_id").df()["user_id"]
    return events, cutoff, users


def _files_sha256(folder: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()


def _champion_folder(warehouse: WarehouseResource, required_by: str) -> tuple[dict, Path]:
    champ = current_champion(warehouse, MODEL_NAME, required_by)
    return champ, Path(champ["artifact_path"])


def _rescore_champion(context, warehouse: WarehouseResource, texts: list[str], valid, cutoff, valid_start,
                      config) -> tuple[str, float] | None:
    """(champion version, its validation NDCG@10 on this training's validation window).

    Same cutoff: the recorded figure is on this very window. Otherwise the champion is
    scored here only if it trained on nothing after this window's start (the encoder
    trains before its own validation window); else it would be judged on data it learnt
    from, and the recorded figure stands."""
    from ecom_assets.ml.text_encoder import EncoderLoadError, TorchEncoder
    from ecom_assets.ml.text_finetune import validation_ndcg

    champ = current_champion(warehouse, MODEL_NAME)
    if champ is None:
        return None
    if champ["params"].get("test_cutoff") == str(cutoff):
        return champ["version"], float(champ["metrics"][GATE_METRIC])
    trained_until = champ["params"].get("train_until")
    if trained_until is None or np.datetime64(trained_until) > valid_start:
        context.log.info(f"champion {champ['version']} trained on part of this validation window (or its training end is "
                         "unknown): the gate uses its recorded metric")
        return None
    try:
        previous = TorchEncoder.load(champ["artifact_path"], max_length=config.max_length)
    except EncoderLoadError as exc:
        context.log.warning(f"champion {champ['version']} cannot be loaded ({exc}); the gate uses its recorded metric")
        return None
    score = validation_ndcg(previous.encode(texts, batch_size=128), valid, config.seed)
    context.log.info(f"champion {champ['version']} on this validation window: NDCG@10 {score:.4f} "
                     f"(recorded at its training: {champ['metrics'].get(GATE_METRIC, float('nan')):.4f})")
    return champ["version"], score


@asset(key=ENCODER_KEY, deps=[*CATALOGUE_DEPS, *HISTORY_DEPS], group_name=GROUP, kinds={"pytorch", "huggingface"},
       pool=POOL,
       description="Product text encoder (BERT family, default all-MiniLM-L6-v2) fine-tuned contrastively on items taken "
                   "together in the training window; Hugging Face checkpoint + model card, registered and gated.")
def product_text_encoder(context: AssetExecutionContext, config: TextEncoderConfig, warehouse: WarehouseResource,
                         model_store: ModelStoreResource) -> MaterializeResult:
    from ecom_assets.ml.product_text import product_texts
    from ecom_assets.ml.registry import register_and_gate
    from ecom_assets.ml.temporal import encode_events, histories_before, window_split
    from ecom_assets.ml.text_encoder import EncoderLoadError, TorchEncoder, default_base_model
    from ecom_assets.ml.text_finetune import FinetuneConfig, finetune

    try:  # a wrong base path fails here, before any data is read
        encoder = TorchEncoder.load(config.base_model or None, max_length=config.max_length)
    except EncoderLoadError as exc:
        raise Failure(str(exc)) from exc
    catalogue = _catalogue(warehouse)
    events, cutoff, users = _events(warehouse)
    items = pd.Index(catalogue["item_id"])
    texts = product_texts(catalogue, config.language)
    unknown_share = encoder.unknown_token_share(texts)
    if unknown_share > MAX_UNKNOWN_SHARE:
        context.log.warning(f"{unknown_share:.0%} of the catalogue's tokens are unknown to the base model: its vocabulary "
                            "does not cover this language; set base_model to a multilingual checkpoint")
    ev = encode_events(events, pd.Index(users), items)
    cutoff = np.datetime64(cutoff)
    valid_start = cutoff - np.timedelta64(int(config.valid_days * 86_400), "s")
    train_histories = histories_before(ev, valid_start)
    valid, _ = window_split(ev, train_histories, valid_start, cutoff)
    settings = FinetuneConfig(mode=config.mode, objective=config.objective, epochs=config.epochs, batch_size=config.batch_size,
                              learning_rate=config.learning_rate, head_hidden=config.head_hidden,
                              hard_negatives=config.hard_negatives, pair_window=config.pair_window,
                              patience=config.patience, max_seconds=config.max_seconds, seed=config.seed,
                              device=config.device)
    result = finetune(encoder, texts, train_histories, valid, settings, log=context.log.info)

    created = datetime.now(timezone.utc)
    version = version_stamp(created, context.run_id)
    folder = model_store.version_dir(MODEL_NAME, version)
    encoder.save(folder)
    weights = sorted(p.name for p in folder.glob("*.safetensors"))
    sha = _files_sha256(folder, weights)
    gain = result.best_ndcg / result.zero_shot_ndcg - 1 if result.zero_shot_ndcg > 0 else 0.0
    metrics = {GATE_METRIC: result.best_ndcg, "zero_shot_validation_ndcg_10": result.zero_shot_ndcg,
               "relative_gain": gain, "validation_users": int(len(valid.targets)), "best_epoch": result.best_epoch}
    params = {**config.model_dump(), "base_model": config.base_model or "packaged all-MiniLM-L6-v2",
              "test_cutoff": str(cutoff), "train_until": str(valid_start)}
    card = {
        "name": MODEL_NAME, "version": version, "created_at": created.isoformat(),
        "base_model": config.base_model or default_base_model(), "language": config.language,
        "max_length": config.max_length, "params": params, "metrics": metrics,
        "data": {"items": len(items), "pairs": result.pairs, "examples": result.examples,
                 "unknown_token_share": round(unknown_share, 4), "train_window_end": str(valid_start),
                 "validation_window": [str(valid_start), str(cutoff)], "validation_users": int(len(valid.targets))},
        "training": {"device": result.device, "steps": result.steps, "seconds": round(result.seconds, 1),
                     "pairs_per_second": round(result.pairs_per_second, 1), "history": result.history},
        "files": weights, "sha256": sha,
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
    (folder / "README.md").write_text(_model_card_markdown(card))
    rescored = (_rescore_champion(context, warehouse, texts, valid, cutoff, valid_start, config)
                if config.rescore_champion else None)
    with warehouse.connect() as con:
        decision = register_and_gate(con, MODEL_NAME, version, params, metrics, str(folder), sha, GATE_METRIC,
                                     config.gate_tolerance, champion_rescored=rescored)
    context.log.info(f"{version}: {'promoted' if decision.promote else 'REJECTED'} ({decision.reason})")
    return MaterializeResult(metadata={
        "version": version, "path": MetadataValue.path(str(folder)), "sha256": sha, "promoted": decision.promote,
        "gate": decision.reason, "gate_basis": decision.basis, "pairs": result.pairs, "examples": result.examples,
        "best_epoch": result.best_epoch,
        "unknown_token_share": round(unknown_share, 4),
        "zero_shot_validation_ndcg_10": round(result.zero_shot_ndcg, 4),
        "validation_ndcg_10": round(result.best_ndcg, 4), "relative_gain": round(gain, 4),
        "train_seconds": round(result.seconds, 1), "pairs_per_second": round(result.pairs_per_second, 1),
        "device": result.device, "model_card": MetadataValue.md(_model_card_markdown(card)),
    })


def _model_card_markdown(card: dict) -> str:
    m, d, t = card["metrics"], card["data"], card["training"]
    return "\n".join([
        f"# {card['name']} {card['version']}",
        f"- base model: `{card['base_model']}`; text language: {card['language']}; max length {card['max_length']} tokens",
        f"- training: {d['examples']:,} {card['params']['objective']} examples ({d['pairs']:,} distinct item pairs taken "
        f"together) before {d['train_window_end']}; {d['items']:,} items; {d['unknown_token_share']:.1%} unknown tokens",
        f"- validation window {d['validation_window'][0]} .. {d['validation_window'][1]}: {d['validation_users']:,} users",
        f"- validation NDCG@10 of the text strategy: zero-shot {m['zero_shot_validation_ndcg_10']:.4f} -> "
        f"fine-tuned {m['NDCG@10']:.4f} (best epoch {m['best_epoch']})",
        f"- trained on {t['device']}: {t['steps']} steps, {t['seconds']} s, {t['pairs_per_second']} pairs/s",
        f"- weights sha256 {card['sha256']}",
    ])


@asset(key=ONNX_KEY, deps=[ENCODER_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"onnx"}, pool=POOL,
       check_specs=[AssetCheckSpec("fp32_matches_torch", asset=ONNX_KEY, blocking=True,
                                   description=f"fp32 ONNX vs torch max abs difference <= {MAX_ABS_DIFF} on the probe set"),
                    AssetCheckSpec("int8_close_to_fp32", asset=ONNX_KEY, blocking=True,
                                   description=f"int8 vs fp32 ONNX mean cosine >= {MIN_INT8_COSINE} on the probe set "
                                               "(the minimum is reported)")],
       description="The champion encoder in ONNX: pooling and normalisation inside the graph, dynamic batch and sequence "
                   "axes; plus a dynamically quantised int8 copy (per-channel weights).")
def product_text_encoder_onnx(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.product_text import product_texts
    from ecom_assets.ml.text_encoder import OnnxEncoder, TorchEncoder, max_abs_diff, quantize_int8, row_cosines

    champ, folder = _champion_folder(warehouse, "ml/product_text_encoder_onnx")
    card = json.loads((folder / "card.json").read_text())
    torch_encoder = TorchEncoder.load(str(folder), max_length=card["max_length"])
    onnx_dir = folder / "onnx"
    fp32 = torch_encoder.export_onnx(onnx_dir / "model.onnx")
    int8 = quantize_int8(fp32, onnx_dir / "model_int8.onnx")
    catalogue = _catalogue(warehouse)
    probe = product_texts(catalogue.sample(min(len(catalogue), 250), random_state=0), card["language"]) + PROBE_EXTRA
    reference = torch_encoder.encode(probe)
    fp32_out = OnnxEncoder(fp32, torch_encoder.tokenizer, card["max_length"]).encode(probe)
    int8_out = OnnxEncoder(int8, torch_encoder.tokenizer, card["max_length"]).encode(probe)
    diff = max_abs_diff(reference, fp32_out)
    cosines = row_cosines(fp32_out, int8_out)
    parity = {"version": champ["version"], "max_abs_diff": diff, "int8_min_cosine": float(cosines.min()),
              "int8_mean_cosine": float(cosines.mean()), "probe_texts": len(probe),
              "passed": bool(diff <= MAX_ABS_DIFF and cosines.mean() >= MIN_INT8_COSINE),
              "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (fp32, int8)}}
    # Embedding reads this file and refuses a model whose parity failed.
    (onnx_dir / "parity.json").write_text(json.dumps(parity, indent=2))
    return MaterializeResult(metadata={
        "version": champ["version"], "fp32_path": MetadataValue.path(str(fp32)), "int8_path": MetadataValue.path(str(int8)),
        "fp32_mb": round(fp32.stat().st_size / 1e6, 1), "int8_mb": round(int8.stat().st_size / 1e6, 1),
        "max_abs_diff": diff, "int8_min_cosine": round(float(cosines.min()), 5),
        "int8_mean_cosine": round(float(cosines.mean()), 5), "probe_texts": len(probe)}, check_results=[
        AssetCheckResult(check_name="fp32_matches_torch", passed=bool(diff <= MAX_ABS_DIFF), severity=AssetCheckSeverity.ERROR,
                         metadata={"max_abs_diff": diff, "threshold": MAX_ABS_DIFF, "probe_texts": len(probe)}),
        AssetCheckResult(check_name="int8_close_to_fp32", passed=bool(cosines.mean() >= MIN_INT8_COSINE),
                           severity=AssetCheckSeverity.ERROR,
                           metadata={"mean_cosine": float(cosines.mean()), "min_cosine": float(cosines.min()),
                                     "p05_cosine": float(np.percentile(cosines, 5)),
                                   "threshold": MIN_INT8_COSINE})])


def _existing_embeddings(warehouse: WarehouseResource) -> pd.DataFrame:
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "ml.item_embeddings"):
            return pd.DataFrame(columns=["item_id", "model_version", "text_hash", "embedding"])
        return con.execute("SELECT item_id, model_version, text_hash, embedding FROM ml.item_embeddings").df()


@asset(key=ITEM_EMBEDDINGS_KEY, deps=[ONNX_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"onnx", "duckdb"}, pool=POOL,
       description="ml.item_embeddings (item_id, model_version, text_hash, embedding FLOAT[d]) from the champion encoder "
                   "on onnxruntime; items whose text and model are unchanged keep their vectors.")
def item_embeddings(context: AssetExecutionContext, config: EmbeddingConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.product_text import product_texts, text_hash
    from ecom_assets.ml.text_encoder import OnnxEncoder

    champ, folder = _champion_folder(warehouse, "ml/item_embeddings")
    parity_file = folder / "onnx" / "parity.json"
    parity = json.loads(parity_file.read_text()) if parity_file.exists() else {}
    if not parity.get("passed"):
        raise Failure(f"encoder {champ['version']} has no ONNX export that passed its parity checks: "
                      "materialise ml/product_text_encoder_onnx")
    card = json.loads((folder / "card.json").read_text())
    catalogue = _catalogue(warehouse)
    frame = pd.DataFrame({"item_id": catalogue["item_id"], "text": product_texts(catalogue, card["language"])})
    frame["text_hash"] = frame["text"].map(text_hash)
    old = _existing_embeddings(warehouse)
    old = old[old["model_version"] == champ["version"]].set_index("item_id")
    unchanged = frame["item_id"].map(old["text_hash"]).eq(frame["text_hash"]).to_numpy()
    todo = frame[~unchanged]

    vectors = np.zeros((len(todo), 0), dtype=np.float32)
    if len(todo):
        from transformers import AutoTokenizer

        onnx_path = folder / "onnx" / ("model_int8.onnx" if config.precision == "int8" else "model.onnx")
        encoder = OnnxEncoder(onnx_path, AutoTokenizer.from_pretrained(str(folder)), card["max_length"])
        chunks, texts, step = [], todo["text"].tolist(), config.batch_size * 20
        for start in range(0, len(texts), step):
            chunks.append(encoder.encode(texts[start:start + step], batch_size=config.batch_size))
            context.log.info(f"embedded {min(start + step, len(texts)):,} / {len(texts):,} items")
        vectors = np.concatenate(chunks).astype(np.float32)
    dimension = vectors.shape[1] if len(todo) else len(old["embedding"].iloc[0])
    kept = frame[unchanged].assign(embedding=lambda f: f["item_id"].map(old["embedding"]))
    fresh = todo.assign(embedding=list(vectors))
    table = pd.concat([kept, fresh])[["item_id", "text_hash", "embedding"]].assign(
        model_version=champ["version"], precision=config.precision)
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.execute("BEGIN TRANSACTION")
        con.register("_emb", table)
        con.execute(f"CREATE OR REPLACE TABLE ml.item_embeddings AS SELECT item_id, model_version, text_hash, precision, "
                    f"embedding::FLOAT[{dimension}] AS embedding FROM _emb ORDER BY item_id")
        con.execute("COMMIT")
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), "model_version": champ["version"], "dimension": int(dimension),
        "embedded": len(todo), "reused": int(unchanged.sum()), "precision": config.precision,
        "preview": preview(frame.drop(columns=["text_hash"]), rows=5)})


def read_item_embeddings(con, item_ids: pd.Index) -> tuple[np.ndarray, str] | None:
    """Embeddings aligned to `item_ids` (zeros where an item has none) and their model
    version, or None when the table does not exist yet."""
    from ecom_assets.warehouse import table_exists

    if not table_exists(con, "ml.item_embeddings"):
        return None
    table = con.execute("SELECT item_id, model_version, embedding FROM ml.item_embeddings").df()
    if table.empty:
        return None
    matrix = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    out = np.zeros((len(item_ids), matrix.shape[1]), dtype=np.float32)
    where = item_ids.get_indexer(table["item_id"])
    out[where[where >= 0]] = matrix[where >= 0]
    return out, str(table["model_version"].iloc[0])


def _catalogue_with_embeddings(warehouse: WarehouseResource) -> tuple[pd.DataFrame, pd.Index, np.ndarray, str]:
    catalogue = _catalogue(warehouse)
    items = pd.Index(catalogue["item_id"])
    with warehouse.connect(read_only=True) as con:
        found = read_item_embeddings(con, items)
    if found is None:
        raise Failure("ml.item_embeddings is missing: materialise ml/item_embeddings first")
    return catalogue, items, *found


@asset(key=["ml", "user_embeddings"], deps=[ITEM_EMBEDDINGS_KEY, *HISTORY_DEPS], group_name=GROUP, kinds={"duckdb"},
       pool=POOL,
       description="ml.user_embeddings: each user's recent items' embeddings, recency-weighted and normalised, in the "
                   "item space (user-to-item search by cosine).")
def user_embeddings(context: AssetExecutionContext, config: EmbeddingConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.temporal import encode_events, histories_before
    from ecom_assets.ml.text_strategy import user_profiles

    events, _, users = _events(warehouse)
    catalogue, items, matrix, version = _catalogue_with_embeddings(warehouse)
    histories = histories_before(encode_events(events, pd.Index(users), items))
    profiles = user_profiles(histories, matrix, config.user_window)
    has_history = np.array([len(h) > 0 for h in histories])
    table = pd.DataFrame({"user_id": np.asarray(users)[has_history],
                          "n_items": [min(len(h), config.user_window) for h, k in zip(histories, has_history) if k],
                          "embedding": list(profiles[has_history])}).assign(model_version=version)
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        con.register("_users", table)
        con.execute(f"CREATE OR REPLACE TABLE ml.user_embeddings AS SELECT user_id, model_version, n_items, "
                    f"embedding::FLOAT[{matrix.shape[1]}] AS embedding FROM _users ORDER BY user_id")
        con.execute("COMMIT")
    return MaterializeResult(metadata={"dagster/row_count": len(table), "model_version": version,
                                       "users_without_history": int((~has_history).sum())})


@asset(key=["serving", "similar_items"], deps=[ITEM_EMBEDDINGS_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"duckdb"},
       pool=POOL,
       description="Top-10 most similar active, in-stock items per item by text embedding (cold-start items included): "
                   "exact search for small catalogues, a faiss IVF index for large ones.")
def similar_items(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.ann import similar_item_lists

    catalogue, items, matrix, version = _catalogue_with_embeddings(warehouse)
    blocked = (~catalogue["is_active"].fillna(True).astype(bool) | (catalogue["stock_qty"].fillna(1) <= 0)).to_numpy()
    scores, ids, index = similar_item_lists(matrix, k=10, blocked=blocked)
    filled = ids >= 0
    table = pd.DataFrame({"item_id": np.repeat(items.to_numpy(), 10)[filled.ravel()],
                          "rank": np.tile(np.arange(1, 11), len(items))[filled.ravel()],
                          "similar_item_id": items.to_numpy()[ids[filled]], "score": scores[filled].astype(float),
                          "model_version": version})
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS serving")
        con.execute("BEGIN TRANSACTION")
        con.register("_similar", table)
        con.execute("CREATE OR REPLACE TABLE serving.similar_items AS SELECT * FROM _similar")
        con.execute("COMMIT")
    titles = catalogue.set_index("item_id")["title_en"].fillna(catalogue.set_index("item_id")["title_zh"])
    sample = table[table["rank"] <= 3].head(9).assign(item=lambda f: f["item_id"].map(titles),
                                                      similar=lambda f: f["similar_item_id"].map(titles))
    return MaterializeResult(metadata={"dagster/row_count": len(table), "index": index.kind, "model_version": version,
                                       "preview": preview(sample[["item", "rank", "similar", "score"]], rows=9)})


encoder_gate = gate_check(MODEL_NAME, ENCODER_KEY, f"validation {GATE_METRIC} of the text strategy")
text_assets = [product_text_encoder, product_text_encoder_onnx, item_embeddings, user_embeddings, similar_items]
text_checks = [encoder_gate]
