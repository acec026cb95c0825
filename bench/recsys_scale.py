#!/usr/bin/env python
"""Scoring at scale: top-20 for every user of a 100k-user x 50k-item shop, chunked.

Histories are synthetic (Zipf item popularity, ~12 items per user, consecutive items
often from a small neighbourhood, so the item graph has structure). Fits item-KNN and
transitions, blends them, and produces top-20 lists with reason anchors for every user.
Prints and writes bench/results/recsys_scale.json: fit and scoring seconds, users/s,
peak RSS.

    .venv/bin/python bench/recsys_scale.py [--users 100000 --items 50000 --k 20 --chunk 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import write_result  # noqa: E402

from ecom_assets.ml.recsys.blend import Blend  # noqa: E402
from ecom_assets.ml.recsys.candidates import ItemKNN, Transitions  # noqa: E402
from ecom_assets.ml.recsys.top_k import recommend  # noqa: E402


def synthetic_histories(n_users: int, n_items: int, mean_len: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity /= popularity.sum()
    lengths = np.maximum(2, rng.poisson(mean_len, n_users))
    starts = rng.choice(n_items, n_users, p=popularity)
    steps = rng.integers(-20, 21, lengths.sum())  # drift through a neighbourhood of items
    jumps = rng.random(lengths.sum()) < 0.2
    fresh = rng.choice(n_items, lengths.sum(), p=popularity)
    out, pos = [], 0
    for u in range(n_users):
        seq = np.empty(lengths[u], dtype=np.int64)
        cur = starts[u]
        for i in range(lengths[u]):
            cur = fresh[pos + i] if jumps[pos + i] else (cur + steps[pos + i]) % n_items
            seq[i] = cur
        out.append(seq)
        pos += lengths[u]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--length", type=int, default=12)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    t0 = time.perf_counter()
    histories = synthetic_histories(a.users, a.items, a.length, a.seed)
    gen_s = time.perf_counter() - t0
    model = Blend({"transitions": Transitions(window=3, decay=0.5), "item_knn": ItemKNN(window=5, decay=0.8)},
                  {"transitions": 1.0, "item_knn": 0.5})
    t0 = time.perf_counter()
    model.fit(histories, a.items)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    top = recommend(model, np.arange(a.users), histories, a.k, exclude=histories,
                    explainer=model.components["item_knn"].similarity, chunk_size=a.chunk)
    score_s = time.perf_counter() - t0
    result = {
        "benchmark": "recsys_scale",
        "users": a.users, "items": a.items, "interactions": int(sum(len(h) for h in histories)), "k": a.k,
        "chunk_size": a.chunk,
        "generate_seconds": round(gen_s, 1), "fit_seconds": round(fit_s, 1), "recommend_seconds": round(score_s, 1),
        "users_per_second": round(a.users / score_s),
        "filled_slots": float((top.items >= 0).mean()), "explained_slots": float((top.anchors >= 0).mean()),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    write_result("recsys_scale", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
