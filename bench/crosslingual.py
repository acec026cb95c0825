#!/usr/bin/env python
"""Cross-lingual retrieval of the text encoder: does a Chinese title find its own English title?

The catalogue's products (the demo shop's by default; --seed and --items pick another
generated shop) are split by a seeded draw into train (70%), validation (15%) and test
(15%). The encoder's vocabulary is extended with the characters the catalogue's Chinese
titles use (`ml.text.vocabulary.extend_vocabulary`), the new embeddings initialised from
the train products' (Chinese, English) title pairs; the ridge strength is chosen on the
validation products; test products are scored once, zero-shot and extended: Recall@1 and
MRR of each Chinese title against all English titles of the test products, and the
[UNK] share of the Chinese titles before and after.

    .venv/bin/python bench/crosslingual.py                 (~2 min on 2 cores; ~6 with --warehouse)
    .venv/bin/python bench/crosslingual.py --catalogue FILE.csv   (item_id, title_en, title_zh)

Writes bench/results/crosslingual.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from common import write_result  # noqa: E402

RIDGES = (0.01, 0.05, 0.2, 1.0)


def chinese_only(catalogue):
    """The same catalogue as a Chinese-only shop would list it: Chinese titles,
    descriptions and category names (the demo vocabulary's), no English brand (the
    Chinese title carries the brand's Chinese name)."""
    from ecom_assets.sources.catalog_vocab import CATEGORY_TREE

    names = {f"{l1_en} > {l2_en}": f"{l1_zh} > {l2_zh}" for l1_en, l1_zh, l2_en, l2_zh, *_ in CATEGORY_TREE}
    return catalogue.assign(title_en=None, description_en=None, brand=None,
                            category_path=catalogue["category_path"].map(names).fillna(catalogue["category_path"]))


def text_pairs(catalogue) -> list[tuple[str, str]]:
    """(English text, Chinese-only text) of each product, as the encoder reads them."""
    from ecom_assets.ml.text.product_text import product_texts

    return list(zip(product_texts(catalogue, "en"), product_texts(chinese_only(catalogue), "zh")))


def shop_ndcg(warehouse_path: Path, ridge: float, transfer_seed: int, distill_config) -> dict:
    """The text strategy's NDCG@10 (zero-shot: no co-interaction head) on a built
    warehouse, in its validation window (3 days before the test cutoff) and its test
    window, the catalogue read in English and as a Chinese-only catalogue, on the base
    encoder, with the extended vocabulary and after distillation. The bilingual pairs come
    either from the catalogue itself (a bilingual merchant) or from another generated
    shop (`transfer_seed`: a Chinese-only merchant adapting on someone else's pairs)."""
    import pandas as pd

    from ecom_assets.assets.shop_tables import read_catalogue, read_history
    from ecom_assets.ml.recsys.temporal import encode_events, histories_before, validation_window, window_split
    from ecom_assets.ml.text.distill import distill
    from ecom_assets.ml.text.encoder import TorchEncoder
    from ecom_assets.ml.text.finetune import validation_ndcg
    from ecom_assets.ml.text.product_text import product_texts
    from ecom_assets.ml.text.vocabulary import extend_vocabulary
    from ecom_assets.resources import ShopDataSource, WarehouseResource

    warehouse = WarehouseResource(path=str(warehouse_path))
    catalogue = read_catalogue(warehouse)
    events, cutoff, users = read_history(warehouse)
    encoded = encode_events(events, users, pd.Index(catalogue["item_id"]))
    windows = {"validation": validation_window(encoded, cutoff, 3.0).split,
               "test": window_split(encoded, histories_before(encoded, np.datetime64(cutoff)), np.datetime64(cutoff))[0]}
    english, chinese = product_texts(catalogue, "en"), product_texts(chinese_only(catalogue), "zh")

    def scores(encoder, texts) -> dict:
        embeddings = encoder.encode(texts)
        return {name: round(validation_ndcg(embeddings, split), 4) for name, split in windows.items()}

    teacher = TorchEncoder.load(None)
    out = {"users": {name: int(len(split.targets)) for name, split in windows.items()},
           "english": scores(teacher, english), "chinese_base": scores(teacher, chinese)}
    other = ShopDataSource(n_items=len(catalogue), seed=transfer_seed).shop.products()
    other["category_path"] = other["category_l1"] + " > " + other["category_l2"]
    for source, pairs in (("own_catalogue", text_pairs(catalogue)), (f"other_shop_seed_{transfer_seed}", text_pairs(other))):
        student = TorchEncoder.load(None)
        extension = extend_vocabulary(student, chinese + [zh for _, zh in pairs], [(zh, en) for en, zh in pairs], ridge=ridge)
        extended = scores(student, chinese)
        run = distill(student, teacher, pairs, distill_config, log=lambda m: None,
                      new_token_ids=student.tokenizer.convert_tokens_to_ids(extension.added))
        out[source] = {"pairs": len(pairs), "chinese_extended": extended, "chinese_distilled": scores(student, chinese),
                       "english_distilled": scores(student, english), "distillation": run.as_metadata()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalogue", type=Path, help="CSV with item_id, title_en, title_zh")
    parser.add_argument("--items", type=int, default=600, help="items of the generated demo shop")
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--warehouse", type=Path,
                        help="also score the text strategy (zero-shot) on this warehouse's validation window with the "
                             "catalogue read in English, in Chinese, and in Chinese with the extended vocabulary")
    parser.add_argument("--distill-train", choices=("all", "new_tokens"), default="new_tokens")
    parser.add_argument("--distill-lr", type=float, default=1e-3, help="1e-3 for new_tokens; all wants ~5e-5")
    parser.add_argument("--distill-seconds", type=float, default=90.0)
    parser.add_argument("--out", default="crosslingual", help="result name under bench/results")
    args = parser.parse_args()
    import pandas as pd

    from ecom_assets.ml.text.distill import DistillConfig, distill
    from ecom_assets.ml.text.encoder import TorchEncoder
    from ecom_assets.ml.text.vocabulary import cross_lingual_retrieval, extend_vocabulary

    if args.catalogue:
        products = pd.read_csv(args.catalogue)
    else:
        from ecom_assets.resources import ShopDataSource

        products = ShopDataSource(n_items=args.items, seed=args.shop_seed).shop.products()
    products = products.dropna(subset=["title_en", "title_zh"]).reset_index(drop=True)
    draw = np.random.default_rng(args.split_seed).random(len(products))
    train, valid, test = products[draw < 0.7], products[(draw >= 0.7) & (draw < 0.85)], products[draw >= 0.85]
    t0 = time.perf_counter()
    zero = TorchEncoder.load(None)
    zero_shot = cross_lingual_retrieval(zero, test["title_zh"].tolist(), test["title_en"].tolist())
    pairs = list(zip(train["title_zh"], train["title_en"]))
    everything = products["title_zh"].tolist()
    chosen, best = None, -1.0
    for ridge in RIDGES:
        enc = TorchEncoder.load(None)
        extend_vocabulary(enc, everything, pairs, ridge=ridge)
        v = cross_lingual_retrieval(enc, valid["title_zh"].tolist(), valid["title_en"].tolist())["mrr"]
        print(f"  ridge {ridge}: validation MRR {v:.4f}")
        if v > best:
            chosen, best = ridge, v
    enc = TorchEncoder.load(None)
    extension = extend_vocabulary(enc, everything, pairs, ridge=chosen)
    extended = cross_lingual_retrieval(enc, test["title_zh"].tolist(), test["title_en"].tolist())
    distill_config = DistillConfig(train=args.distill_train, learning_rate=args.distill_lr, max_seconds=args.distill_seconds)
    run = distill(enc, zero, list(zip(train["title_en"], train["title_zh"])), distill_config,
                  new_token_ids=enc.tokenizer.convert_tokens_to_ids(extension.added))
    distilled = cross_lingual_retrieval(enc, test["title_zh"].tolist(), test["title_en"].tolist())
    result = {"products": {"train": len(train), "validation": len(valid), "test": len(test)},
              "ridge": chosen, "validation_mrr": round(best, 4), "extension": extension.as_metadata(),
              "test": {"zero_shot": {k: round(v, 4) for k, v in zero_shot.items()},
                       "extended": {k: round(v, 4) for k, v in extended.items()},
                       "distilled": {k: round(v, 4) for k, v in distilled.items()}},
              "distillation": run.as_metadata(),
              "distill": {"train": args.distill_train, "learning_rate": args.distill_lr, "max_seconds": args.distill_seconds},
              "seconds": round(time.perf_counter() - t0, 1),
              "source": str(args.catalogue) if args.catalogue else f"demo shop, {args.items} items, seed {args.shop_seed}",
              "split_seed": args.split_seed}
    print(f"test ({len(test)} products), Chinese -> English: zero-shot Recall@1 {zero_shot['recall_at_1']:.3f} "
          f"MRR {zero_shot['mrr']:.3f}; extended (ridge {chosen}) Recall@1 {extended['recall_at_1']:.3f} "
          f"MRR {extended['mrr']:.3f}; distilled Recall@1 {distilled['recall_at_1']:.3f} MRR {distilled['mrr']:.3f}; "
          f"[UNK] share {extension.unknown_share_before:.3f} -> "
          f"{extension.unknown_share_after:.3f} ({len(extension.added)} characters added)")
    if args.warehouse:
        result["text_strategy_ndcg_10"] = shop_ndcg(args.warehouse, chosen, args.shop_seed + 1, distill_config)
        print("text strategy NDCG@10 (zero-shot):", json.dumps(result["text_strategy_ndcg_10"], indent=1))
    print(f"wrote {write_result(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
