#!/usr/bin/env python
"""Copy learned from real ad copy: the generator against a retrieval baseline and the
template families, on AdvertiseGen rows (Chinese clothing copy written from attributes).

A seeded split of the rows (80% train, 10% validation, 10% test); the GPT-2 trains on the
train part with the pipeline's code (ml.copy.generator), the decoding setting is chosen on
validation ROUGE-L, and test rows are scored once:

    BLEU-4 (characters, NLTK smoothing method 3) and ROUGE-1/2/L F (jieba words,
    rouge-chinese), mean x 100, for
      generator    the trained GPT-2, decoded on onnxruntime as served; among its sampled
                   candidates the review's pick: a faithful one, covering most attributes
      retrieval    the copy of the training row whose attributes overlap most
      templates    the hand-written zh families filled with the attributes
    distinct-2 (characters) of each system's lines, and the attribute-faithfulness
    rejection rate (ml.copy.attributes: a colour, material, pattern, style or fit the
    product does not have) of each, the human references included.

    .venv/bin/python bench/copy_quality.py                       (~15 min on 2 cores)
    .venv/bin/python bench/copy_quality.py --test-path FILE.jsonl   (train on the shared rows, score FILE)

Writes bench/results/copy_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from common import write_result  # noqa: E402

DEFAULT_PATH = ROOT.parent / "shared" / "data" / "advertisegen" / "advertisegen_sample.jsonl"
# Published for a 6B chat model on the full dev set after 114,599 training rows (../shared/data/README.md).
CEILING = {"model": "ChatGLM-6B, P-tuning v2, 114,599 training rows", "bleu_4": 7.97, "rouge_1": 31.21, "rouge_2": 7.14,
           "rouge_l": 25.01}
DECODINGS = {  # chosen among on validation ROUGE-L
    "greedy": {"greedy": True, "repetition_penalty": 1.2, "candidates": 1},
    "sample8_t0.7_coverage": {"greedy": False, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1, "candidates": 8},
    "sample16_t0.8_consensus": {"greedy": False, "temperature": 0.8, "top_p": 0.95, "repetition_penalty": 1.1,
                                "candidates": 16, "pick": "consensus"},
}


def read_rows(path: Path) -> list[dict]:
    from ecom_assets.ml.copy.attributes import parse_attributes

    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not record.get("content") or not record.get("summary"):
            raise ValueError(f"{path}: line {number}: needs 'content' (attributes) and 'summary' (the copy)")
        parse_attributes(record["content"])  # a malformed list fails here, naming the line
        rows.append({"attributes": record["content"], "copy": record["summary"].strip()})
    return rows


def attribute_prompt(attributes: str, exemplar: str = "") -> str:
    from ecom_assets.ml.copy.attributes import parse_attributes
    from ecom_assets.ml.copy.copywriting import prompt

    category = dict(parse_attributes(attributes)).get("类型", "")
    return prompt("zh", "", [], category, "", False, attributes, exemplar=exemplar)


def with_exemplars(rows: list[dict], train: list[dict], k: int, training: bool) -> list[dict]:
    """Retrieve-and-edit: each row with the copy of its nearest training row (attribute
    overlap, as the retrieval baseline picks it) in the prompt. Training rows come `k`
    times, once per neighbour (never themselves), so the model sees several references to
    edit into the same copy; other rows get their single nearest training row."""
    from ecom_assets.ml.copy.quality import nearest_copies

    if k <= 0:
        return rows
    nearest = nearest_copies([r["attributes"] for r in rows], [r["attributes"] for r in train], [r["copy"] for r in train],
                             k=k if training else 1, leave_one_out=training)
    return [{**row, "exemplar": copy} for row, copies in zip(rows, nearest) for copy in copies]


def template_copy(rows: list[dict], seed: int) -> list[str]:
    """The zh families the shop's corpus is written from, the product named by its
    attributes (colour + material + type), benefits of the fashion category."""
    from ecom_assets.ml.copy.attributes import parse_attributes
    from ecom_assets.ml.copy.copywriting import BENEFITS, COPY_FAMILIES

    rng = np.random.default_rng(seed)
    patterns = [p for family in ("benefit_first", "audience") for p in COPY_FAMILIES["zh"][family] if "{brand}" not in p]
    out = []
    for row in rows:
        attrs = dict(parse_attributes(row["attributes"]))
        name = "".join(attrs.get(k, "") for k in ("颜色", "材质", "类型"))
        benefit = BENEFITS["Fashion"]["zh"][rng.integers(3)]
        pattern = patterns[rng.integers(len(patterns))]
        out.append(pattern.replace("{product_name}", name).replace("{benefit}", benefit).replace("{hook}", ""))
    return out


def faithfulness(texts: list[str], rows: list[dict], vocabulary) -> float:
    from ecom_assets.ml.copy.attributes import attribute_map, parse_attributes, unsupported_attributes

    bad = sum(bool(unsupported_attributes(t, "zh", vocabulary, attribute_map(parse_attributes(r["attributes"]))))
              for t, r in zip(texts, rows))
    return round(bad / max(len(texts), 1), 4)


def _consensus(options: list[str], anchors: list[str]) -> list[float]:
    """Minimum-Bayes-risk scores: each candidate's mean character-bigram F1 against the
    other candidates and `anchors` (the copy of the training rows nearest in attributes),
    so the pick is the line the model and the nearest real copy agree on most."""
    def grams(text):
        return {text[i:i + 2] for i in range(len(text) - 1)}

    sets = [grams(o) for o in options]
    pool = sets + [grams(a) for a in anchors]
    scores = []
    for i, g in enumerate(sets):
        f1 = [2 * len(g & h) / (len(g) + len(h)) if g and h else 0.0 for j, h in enumerate(pool) if j != i]
        scores.append(float(np.mean(f1)) if f1 else 0.0)
    return scores


def generate(decoder, rows: list[dict], decoding: dict, vocabulary, max_new_tokens: int, seed: int,
             anchors: list[list[str]] | None = None) -> list[str]:
    """One line per row: the review's pick among the decoded candidates (faithful first,
    then most attributes covered, or the consensus pick)."""
    from ecom_assets.ml.copy.attributes import (
        attribute_coverage,
        attribute_map,
        blocked_tokens,
        parse_attributes,
        unsupported_attributes,
    )
    from ecom_assets.ml.copy.generator import Sampling

    n = decoding["candidates"]
    sampling = Sampling(max_new_tokens=max_new_tokens, greedy=decoding["greedy"],
                        temperature=decoding.get("temperature", 1.0), top_p=decoding.get("top_p", 1.0),
                        repetition_penalty=decoding["repetition_penalty"], seed=seed)
    prompts = [attribute_prompt(r["attributes"], r.get("exemplar", "")) for r in rows for _ in range(n)]
    # Constrained decoding, as served: no token that spells an attribute value the row does not have.
    blocked = [blocked_tokens(decoder.tokenizer, vocabulary, "zh", attribute_map(parse_attributes(r["attributes"])))
               for r in rows for _ in range(n)]
    texts = []
    for start in range(0, len(prompts), 128):
        ids = decoder.generate(prompts[start:start + 128], sampling, blocked=blocked[start:start + 128])
        texts += [decoder.tokenizer.decode(t, skip_special_tokens=True).strip() for t in ids]
    out = []
    for i, row in enumerate(rows):
        pairs = parse_attributes(row["attributes"])
        have = attribute_map(pairs)
        options = texts[i * n:(i + 1) * n]
        faithful = [t for t in options if not unsupported_attributes(t, "zh", vocabulary, have)] or options
        if decoding.get("pick") == "consensus":
            scores = _consensus(faithful, anchors[i] if anchors else [])
            out.append(faithful[int(np.argmax(scores))])
        else:
            out.append(max(faithful, key=lambda t: attribute_coverage(t, pairs)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="AdvertiseGen-format JSONL (content, summary)")
    parser.add_argument("--test-path", type=Path, help="score on this file instead of the split's test part")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--exemplars", type=int, default=0,
                        help="retrieve-and-edit: the nearest training copy in the prompt, each training row with this "
                             "many neighbours (0: attributes only)")
    parser.add_argument("--model", type=Path, help="a generator this script trained before (its folder): skip training")
    args = parser.parse_args()

    from transformers import AutoConfig

    from ecom_assets.ml.copy.attributes import AttributeVocabulary
    from ecom_assets.ml.copy.generator import OnnxDecoder, export_decoder
    from ecom_assets.ml.copy.quality import distinct_2_chars, nearest_copies, retrieval_baseline, score_rows

    rows = read_rows(args.path)
    draw = np.random.default_rng(args.split_seed).random(len(rows))
    train = [r for r, u in zip(rows, draw) if u < 0.8]
    valid = [r for r, u in zip(rows, draw) if 0.8 <= u < 0.9]
    test = read_rows(args.test_path) if args.test_path else [r for r, u in zip(rows, draw) if u >= 0.9]
    # The vocabulary is what the training rows' attribute lists use (and the built-in colours/materials).
    vocabulary = AttributeVocabulary.build([("zh", r["attributes"]) for r in train])
    train_rows, valid, test = (with_exemplars(train, train, args.exemplars, training=True),
                               with_exemplars(valid, train, args.exemplars, training=False),
                               with_exemplars(test, train, args.exemplars, training=False))
    t0 = time.perf_counter()
    if args.model:
        trained = _load_trained(args.model)
    else:
        trained = _train(args, train_rows, valid)
    train_seconds = time.perf_counter() - t0
    folder = args.model or Path(tempfile.mkdtemp(prefix="copy_quality_"))  # the model is not a result: scores are
    if not args.model:
        trained.model.save_pretrained(folder)
        trained.tokenizer.save_pretrained(folder)
        print(f"generator saved in {folder} (reuse with --model)")
    decoder = OnnxDecoder.for_model(export_decoder(trained.model, folder / "decoder.onnx"), trained.tokenizer,
                                    AutoConfig.from_pretrained(folder))
    train_attributes, train_copy = [r["attributes"] for r in train], [r["copy"] for r in train]

    def anchors_for(rows):
        return nearest_copies([r["attributes"] for r in rows], train_attributes, train_copy, k=3)

    chosen, validation = None, {}
    valid_anchors = anchors_for(valid)
    for name, decoding in DECODINGS.items():
        lines = generate(decoder, valid, decoding, vocabulary, args.max_new_tokens, seed=1, anchors=valid_anchors)
        validation[name] = {**score_rows(lines, [r["copy"] for r in valid]),
                            "faithfulness_rejection_rate": faithfulness(lines, valid, vocabulary)}
        print(f"validation, {name}: {validation[name]}")
        if chosen is None or validation[name]["rouge_l"] > validation[chosen]["rouge_l"]:
            chosen = name
    validation["retrieval (for reference)"] = score_rows(
        retrieval_baseline([r["attributes"] for r in valid], train_attributes, train_copy), [r["copy"] for r in valid])
    t1 = time.perf_counter()
    systems = {"generator": generate(decoder, test, DECODINGS[chosen], vocabulary, args.max_new_tokens, seed=2,
                                     anchors=anchors_for(test)),
               "retrieval": retrieval_baseline([r["attributes"] for r in test], train_attributes, train_copy),
               "templates": template_copy(test, seed=0), "references": [r["copy"] for r in test]}
    decode_seconds = time.perf_counter() - t1
    references = [r["copy"] for r in test]
    table = {}
    for name, lines in systems.items():
        table[name] = {**(score_rows(lines, references) if name != "references" else {}),
                       "distinct_2": distinct_2_chars(lines), "faithfulness_rejection_rate": faithfulness(lines, test, vocabulary),
                       "mean_chars": round(float(np.mean([len(t) for t in lines])), 1)}
        print(f"test, {name}: {table[name]}")
    gen, ret = table["generator"], table["retrieval"]
    result = {
        "data": {"path": args.path.name, "train": len(train), "validation": len(valid),
                 "test": len(test), "test_path": args.test_path.name if args.test_path else None,
                 "split_seed": args.split_seed, "exemplars": args.exemplars},
        "generator": {"parameters": int(sum(p.numel() for p in trained.model.parameters())), "steps": trained.steps,
                      "kept_step": trained.best_step, "train_seconds": round(train_seconds, 1),
                      "validation_perplexity": round(trained.held_out_perplexity, 3),
                      "decoding": chosen, "decode_seconds_test": round(decode_seconds, 1), "device": trained.device,
                      "reused": str(args.model) if args.model else None},
        "validation": validation, "test": table, "published_ceiling": CEILING,
        "targets": {"beats_retrieval_rouge_l": gen["rouge_l"] > ret["rouge_l"],
                    "beats_retrieval_bleu_4": gen["bleu_4"] > ret["bleu_4"],
                    "faithfulness_rejections_below_5pct": gen["faithfulness_rejection_rate"] < 0.05},
        "samples": [{"attributes": r["attributes"], "generator": g, "retrieval": q, "reference": r["copy"]}
                    for r, g, q in list(zip(test, systems["generator"], systems["retrieval"]))[:5]],
    }
    print(json.dumps(result["targets"]))
    print(f"wrote {write_result('copy_quality', result)}")
    return 0


def _train(args, train: list[dict], valid: list[dict]):
    from ecom_assets.ml.copy.generator import GeneratorConfig, train_generator

    config = GeneratorConfig(n_layer=args.n_layer, n_embd=args.n_embd, n_head=4, n_positions=384,
                             vocab_size=args.vocab_size, steps=args.steps, batch_size=16, learning_rate=1e-3,
                             warmup_steps=100, max_seconds=args.max_seconds, eval_every=50, seed=0)
    return train_generator(([attribute_prompt(r["attributes"], r.get("exemplar", "")) for r in train],
                            [r["copy"] for r in train]),
                           ([attribute_prompt(r["attributes"], r.get("exemplar", "")) for r in valid],
                            [r["copy"] for r in valid]), config)


def _load_trained(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ecom_assets.ml.copy.generator import TrainedGenerator

    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    return TrainedGenerator(model, AutoTokenizer.from_pretrained(str(folder)), float("nan"), float("nan"), 0, 0.0, 0.0, "cpu")


if __name__ == "__main__":
    raise SystemExit(main())
