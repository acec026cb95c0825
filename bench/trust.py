#!/usr/bin/env python
"""Privacy-utility and fairness trade-offs of item-KNN on a public data set.

    privacy    item-KNN on differentially private co-occurrence (ml.privacy.cooccurrence)
               at epsilon 0.5, 1, 2, 4, 8 and without noise (inf): test NDCG@10 / HR@10
               under the leave-one-out, rank-all-items protocol. The exact model's
               settings (window, decay, neighbours) and, per epsilon, the contribution
               bound (distinct items per user counted) and the neighbour pool (every
               item, or the 1000 or 200 most taken by the noisy counts) are chosen on
               validation only.
    fairness   the exact item-KNN's top 50 per test user re-ranked into a top 10 with a
               floor for long-tail items (the less-taken half of the catalogue by
               training interactions) at several levels: NDCG@10 against the
               exposure Gini of the catalogue and the tail's share of exposure.

    .venv/bin/python bench/trust.py                       (Amazon Beauty; ~15 min on 2 cores)
    .venv/bin/python bench/trust.py --part privacy --epsilons 1 8
    .venv/bin/python bench/trust.py --path FILE --format s3rec

Choosing the contribution bound on validation looks at the data; a deployment fixes it in
advance (or pays for the selection from its budget). Writes bench/results/trust_<dataset>.json.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import write_result  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATASETS = {"amazon-beauty": (SHARED / "amazon-beauty" / "Beauty.txt", "s3rec"),
            "amazon-scientific": (SHARED / "amazon-scientific", "recbole")}
KNN_GRID = [dict(window=w, decay=d, neighbours=k) for w, d, k in itertools.product((1, 3, 5), (0.5, 0.8), (100, 200))]
BOUNDS = (2, 5, 10)
POOLS = (None, 1000, 200)  # neighbours from every item, or from the most taken (by the noisy counts)
FLOORS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _ndcg(strategy, split, rows=None):
    from ecom_assets.ml.recsys.evaluation import metrics_from_ranks, ranks_for

    m = metrics_from_ranks(ranks_for(strategy.score, split, users=rows), (10,))
    return m["NDCG@10"], m["HR@10"]


def privacy_part(data, valid, test, hist_valid, hist_test, rows, epsilons, seed, log) -> dict:
    from ecom_assets.ml.recsys.candidates import ItemKNN

    best, best_v = None, -1.0
    for params in KNN_GRID:
        v, _ = _ndcg(ItemKNN(**params).fit(hist_valid, data.n_items), valid, rows)
        if v > best_v:
            best, best_v = params, v
    log(f"  exact item-KNN {best}: validation NDCG@10 {best_v:.4f}")
    curve = []
    for eps in epsilons:
        t0 = time.perf_counter()
        if math.isinf(eps):
            bound, pool, valid_ndcg = None, None, best_v
            model = ItemKNN(**best).fit(hist_test, data.n_items)
        else:
            bound, pool, valid_ndcg = None, None, -1.0
            for m, p in itertools.product(BOUNDS, POOLS):  # the contribution bound and the pool, on validation
                v, _ = _ndcg(ItemKNN(**best, dp_epsilon=eps, dp_max_items=m, dp_neighbour_pool=p, dp_seed=seed
                                     ).fit(hist_valid, data.n_items), valid, rows)
                if v > valid_ndcg:
                    bound, pool, valid_ndcg = m, p, v
            model = ItemKNN(**best, dp_epsilon=eps, dp_max_items=bound, dp_neighbour_pool=pool, dp_seed=seed + 1
                            ).fit(hist_test, data.n_items)
        ndcg, hr = _ndcg(model, test)
        row = {"epsilon": "inf" if math.isinf(eps) else eps, "max_items_per_user": bound, "neighbour_pool": pool,
               "validation_ndcg_10": round(valid_ndcg, 4), "test_ndcg_10": round(ndcg, 4), "test_hr_10": round(hr, 4),
               "seconds": round(time.perf_counter() - t0, 1)}
        log(f"  epsilon {row['epsilon']}: bound {bound}, pool {pool}, validation {valid_ndcg:.4f}, test NDCG@10 {ndcg:.4f} "
            f"HR@10 {hr:.4f} ({row['seconds']} s)")
        curve.append(row)
    exact = next(r["test_ndcg_10"] for r in curve if r["epsilon"] == "inf") if any(
        r["epsilon"] == "inf" for r in curve) else None
    for r in curve:
        r["share_of_exact"] = round(r["test_ndcg_10"] / exact, 4) if exact else None
    return {"item_knn": best, "curve": curve}


def fairness_part(data, valid, test, hist_valid, hist_test, rows, knn_params, log, candidates: int = 50) -> dict:
    import numpy as np
    import pandas as pd

    from ecom_assets.ml.fairness.rerank import ExposureConstraint, tradeoff_curve
    from ecom_assets.ml.recsys.candidates import ItemKNN
    from ecom_assets.ml.recsys.top_k import recommend

    model = ItemKNN(**knn_params).fit(hist_test, data.n_items)
    top = recommend(model, np.arange(len(test.users)), test.histories, candidates, exclude=test.histories)
    filled = top.items >= 0
    counts = np.bincount(np.concatenate(hist_test), minlength=data.n_items)
    head = set(np.argsort(-counts, kind="stable")[: max(1, data.n_items // 2)].tolist())
    group = pd.Series(["head" if i in head else "tail" for i in range(data.n_items)], index=np.arange(data.n_items))
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(len(test.users)), candidates)[filled.ravel()],
                          "item_id": top.items[filled], "score": top.scores[filled].astype(float)})
    frame["group"] = group.reindex(frame["item_id"]).to_numpy()
    frame["cap_value"] = frame["item_id"]
    truth = pd.DataFrame({"user_id": np.arange(len(test.users)), "item_id": test.targets})
    constraints = [ExposureConstraint(k=10, floor_group="tail", floor_share=f) for f in FLOORS]
    t0 = time.perf_counter()
    curve = tradeoff_curve(frame, truth, np.arange(data.n_items), constraints, group)
    log(f"  re-ranking {len(FLOORS)} levels over {len(test.users):,} users in {time.perf_counter() - t0:.0f} s")
    curve = curve.drop(columns=["cap_share"]).rename(columns={"group_exposure_share": "tail_exposure_share"})
    for r in curve.itertuples():
        log(f"  tail floor {r.floor_share:.0%}: NDCG@10 {r.ndcg:.4f}, exposure Gini {r.exposure_gini:.4f}, "
            f"tail share of exposure {r.tail_exposure_share:.4f}")
    return {"scorer": {"item_knn": knn_params, "candidates": candidates},
            "tail": "the less-taken half of the catalogue by training interactions",
            "tail_catalogue_share": round(float((group == "tail").mean()), 4),
            "curve": curve.round(4).to_dict(orient="records")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="amazon-beauty")
    parser.add_argument("--path", type=Path)
    parser.add_argument("--format", choices=("s3rec", "recbole"))
    parser.add_argument("--part", choices=("all", "privacy", "fairness"), default="all")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1, 2, 4, 8, math.inf])
    parser.add_argument("--sample", type=int, default=4000, help="validation users used for every choice")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    name, (path, fmt) = (args.path.stem, (args.path, args.format)) if args.path else (args.dataset, DATASETS[args.dataset])
    if not path.exists():
        print(f"{path} not found", file=sys.stderr)
        return 2
    import numpy as np

    from ecom_assets.ml.recsys.sequences import leave_one_out, training_histories
    from ecom_assets.sources.public import read_recbole, read_s3rec

    t_start = time.perf_counter()
    data = read_s3rec(path) if fmt == "s3rec" else read_recbole(path)
    valid, test = leave_one_out(data)
    hist_valid, hist_test = training_histories(data, valid), training_histories(data, test)
    rows = np.sort(np.random.default_rng(args.seed).choice(len(valid.targets), min(args.sample, len(valid.targets)),
                                                           replace=False))
    print(f"{name}: {data.n_users:,} users, {data.n_items:,} items; {len(test.targets):,} evaluated users")
    result = {"dataset": name, "protocol": "leave-one-out, every item ranked, history excluded; choices on validation"}
    if args.part in ("all", "privacy"):
        result["privacy"] = privacy_part(data, valid, test, hist_valid, hist_test, rows, args.epsilons, args.seed, print)
    knn = result.get("privacy", {}).get("item_knn")
    if args.part in ("all", "fairness"):
        if knn is None:
            from ecom_assets.ml.recsys.candidates import ItemKNN

            knn = max(KNN_GRID, key=lambda p: _ndcg(ItemKNN(**p).fit(hist_valid, data.n_items), valid, rows)[0])
        result["fairness"] = fairness_part(data, valid, test, hist_valid, hist_test, rows, knn, print)
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"wrote {write_result(f'trust_{name}', result)} in {result['total_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
