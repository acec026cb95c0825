"""Copy group: personalised ad copy from a GPT-2 trained on the shop's own corpus.

    ml/copy_corpus                 prompt (language, segment, its interests, category, brand,
                                   sale) + copy with fact slots; held-out products; the
                                   interests are the differentially private release
                                   (privacy/segment_interests), never counted here
    ml/ad_copy_generator           GPT-2 (trained from a config with a byte-level BPE
                                   tokenizer, or fine-tuned from a given checkpoint);
                                   HF checkpoint + model card, registered and gated
    ml/ad_copy_generator_onnx      decoder with past key values; blocking check: greedy
                                   ONNX output is token-for-token torch's
    serving/ad_copy                variants per product x segment x language, slots filled
                                   from the catalogue, reviewed (facts, claims, length,
                                   personal data), scored; rejected rows kept with reasons;
                                   blocking check: every published row passes the fact check
"""

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

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
    asset_check,
)
from pydantic import Field as PydanticField

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
from ecom_assets.assets.privacy import SEGMENT_INTERESTS_KEY, read_segment_interests
from ecom_assets.assets.shop_tables import read_catalogue
from ecom_assets.deployment import compute_for
from ecom_assets.ml.common.rescoring import rescore_champion
from ecom_assets.resources import BatchComputeResource, ModelStoreResource, WarehouseResource

GROUP = "copy"
POOL = "warehouse"
MODEL_NAME = "ad_copy_generator"
GATE_METRIC = "inverse_perplexity"
CORPUS_KEY = AssetKey(["ml", "copy_corpus"])
GENERATOR_KEY = AssetKey(["ml", "ad_copy_generator"])
ONNX_KEY = AssetKey(["ml", "ad_copy_generator_onnx"])
AD_COPY_KEY = AssetKey(["serving", "ad_copy"])
SHOP_DEPS = [AssetKey(["marts", "catalogue"]), AssetKey(["marts", "user_features"]), AssetKey(["marts", "positive_events"])]
EXAMPLES_KEY = AssetKey(["marts", "copy_examples"])
PROBE_PROMPTS = 12


class CorpusConfig(Config):
    per_product: int = 2
    """Corpus lines per product and language."""
    held_out_share: float = 0.1
    seed: int = 0


class GeneratorTrainConfig(Config):
    base_checkpoint: str = ""
    """A local GPT-2-family checkpoint folder or hub id to fine-tune (e.g. distilgpt2 where a hub is
    reachable); empty = train a small GPT-2 from scratch with a tokenizer trained on the corpus."""
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 256
    """Longest prompt + copy in tokens (real copy examples run to ~200 tokens; longer ones are cut)."""
    vocab_size: int = 2000
    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 2e-3
    max_seconds: float = 240.0
    dropout: float = 0.1
    """Dropout of a model trained from scratch (GPT-2's 0.1); a short run underfits, and 0.0 trains faster and
    better there (ml/copy/generator.py: GeneratorConfig.dropout)."""
    gate_tolerance: float = 0.05
    rescore_champion: bool = True
    """Score the champion on this corpus's held-out lines too, so the gate compares like with like."""
    seed: int = 0
    device: str = "auto"


class TemplateConfig(Config):
    template_id: str
    language: Literal["en", "zh"]
    text: str
    """Slots: {product_name} {brand} {category} {price} {original_price} {discount_percentage} {currency};
    {copy} marks where the generated text goes (else it comes first)."""
    channel: Literal["push", "banner", "feed"] = "feed"


class AdCopyConfig(Config):
    languages: list[str] = ["en", "zh"]
    variants: int = 3
    """Candidates per product, segment and language."""
    max_products: int = 0
    """0 = the whole catalogue."""
    max_new_tokens: int = 40
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    repetition_penalty: float = 1.2
    batch_size: int = 256
    redraws: int = 2
    """Times a candidate that repeats a sibling variant is drawn again before it is rejected as a duplicate."""
    seed: int = 0
    templates: list[TemplateConfig] = PydanticField(default_factory=list)
    """Marketer templates; empty = the built-in ones (plain, and a discount line for products on sale)."""


def _copy_examples(warehouse: WarehouseResource) -> pd.DataFrame:
    """Real ad copy written from attribute lists (marts.copy_examples, from the inbox)."""
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "marts.copy_examples"):
            return pd.DataFrame(columns=["example_id", "language", "attributes", "copy", "source"])
        return con.execute("SELECT example_id, language, attributes, copy, source FROM marts.copy_examples "
                           "ORDER BY example_id").df()


def _products(warehouse: WarehouseResource) -> pd.DataFrame:
    """Catalogue items with a title in some language (copy needs a product name)."""
    catalogue = read_catalogue(warehouse)
    return catalogue[catalogue["title_en"].notna() | catalogue["title_zh"].notna()].reset_index(drop=True)


@asset(key=CORPUS_KEY, deps=[*SHOP_DEPS, SEGMENT_INTERESTS_KEY, EXAMPLES_KEY], group_name=GROUP, kinds={"duckdb"}, pool=POOL,
       description="ml.copy_corpus: prompt (language, segment + its interests, category, brand, sale, attributes, style) "
                   "and copy written from hand-written families per language, fact slots kept as slots, plus the real "
                   "copy of marts.copy_examples (AdvertiseGen, merchant copy) with its attribute lists; 10% of products "
                   "and examples held out.")
def copy_corpus(context: AssetExecutionContext, config: CorpusConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.copy.copywriting import CorpusSettings, build_corpus

    products = _products(warehouse)
    if products.empty:
        raise Failure("no product titles in marts.catalogue: the copy corpus needs a catalogue")
    interests = read_segment_interests(warehouse)
    examples = _copy_examples(warehouse)
    corpus = build_corpus(products, interests, to_settings(config, CorpusSettings), examples=examples)
    warehouse.replace_table("ml.copy_corpus", corpus)
    return MaterializeResult(metadata={
        "dagster/row_count": len(corpus), "held_out_rows": int((corpus["split"] == "held_out").sum()),
        "copy_examples": MetadataValue.json(examples["source"].fillna("unlabelled").value_counts().to_dict()),
        "shop_lines_with_attributes": int(((corpus["family"] != "example") & (corpus["attributes"] != "")).sum()),
        "segments": MetadataValue.json(interests),
        "by_language": MetadataValue.json(corpus["language"].value_counts().to_dict()),
        "preview": preview(corpus[["language", "segment", "copy"]].sample(min(8, len(corpus)), random_state=0), rows=8)})


@asset(key=GENERATOR_KEY, deps=[CORPUS_KEY], group_name=GROUP, kinds={"pytorch", "huggingface"},
       **compute_for("ml/ad_copy_generator", POOL),
       description="GPT-2 copy generator trained on ml.copy_corpus (byte-level BPE tokenizer trained on the corpus, or a "
                   "given checkpoint fine-tuned); HF checkpoint + model card with held-out perplexity; registered and gated.")
def ad_copy_generator(context: AssetExecutionContext, config: GeneratorTrainConfig, warehouse: WarehouseResource,
                      model_store: ModelStoreResource) -> MaterializeResult:
    from ecom_assets.ml.common.model_files import write_manifest
    from ecom_assets.ml.copy.generator import GeneratorConfig, checkpoint_perplexity, train_generator

    corpus = warehouse.query("SELECT prompt, copy, split FROM ml.copy_corpus")
    train, held = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "held_out"]
    settings = to_settings(config, GeneratorConfig, eval_every=max(config.steps // 4, 1))
    result = train_generator((train["prompt"].tolist(), train["copy"].tolist()), (held["prompt"].tolist(), held["copy"].tolist()),
                             settings, config.base_checkpoint or None, log=context.log.info)
    new = new_version(context, model_store, MODEL_NAME)
    result.model.save_pretrained(new.folder)
    result.tokenizer.save_pretrained(new.folder)
    params = {**config.model_dump(), "parameters": int(sum(p.numel() for p in result.model.parameters()))}
    metrics = {GATE_METRIC: 1.0 / result.held_out_perplexity, "held_out_perplexity": result.held_out_perplexity,
               "train_perplexity": result.train_perplexity}
    languages = sorted(corpus["prompt"].str.extract(r"lang=(\w+)")[0].dropna().unique().tolist())
    card = new.card(
        params=params, metrics=metrics, sha256=write_manifest(new.folder),
        data={"train_lines": len(train), "held_out_lines": len(held), "languages": languages},
        training={"device": result.device, "steps": result.steps, "kept_step": result.best_step,
                  "seconds": round(result.seconds, 1),
                  "tokens_per_second": round(result.tokens_per_second), "history": result.history},
        details={"base_checkpoint": config.base_checkpoint or "none (trained from scratch)"},
        summary=[f"GPT-2 with {params['parameters']:,} parameters, "
                 f"{'fine-tuned from ' + config.base_checkpoint if config.base_checkpoint else 'trained from scratch'} "
                 f"on {len(train):,} corpus lines ({', '.join(languages)})",
                 f"held-out perplexity {result.held_out_perplexity:.3f} on {len(held):,} lines of products it never saw"])

    def score(champ: dict) -> float:  # products are held out by a keyed hash: the champion never saw these lines
        return 1.0 / checkpoint_perplexity(str(verified_artifact(champ)), held["prompt"].tolist(), held["copy"].tolist(),
                                           config.device)

    rescored = (rescore_champion(current_champion(warehouse, MODEL_NAME), GATE_METRIC, score, context.log.info)
                if config.rescore_champion and not held.empty else None)
    decision = register_version(context, warehouse, new, card, new.folder, GATE_METRIC, config.gate_tolerance, rescored)
    return MaterializeResult(metadata={
        "version": new.version, "path": MetadataValue.path(str(new.folder)), "sha256": card.sha256,
        **gate_metadata(decision, warehouse, MODEL_NAME), "held_out_perplexity": round(result.held_out_perplexity, 3),
        "train_perplexity": round(result.train_perplexity, 3), "parameters": params["parameters"], "steps": result.steps,
        "kept_step": result.best_step,
        "train_seconds": round(result.seconds, 1), "device": result.device,
        "model_card": MetadataValue.md(card.markdown())})


@asset(key=ONNX_KEY, deps=[GENERATOR_KEY], group_name=GROUP, kinds={"onnx"}, pool=POOL,
       check_specs=[AssetCheckSpec("greedy_matches_torch", asset=ONNX_KEY, blocking=True,
                                   description="Greedy decoding on onnxruntime (with the KV cache) produces exactly "
                                               "torch's tokens on held-out probe prompts.")],
       description="The champion generator as one ONNX decoder graph with past key values (dynamic batch, sequence and "
                   "past axes).")
def ad_copy_generator_onnx(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ecom_assets.ml.common.model_files import publish_export, staging_dir
    from ecom_assets.ml.copy.generator import OnnxDecoder, Sampling, export_decoder, torch_generate

    champ, folder = champion_folder(warehouse, MODEL_NAME, "ml/ad_copy_generator_onnx")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # Built aside and served only once greedy decoding matches torch (`publish_export`).
    path = export_decoder(model, staging_dir(folder) / "decoder.onnx")
    with warehouse.connect(read_only=True) as con:
        probes = con.execute(f"SELECT DISTINCT prompt FROM ml.copy_corpus WHERE split = 'held_out' "
                             f"ORDER BY prompt LIMIT {PROBE_PROMPTS}").df()["prompt"].tolist()
    decoder = OnnxDecoder.for_model(path, tokenizer, model.config)
    reference = torch_generate(model, tokenizer, probes, max_new_tokens=32)
    onnx_tokens = [decoder.generate([p], Sampling(max_new_tokens=32))[0] for p in probes]
    identical = [a == b for a, b in zip(reference, onnx_tokens)]
    parity = publish_export(folder, path.parent, champ["version"], all(identical), probes=len(probes),
                            identical=int(sum(identical)))
    record_onnx_export(warehouse, champ, parity)
    path = Path(parity["path"]) / path.name
    return MaterializeResult(
        metadata={"version": champ["version"], "path": MetadataValue.path(str(path)), "served": parity["passed"],
                  "onnx_mb": round(path.stat().st_size / 1e6, 2), "probe_prompts": len(probes),
                  "identical_sequences": int(sum(identical)),
                  "sample": MetadataValue.md("\n".join(f"- `{tokenizer.decode(t)}`" for t in onnx_tokens[:4]))},
        check_results=[AssetCheckResult(check_name="greedy_matches_torch", passed=parity["passed"],
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"identical": parity["identical"], "probes": len(probes)})])


@asset(key=AD_COPY_KEY, deps=[ONNX_KEY, *SHOP_DEPS, SEGMENT_INTERESTS_KEY, EXAMPLES_KEY], group_name=GROUP, kinds={"onnx", "duckdb"},
       **compute_for("serving/ad_copy", POOL),
       description="serving.ad_copy: variants per product, segment and language from the champion generator on "
                   "onnxruntime, slots filled from the catalogue, reviewed and scored; rejected candidates kept with "
                   "their reasons (passed = false) and never published.")
def ad_copy(context: AssetExecutionContext, config: AdCopyConfig, warehouse: WarehouseResource,
            batch: BatchComputeResource) -> MaterializeResult:
    from transformers import AutoConfig, AutoTokenizer

    from ecom_assets.ml.common.text_safety import counts_by_kind
    from ecom_assets.ml.copy.copywriting import (
        DEFAULT_TEMPLATES,
        DecoderFiles,
        attribute_vocabulary,
        validate_templates,
        write_copy,
    )
    from ecom_assets.ml.copy.generator import OnnxDecoder, Sampling
    from ecom_assets.ml.copy.review import CHANNELS, distinct_n

    champ, folder = champion_folder(warehouse, MODEL_NAME, "serving/ad_copy")
    require_onnx_export(warehouse, champ, folder, "ml/ad_copy_generator_onnx")
    templates = [t.model_dump() for t in config.templates] or DEFAULT_TEMPLATES
    validate_templates(templates)
    products = _products(warehouse)
    products = products[products["is_active"].fillna(True)]
    if config.max_products:
        products = products.head(config.max_products)
    interests = read_segment_interests(warehouse)
    decoder = OnnxDecoder.for_model(folder / "onnx" / "decoder.onnx", AutoTokenizer.from_pretrained(folder),
                                    AutoConfig.from_pretrained(folder))
    sampling = Sampling(max_new_tokens=config.max_new_tokens, greedy=False, temperature=config.temperature,
                        top_k=config.top_k, top_p=config.top_p, repetition_penalty=config.repetition_penalty,
                        seed=config.seed)
    vocabulary = attribute_vocabulary(_copy_examples(warehouse))
    runner = batch.runner()
    table = write_copy(products, interests, templates, config.languages, config.variants, decoder, sampling,
                       config.batch_size, log=context.log.info, vocabulary=vocabulary, redraws=config.redraws,
                       runner=runner, decoder_files=DecoderFiles(str(folder)))
    table = table.assign(generator_version=champ["version"], generated_at=datetime.now(timezone.utc).replace(tzinfo=None))
    warehouse.replace_table("serving.ad_copy", table)
    published = table[table["passed"]]
    reasons = table.loc[~table["passed"], "reasons"].explode().dropna().str.extract(r"^(\w+):")[0].value_counts()
    safety = counts_by_kind(table["reasons"])
    stated = published["facts_stated"].explode().dropna().str.extract(r"^(product|brand|category|price|original price|"
                                                                     r"discount|title number)")[0].value_counts()
    lengths = published["text"].str.len()
    ppl = champ["metrics"]["held_out_perplexity"]
    samples = published.sort_values("score", ascending=False).groupby("language").head(3)
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), "published": len(published), "batch_backend": runner.name,
        "rejection_rate": round(1 - len(published) / max(len(table), 1), 4),
        "rejections_by_reason": MetadataValue.json({k: int(v) for k, v in reasons.items()}),
        "safety_rejections_by_kind": MetadataValue.json(safety),
        "published_lines_stating": MetadataValue.json({k: int(v) for k, v in stated.items()}),
        "distinct_published_texts": int(published["text"].nunique()),
        "groups_repeating_a_line": int(published.duplicated(["item_id", "segment", "language", "text"]).groupby(
            [published["item_id"], published["segment"], published["language"]]).any().sum()),
        "attribute_vocabulary": MetadataValue.json(vocabulary.size()),
        "held_out_perplexity": round(ppl, 3),
        "distinct_2": MetadataValue.json({lang: round(distinct_n(g["text"].tolist(), 2, lang), 4)
                                          for lang, g in published.groupby("language")}),
        "length_chars": MetadataValue.json({str(q): float(lengths.quantile(q)) for q in (0.1, 0.5, 0.9)} if len(lengths) else {}),
        "published_by_language": MetadataValue.json(published["language"].value_counts().to_dict()),
        "samples": preview(samples[["language", "segment", "text", "score"]], rows=6, max_chars=120),
        "channels": MetadataValue.json({k: list(v) for k, v in CHANNELS.items()}),
    })


@asset_check(asset=AD_COPY_KEY, name="published_copy_passes_fact_check", blocking=True,
             description="Every published row (passed = true) passes the text-safety and attribute checks again on the "
                         "current catalogue: only this product's price, discount and title numbers, no banned claim, no "
                         "personal data, no colour, material, pattern, style or fit it does not have (a 100% pass rate); "
                         "and no product, segment and language publishes the same line twice.")
def published_copy_passes_fact_check(warehouse: WarehouseResource) -> AssetCheckResult:
    from ecom_assets.ml.copy.copywriting import FactsByProduct, attribute_vocabulary
    from ecom_assets.ml.copy.review import published_line_problems

    with warehouse.connect(read_only=True) as con:
        published = con.execute("SELECT item_id, segment, language, text FROM serving.ad_copy WHERE passed").df()
    products = _products(warehouse).set_index("item_id")
    vocabulary = attribute_vocabulary(_copy_examples(warehouse))
    failures, facts_of = [], FactsByProduct(vocabulary)
    for item, _, language, text in published.itertuples(index=False):
        if item not in products.index:
            failures.append({"item_id": item, "text": text, "problems": "product no longer in catalogue"})
            continue
        facts = facts_of({"item_id": item, **products.loc[item].to_dict()}, language)
        problems = published_line_problems(text, facts, language, vocabulary)
        if problems:
            failures.append({"item_id": item, "text": text, "problems": "; ".join(problems)})
    repeated = int(published.duplicated(["item_id", "segment", "language", "text"]).sum())
    rate = 1 - len(failures) / max(len(published), 1)
    return AssetCheckResult(passed=not failures and not repeated, severity=AssetCheckSeverity.ERROR,
                            metadata={"published": len(published), "pass_rate": rate, "failures": len(failures),
                                      "repeated_lines": repeated,
                                      "examples": preview(pd.DataFrame(failures), rows=5) if failures else "none"})


generator_gate = gate_check(MODEL_NAME, GENERATOR_KEY, "held-out inverse perplexity")
copy_assets = [copy_corpus, ad_copy_generator, ad_copy_generator_onnx, ad_copy]
copy_checks = [generator_gate, published_copy_passes_fact_check]
