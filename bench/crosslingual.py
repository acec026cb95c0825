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

    .venv/bin/python bench/crosslingual.py                 (~20 s on 2 cores)
    .venv/bin/python bench/crosslingual.py --catalogue FILE.csv   (item_id, title_en, title_zh)

Writes bench/results/crosslingual.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import write_result  # noqa: E402

RIDGES = (0.01, 0.05, 0.2, 1.0)


def shop_ndcg(warehouse_path: Path, ridge: float) -> dict:
    """The text strategy's validation NDCG@10 (3 days before the test cutoff) on a built
    warehouse, the catalogue read in English, in Chinese, and in Chinese on the extended
    vocabulary (initialised from every bilingual product: no behaviour is read for it)."""
    import pandas as pd

    from ecom_assets.assets.shop_tables import read_catalogue, read_history
    from ecom_assets.ml.recsys.temporal import encode_events, validation_window
    from ecom_assets.ml.text.encoder import TorchEncoder
    from ecom_assets.ml.text.finetune import validation_ndcg
    from ecom_assets.ml.text.product_text import product_texts
    from ecom_assets.ml.text.vocabulary import extend_vocabulary
    from ecom_assets.resources import WarehouseResource

    warehouse = WarehouseResource(path=str(warehouse_path))
    catalogue = read_catalogue(warehouse)
    events, cutoff, users = read_history(warehouse)
    window = validation_window(encode_events(events, users, pd.Index(catalogue["item_id"])), cutoff, 3.0)
    english, chinese = product_texts(catalogue, "en"), product_texts(catalogue, "zh")
    encoder = TorchEncoder.load(None)
    out = {"english": validation_ndcg(encoder.encode(english), window.split),
           "chinese": validation_ndcg(encoder.encode(chinese), window.split)}
    both = catalogue.dropna(subset=["title_en", "title_zh"])
    extend_vocabulary(encoder, chinese, list(zip(product_texts(both, "zh"), product_texts(both, "en"))), ridge=ridge)
    out["chinese_extended"] = validation_ndcg(encoder.encode(chinese), window.split)
    out["validation_users"] = int(len(window.split.targets))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalogue", type=Path, help="CSV with item_id, title_en, title_zh")
    parser.add_argument("--items", type=int, default=600, help="items of the generated demo shop")
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--warehouse", type=Path,
                        help="also score the text strategy (zero-shot) on this warehouse's validation window with the "
                             "catalogue read in English, in Chinese, and in Chinese with the extended vocabulary")
    args = parser.parse_args()
    import numpy as np
    import pandas as pd

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
    result = {"products": {"train": len(train), "validation": len(valid), "test": len(test)},
              "ridge": chosen, "validation_mrr": round(best, 4), "extension": extension.as_metadata(),
              "test": {"zero_shot": {k: round(v, 4) for k, v in zero_shot.items()},
                       "extended": {k: round(v, 4) for k, v in extended.items()}},
              "seconds": round(time.perf_counter() - t0, 1),
              "source": str(args.catalogue) if args.catalogue else f"demo shop, {args.items} items, seed {args.shop_seed}",
              "split_seed": args.split_seed}
    print(f"test ({len(test)} products), Chinese -> English: zero-shot Recall@1 {zero_shot['recall_at_1']:.3f} "
          f"MRR {zero_shot['mrr']:.3f}; extended (ridge {chosen}) Recall@1 {extended['recall_at_1']:.3f} "
          f"MRR {extended['mrr']:.3f}; [UNK] share {extension.unknown_share_before:.3f} -> "
          f"{extension.unknown_share_after:.3f} ({len(extension.added)} characters added)")
    if args.warehouse:
        result["text_strategy_validation_ndcg_10"] = shop_ndcg(args.warehouse, chosen)
        print("text strategy, validation NDCG@10 (zero-shot):", result["text_strategy_validation_ndcg_10"])
    print(f"wrote {write_result('crosslingual', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
