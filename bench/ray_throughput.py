"""Throughput of the data-parallel batch steps on a local Ray cluster against one process,
on the demo warehouse's champion models (run `make run` first).

For each step (item embedding, recommendation scoring, copy generation) the same input is
run in this process (LocalRunner: one process, every core through the libraries' own
threads) and as Ray tasks on a local cluster of `--workers` workers (one CPU each), cold
(each worker loads the model on its first shard) and warm (a long-running cluster), and
the outputs are checked to be identical. The per-item cost of one worker and the cost of
a shard's round trip give the scaling on paper to N workers:
time(N) = items x cost_per_item_one_worker / N + shards / N x overhead_per_shard.

    .venv/bin/python bench/ray_throughput.py [--warehouse data/warehouse.duckdb] [--workers 2]

Writes bench/results/ray_throughput.json. Cluster start-up is timed apart from the work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecom_assets.ml.common.parallel import LocalRunner, RayRunner  # noqa: E402


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def embedding_case(warehouse, repeat: int):
    from ecom_assets.assets.gates import champion_folder
    from ecom_assets.assets.shop_tables import read_catalogue
    from ecom_assets.assets.text import MODEL_NAME
    from ecom_assets.ml.common.model_card import read_card
    from ecom_assets.ml.text.embedding import EncoderFiles, embed_texts
    from ecom_assets.ml.text.product_text import product_texts

    _, folder = champion_folder(warehouse, MODEL_NAME, "bench")
    card = read_card(folder)
    texts = list(product_texts(read_catalogue(warehouse), card["language"])) * repeat
    files = EncoderFiles(str(folder), card["max_length"], "onnx_fp32", onnx_folder=str(folder / "onnx"))
    return len(texts), (lambda runner: embed_texts(texts, files, 64, runner)), np.array_equal


def scoring_case(warehouse, shard_users: int):
    from ecom_assets.assets.gates import current_champion
    from ecom_assets.assets.recommend import MODEL_NAME
    from ecom_assets.assets.shop_tables import read_catalogue, read_history
    from ecom_assets.ml.recsys import lists
    from ecom_assets.ml.recsys.strategy import load_strategy

    champ = current_champion(warehouse, MODEL_NAME, "bench")
    model, extras = load_strategy(Path(champ["artifact_path"]), expected_sha256=champ["sha256"])
    events, _, _ = read_history(warehouse)
    catalogue = read_catalogue(warehouse)
    users, items = pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"])
    # The model's own users (it has factors for no others), in shards of `shard_users`.
    lists.SHARD_USERS = lists.SHARD_ALIGN = shard_users
    file = lists.StrategyFile(champ["artifact_path"], champ["sha256"])

    def run(runner):
        return lists.recommendation_lists(model, users, items, events, catalogue, 10, runner=runner, model_file=file)

    return len(users), run, lambda a, b: a.equals(b)


def copy_case(warehouse, products: int):
    from transformers import AutoConfig, AutoTokenizer

    from ecom_assets.assets.copy import MODEL_NAME, _copy_examples, _products
    from ecom_assets.assets.gates import champion_folder
    from ecom_assets.assets.privacy import read_segment_interests
    from ecom_assets.ml.copy import copywriting
    from ecom_assets.ml.copy.generator import OnnxDecoder, Sampling

    _, folder = champion_folder(warehouse, MODEL_NAME, "bench")
    decoder = OnnxDecoder.for_model(folder / "onnx" / "decoder.onnx", AutoTokenizer.from_pretrained(folder),
                                    AutoConfig.from_pretrained(folder))
    table = _products(warehouse).head(products)
    interests = read_segment_interests(warehouse)
    vocabulary = copywriting.attribute_vocabulary(_copy_examples(warehouse))
    sampling = Sampling(max_new_tokens=40, greedy=False, temperature=0.8, top_k=40, top_p=0.95,
                        repetition_penalty=1.2, seed=0)
    copywriting.SHARD_BATCHES = 2
    n = len(table) * len(interests) * 2 * 3

    def run(runner):
        return copywriting.write_copy(table, interests, copywriting.DEFAULT_TEMPLATES, ["en", "zh"], 3, decoder,
                                      sampling, 64, log=lambda _: None, vocabulary=vocabulary, runner=runner,
                                      decoder_files=copywriting.DecoderFiles(str(folder)))

    return n, run, lambda a, b: a.equals(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default=str(ROOT / "data" / "warehouse.duckdb"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--embedding-repeat", type=int, default=8, help="catalogue texts repeated this many times")
    parser.add_argument("--shard-users", type=int, default=512, help="users per scoring shard")
    parser.add_argument("--copy-products", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ray_throughput.json")
    args = parser.parse_args()

    from ecom_assets.resources import WarehouseResource

    warehouse = WarehouseResource(path=args.warehouse)
    ray_runner = RayRunner(num_cpus=args.workers)
    _, startup = _timed(lambda: ray_runner.workers)
    cases = {"item_embedding": embedding_case(warehouse, args.embedding_repeat),
             "recommendation_scoring": scoring_case(warehouse, args.shard_users),
             "copy_generation": copy_case(warehouse, args.copy_products)}
    results = {"cores": os.cpu_count(), "workers": args.workers, "ray_startup_s": round(startup, 2), "steps": {}}
    for name, (n, run, same) in cases.items():
        local, local_s = _timed(lambda: run(LocalRunner()))
        # cold: each worker loads the model (and what it derives from it) on its first shard,
        # as in a fresh cluster; warm: a long-running cluster's workers have it already.
        _, cold_s = _timed(lambda: run(ray_runner))
        on_ray, ray_s = _timed(lambda: run(ray_runner))
        per_item_one_worker = ray_s * args.workers / n
        row = {"items": n, "one_process_s": round(local_s, 3), "ray_cold_s": round(cold_s, 3), "ray_s": round(ray_s, 3),
               "one_process_items_per_s": round(n / local_s, 1), "ray_items_per_s": round(n / ray_s, 1),
               "speedup": round(local_s / ray_s, 3), "speedup_cold": round(local_s / cold_s, 3),
               "identical": bool(same(local, on_ray)),
               "cost_per_item_one_worker_s": per_item_one_worker,
               "on_paper_hours_1e7_items": {str(w): round(1e7 * per_item_one_worker / w / 3600, 2)
                                            for w in (8, 32, 128)}}
        results["steps"][name] = row
        print(f"{name:24s} {n:7d} items  one process {local_s:7.2f}s  ray x{args.workers} cold {cold_s:7.2f}s "
              f"warm {ray_s:7.2f}s  speed-up cold {row['speedup_cold']:.2f} warm {row['speedup']:.2f}  "
              f"identical {row['identical']}")
    print(f"ray start-up {startup:.1f}s (not counted)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0 if all(r["identical"] for r in results["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
