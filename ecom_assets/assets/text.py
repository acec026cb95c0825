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


import copy
import time
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

from ecom_assets.assets.configs import to_settings
from ecom_assets.assets.gates import (
    champion_folder,
    current_champion,
    gate_check,
    gate_metadata,
    new_version,
    record_onnx_export,
    register_version,
    require_onnx_export,
    verified_artifact,
)
from ecom_assets.assets.metadata import preview
from ecom_assets.assets.shop_tables import read_catalogue, read_history, read_item_embeddings
from ecom_assets.deployment import compute_for
from ecom_assets.ml.common.model_card import read_card
from ecom_assets.ml.common.model_files import write_manifest
from ecom_assets.ml.text.export import MAX_ABS_DIFF, MIN_INT8_COSINE
from ecom_assets.resources import BatchComputeResource, ModelStoreResource, WarehouseResource
from ecom_assets.warehouse import table_exists

GROUP = "text"
POOL = "warehouse"
MODEL_NAME = "product_text_encoder"
PACKAGED_BASE = "packaged all-MiniLM-L6-v2"
GATE_METRIC = "NDCG@10"
ENCODER_KEY = AssetKey(["ml", "product_text_encoder"])
ONNX_KEY = AssetKey(["ml", "product_text_encoder_onnx"])
ITEM_EMBEDDINGS_KEY = AssetKey(["ml", "item_embeddings"])
CATALOGUE_DEPS = [AssetKey(["marts", "catalogue"])]
HISTORY_DEPS = [AssetKey(["marts", "positive_events"]), AssetKey(["marts", "split_cutoff"]),
                AssetKey(["marts", "user_features"])]
MAX_UNKNOWN_SHARE = 0.05


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
    extend_vocabulary: bool = True
    """Add the CJK characters the catalogue's texts use that the base vocabulary lacks, initialised from the
    catalogue's own Chinese-English product pairs (ml.text.vocabulary)."""
    vocabulary_ridge: float = 0.05
    """Ridge strength of that initialisation (chosen on the validation products of bench/crosslingual.py)."""
    distill_seconds: float = 25.0
    """Time budget of the multilingual distillation (ml.text.distill: the English model teaches the extended one to
    embed each Chinese text where it embeds the English one) before the co-interaction fine-tuning; 0 = none."""
    distill_train: Literal["new_tokens", "all"] = "new_tokens"
    """new_tokens: only the added characters' embeddings move (English texts embed exactly as before); all: every
    weight (the paper's recipe, for a GPU)."""
    distill_learning_rate: float = 1e-3
    """1e-3 suits new_tokens; all wants ~5e-5."""
    warm_start: bool = False
    """Start from the champion's checkpoint rather than base_model, where the champion was trained from the same
    base model, language and max length: its vocabulary extension and distillation carry over, and only the
    characters it lacks are added and distilled. The retrain sensor's runs set it (a retraining after drift
    continues from what serves); the model card records the version it started from."""


class EmbeddingConfig(Config):
    precision: Literal["auto", "onnx_fp32", "onnx_int8", "torch_fp32", "torch_bf16"] = "auto"
    """Which backend embeds the catalogue: "auto" is the fastest one the export's calibration measured on this
    machine among those within parity of torch fp32 (ml/product_text_encoder_onnx's metadata shows the timings)."""
    batch_size: int = 128
    user_window: int = 10
    """Recent items that make a user's embedding (weights decay 0.8 per step back)."""


@asset(key=ENCODER_KEY, deps=[*CATALOGUE_DEPS, *HISTORY_DEPS], group_name=GROUP, kinds={"pytorch", "huggingface"},
       **compute_for("ml/product_text_encoder", POOL),
       description="Product text encoder (BERT family, default all-MiniLM-L6-v2) fine-tuned contrastively on items taken "
                   "together in the training window; Hugging Face checkpoint + model card, registered and gated.")
def product_text_encoder(context: AssetExecutionContext, config: TextEncoderConfig, warehouse: WarehouseResource,
                         model_store: ModelStoreResource) -> MaterializeResult:
    from ecom_assets.ml.common.rescoring import rescore_champion
    from ecom_assets.ml.text.encoder import EncoderLoadError, TorchEncoder, default_base_model
    from ecom_assets.ml.text.finetune import FinetuneConfig, finetune_on_shop, validation_ndcg
    from ecom_assets.ml.text.product_text import product_texts

    start = _warm_start_champion(warehouse, config) if config.warm_start else None
    try:  # a wrong base path fails here, before any data is read
        encoder = TorchEncoder.load(str(verified_artifact(start)) if start else config.base_model or None,
                                    max_length=config.max_length)
    except EncoderLoadError as exc:
        raise Failure(str(exc)) from exc
    started_from = start["version"] if start else "base model"
    if start:
        context.log.info(f"warm start from the champion {started_from}")
    catalogue = read_catalogue(warehouse)
    events, cutoff, users = read_history(warehouse)
    items = pd.Index(catalogue["item_id"])
    texts = product_texts(catalogue, config.language)
    unknown_share = encoder.unknown_token_share(texts)
    vocabulary, distillation = {}, {}
    if config.extend_vocabulary:
        from ecom_assets.ml.text.distill import DistillConfig, make_bilingual

        # Every language the catalogue is written in, not only the one the item embeddings read:
        # the exported encoder is the shop's one text model (Chinese queries, Chinese-only products).
        chinese = product_texts(catalogue[catalogue["title_zh"].notna()], "zh") if config.language != "zh" else texts
        # The catalogue's own translations: each product with both titles, read in each language.
        both = catalogue.dropna(subset=["title_en", "title_zh"])
        # The teacher is the base model. Started from it, the encoder is that model until the
        # extension changes it: a copy now saves loading it again (~2 s on 2 cores).
        untouched = copy.deepcopy(encoder) if start is None and config.distill_seconds > 0 else None

        def teacher() -> TorchEncoder:
            if untouched is not None:
                return untouched
            return TorchEncoder.load(config.base_model or None, max_length=config.max_length)

        adapted = make_bilingual(
            encoder, teacher, texts, chinese,
            list(zip(product_texts(both, "en"), product_texts(both, "zh"))), config.vocabulary_ridge,
            DistillConfig(train=config.distill_train, max_seconds=config.distill_seconds,
                          learning_rate=config.distill_learning_rate, seed=config.seed, device=config.device),
            log=context.log.info)
        vocabulary, distillation = adapted.vocabulary, adapted.distillation
        unknown_share = encoder.unknown_token_share(texts)
    if unknown_share > MAX_UNKNOWN_SHARE:
        context.log.warning(f"{unknown_share:.0%} of the catalogue's tokens are unknown to the base model: its vocabulary "
                            "does not cover this language; set base_model to a multilingual checkpoint")
    result, window = finetune_on_shop(encoder, texts, events, users, items, cutoff, config.valid_days,
                                      to_settings(config, FinetuneConfig), log=context.log.info)

    new = new_version(context, model_store, MODEL_NAME)
    encoder.save(new.folder)
    weights = sorted(p.name for p in new.folder.glob("*.safetensors"))
    manifest_sha = write_manifest(new.folder)  # every file of the checkpoint, verified before each load
    valid, valid_start = window.split, window.start
    gain = result.best_ndcg / result.zero_shot_ndcg - 1 if result.zero_shot_ndcg > 0 else 0.0
    metrics = {GATE_METRIC: result.best_ndcg, "zero_shot_validation_ndcg_10": result.zero_shot_ndcg,
               "relative_gain": gain, "validation_users": int(len(valid.targets)), "best_epoch": result.best_epoch}
    params = {**config.model_dump(), "base_model": config.base_model or PACKAGED_BASE,
              "test_cutoff": str(cutoff), "train_until": str(valid_start),
              "started_from": started_from}
    card = new.card(
        params=params, metrics=metrics, sha256=manifest_sha,
        data={"items": len(items), "pairs": result.pairs, "examples": result.examples,
              "unknown_token_share": round(unknown_share, 4), "vocabulary_extension": vocabulary,
              "distillation": distillation,
              "train_window_end": str(valid_start),
              "validation_window": [str(valid_start), str(cutoff)], "validation_users": int(len(valid.targets))},
        training={"device": result.device, "steps": result.steps, "seconds": round(result.seconds, 1),
                  "pairs_per_second": round(result.pairs_per_second, 1), "history": result.history},
        details={"base_model": config.base_model or default_base_model(), "language": config.language,
                 "max_length": config.max_length, "files": weights},
        summary=[f"base model `{config.base_model or PACKAGED_BASE}`"
                 + (f", warm-started from {started_from}" if start else "") + f"; text language {config.language}; "
                 f"max length {config.max_length} tokens",
                 f"{result.examples:,} {config.objective} examples ({result.pairs:,} distinct item pairs taken together) "
                 f"before {valid_start}; {unknown_share:.1%} unknown tokens",
                 f"validation NDCG@10 of the text strategy: zero-shot {result.zero_shot_ndcg:.4f} -> fine-tuned "
                 f"{result.best_ndcg:.4f} (best epoch {result.best_epoch})"])

    def score(champ: dict) -> float:
        return validation_ndcg(TorchEncoder.load(str(verified_artifact(champ)), max_length=config.max_length)
                               .encode(texts, batch_size=128), valid, config.seed)

    # The encoder trains only before its validation window: a champion that saw none of
    # this window can be scored on it.
    rescored = rescore_champion(current_champion(warehouse, MODEL_NAME), GATE_METRIC, score, context.log.info,
                                cutoff=cutoff, window_start=valid_start,
                                seen_until_param="train_until") if config.rescore_champion else None
    decision = register_version(context, warehouse, new, card, new.folder, GATE_METRIC, config.gate_tolerance, rescored)
    return MaterializeResult(metadata={
        "version": new.version, "path": MetadataValue.path(str(new.folder)), "sha256": card.sha256,
        **gate_metadata(decision, warehouse, MODEL_NAME), "pairs": result.pairs, "examples": result.examples, "best_epoch": result.best_epoch,
        "unknown_token_share": round(unknown_share, 4), "vocabulary_extension": MetadataValue.json(vocabulary),
        "distillation": MetadataValue.json(distillation),
        "zero_shot_validation_ndcg_10": round(result.zero_shot_ndcg, 4),
        "validation_ndcg_10": round(result.best_ndcg, 4), "relative_gain": round(gain, 4),
        "train_seconds": round(result.seconds, 1), "pairs_per_second": round(result.pairs_per_second, 1),
        "device": result.device, "started_from": started_from,
        "model_card": MetadataValue.md(card.markdown()),
    })


def _warm_start_champion(warehouse: WarehouseResource, config: TextEncoderConfig) -> dict | None:
    """The champion to continue from, when it was trained from this config's base model,
    language and max length (another base or tokenisation would not be a continuation)."""
    champ = current_champion(warehouse, MODEL_NAME)
    if champ is None:
        return None
    params = champ["params"]  # decoded by the registry
    same = (params.get("base_model") == (config.base_model or PACKAGED_BASE) and params.get("language") == config.language
            and params.get("max_length") == config.max_length and params.get("head_hidden", 0) == config.head_hidden)
    return champ if same else None


@asset(key=ONNX_KEY, deps=[ENCODER_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"onnx"}, pool=POOL,
       check_specs=[AssetCheckSpec("fp32_matches_torch", asset=ONNX_KEY, blocking=True,
                                   description=f"fp32 ONNX vs torch max abs difference <= {MAX_ABS_DIFF} on the probe set"),
                    AssetCheckSpec("int8_close_to_fp32", asset=ONNX_KEY, blocking=True,
                                   description=f"int8 vs fp32 ONNX mean cosine >= {MIN_INT8_COSINE} on the probe set "
                                               "(the minimum is reported)")],
       description="The champion encoder in ONNX: pooling and normalisation inside the graph, dynamic batch and sequence "
                   "axes; plus a dynamically quantised int8 copy (per-channel weights).")
def product_text_encoder_onnx(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.text.export import export_encoder
    from ecom_assets.ml.text.product_text import product_texts

    champ, folder = champion_folder(warehouse, MODEL_NAME, "ml/product_text_encoder_onnx")
    card = read_card(folder)
    catalogue = read_catalogue(warehouse)
    sample = catalogue.sample(min(len(catalogue), 250), random_state=0)
    probe = product_texts(sample, card["language"])
    if card["language"] != "zh":  # the Chinese texts the encoder was adapted to read run through the graph too
        probe += product_texts(sample[sample["title_zh"].notna()].head(50), "zh")
    export = export_encoder(folder, champ["version"], probe, card["max_length"])
    record_onnx_export(warehouse, champ, export.record)
    cosines = export.cosines
    return MaterializeResult(metadata={
        "version": champ["version"], "fp32_path": MetadataValue.path(str(export.fp32)),
        "int8_path": MetadataValue.path(str(export.int8)), "fp32_mb": round(export.fp32.stat().st_size / 1e6, 1),
        "int8_mb": round(export.int8.stat().st_size / 1e6, 1), "max_abs_diff": export.max_abs_diff,
        "int8_min_cosine": round(float(cosines.min()), 5), "int8_mean_cosine": round(float(cosines.mean()), 5),
        "probe_texts": export.probe_texts,
        "serving_backend": (export.calibration or {}).get("chosen", "onnx_fp32"),
        "backend_speedup_vs_torch_fp32": MetadataValue.json(
            {name: row["speedup_vs_torch_fp32"] for name, row in (export.calibration or {}).get("backends", {}).items()}),
        "backend_calibration": MetadataValue.json(export.calibration or {})}, check_results=[
        AssetCheckResult(check_name="fp32_matches_torch", passed=export.fp32_passed, severity=AssetCheckSeverity.ERROR,
                         metadata={"max_abs_diff": export.max_abs_diff, "threshold": MAX_ABS_DIFF,
                                   "probe_texts": export.probe_texts}),
        AssetCheckResult(check_name="int8_close_to_fp32", passed=export.int8_passed, severity=AssetCheckSeverity.ERROR,
                         metadata={"mean_cosine": float(cosines.mean()), "min_cosine": float(cosines.min()),
                                   "p05_cosine": float(np.percentile(cosines, 5)), "threshold": MIN_INT8_COSINE})])


def _existing_embeddings(warehouse: WarehouseResource) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "ml.item_embeddings"):
            return pd.DataFrame(columns=["item_id", "model_version", "text_hash", "precision", "embedding"])
        return con.execute("SELECT item_id, model_version, text_hash, precision, embedding FROM ml.item_embeddings").df()


@asset(key=ITEM_EMBEDDINGS_KEY, deps=[ONNX_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"onnx", "duckdb"},
       **compute_for("ml/item_embeddings", POOL),
       description="ml.item_embeddings (item_id, model_version, text_hash, embedding FLOAT[d]) from the champion encoder "
                   "on onnxruntime; items whose text and model are unchanged keep their vectors.")
def item_embeddings(context: AssetExecutionContext, config: EmbeddingConfig, warehouse: WarehouseResource,
                    batch: BatchComputeResource) -> MaterializeResult:
    from ecom_assets.ml.text.embedding import EncoderFiles, embed_texts, reembed
    from ecom_assets.ml.text.product_text import product_texts

    champ, folder = champion_folder(warehouse, MODEL_NAME, "ml/item_embeddings")
    export = require_onnx_export(warehouse, champ, folder, "ml/product_text_encoder_onnx")
    card = read_card(folder)
    catalogue = read_catalogue(warehouse)
    items = pd.DataFrame({"item_id": catalogue["item_id"], "text": product_texts(catalogue, card["language"])})
    # An export from before calibration existed has none: its ONNX fp32 model serves.
    backend = (export.get("calibration") or {}).get("chosen", "onnx_fp32") if config.precision == "auto" \
        else config.precision
    # The served export by its resolved folder: a worker that keeps encoders never mistakes a newer export for it.
    files = EncoderFiles(str(folder), card["max_length"], backend, onnx_folder=str((folder / "onnx").resolve()))
    runner = batch.runner()

    def encode(texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = embed_texts(texts, files, config.batch_size, runner)
        context.log.info(f"embedded {len(texts):,} items in {time.perf_counter() - started:.1f}s on {runner.name}")
        return vectors

    existing = _existing_embeddings(warehouse)
    table, embedded = reembed(items, existing[existing["precision"] == backend], champ["version"], encode)
    dimension = len(table["embedding"].iloc[0])
    warehouse.replace_table("ml.item_embeddings", table.assign(model_version=champ["version"], precision=backend),
                            select=f"item_id, model_version, text_hash, precision, embedding::FLOAT[{dimension}] AS embedding",
                            order_by="item_id")
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), "model_version": champ["version"], "dimension": int(dimension),
        "embedded": embedded, "reused": len(table) - embedded, "precision": backend, "batch_backend": runner.name,
        "preview": preview(items, rows=5)})


def _catalogue_with_embeddings(warehouse: WarehouseResource) -> tuple[pd.DataFrame, pd.Index, np.ndarray, str]:
    catalogue = read_catalogue(warehouse)
    items = pd.Index(catalogue["item_id"])
    found = read_item_embeddings(warehouse, items)
    if found is None:
        raise Failure("ml.item_embeddings is missing: materialise ml/item_embeddings first")
    return catalogue, items, *found


@asset(key=["ml", "user_embeddings"], deps=[ITEM_EMBEDDINGS_KEY, *HISTORY_DEPS], group_name=GROUP, kinds={"duckdb"},
       pool=POOL,
       description="ml.user_embeddings: each user's recent items' embeddings, recency-weighted and normalised, in the "
                   "item space (user-to-item search by cosine).")
def user_embeddings(context: AssetExecutionContext, config: EmbeddingConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.recsys.temporal import encode_events, histories_before
    from ecom_assets.ml.recsys.text_similarity import user_profiles

    events, _, users = read_history(warehouse)
    _, items, matrix, version = _catalogue_with_embeddings(warehouse)
    histories = histories_before(encode_events(events, users, items))
    profiles = user_profiles(histories, matrix, config.user_window)
    has_history = np.array([len(h) > 0 for h in histories])
    table = pd.DataFrame({"user_id": np.asarray(users)[has_history],
                          "n_items": [min(len(h), config.user_window) for h, k in zip(histories, has_history) if k],
                          "embedding": list(profiles[has_history])}).assign(model_version=version)
    warehouse.replace_table("ml.user_embeddings", table, order_by="user_id",
                            select=f"user_id, model_version, n_items, embedding::FLOAT[{matrix.shape[1]}] AS embedding")
    return MaterializeResult(metadata={"dagster/row_count": len(table), "model_version": version,
                                       "users_without_history": int((~has_history).sum())})


@asset(key=["serving", "similar_items"], deps=[ITEM_EMBEDDINGS_KEY, *CATALOGUE_DEPS], group_name=GROUP, kinds={"duckdb"},
       pool=POOL,
       description="Top-10 most similar active, in-stock items per item by text embedding (cold-start items included): "
                   "exact search for small catalogues, a faiss IVF index for large ones.")
def similar_items(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.common.ann import similar_item_lists

    catalogue, items, matrix, version = _catalogue_with_embeddings(warehouse)
    scores, ids, index = similar_item_lists(matrix, k=10, blocked=~catalogue["is_offerable"].to_numpy(dtype=bool))
    filled = ids >= 0
    table = pd.DataFrame({"item_id": np.repeat(items.to_numpy(), 10)[filled.ravel()],
                          "rank": np.tile(np.arange(1, 11), len(items))[filled.ravel()],
                          "similar_item_id": items.to_numpy()[ids[filled]], "score": scores[filled].astype(float),
                          "model_version": version})
    warehouse.replace_table("serving.similar_items", table)
    titles = catalogue.set_index("item_id")["title_en"].fillna(catalogue.set_index("item_id")["title_zh"])
    sample = table[table["rank"] <= 3].head(9).assign(item=lambda f: f["item_id"].map(titles),
                                                      similar=lambda f: f["similar_item_id"].map(titles))
    return MaterializeResult(metadata={"dagster/row_count": len(table), "index": index.kind, "model_version": version,
                                       "preview": preview(sample[["item", "rank", "similar", "score"]], rows=9)})


encoder_gate = gate_check(MODEL_NAME, ENCODER_KEY, f"validation {GATE_METRIC} of the text strategy")
text_assets = [product_text_encoder, product_text_encoder_onnx, item_embeddings, user_embeddings, similar_items]
text_checks = [encoder_gate]
