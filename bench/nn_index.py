#!/usr/bin/env python
"""Nearest-neighbour search for product embeddings: top-10 latency (one query at a time,
p50/p99) and recall against exact search at 10k, 100k and 1M items.

Vectors: 384-d unit vectors on a 24-dimensional linear manifold plus a little noise
(real sentence embeddings have low intrinsic dimension and continuous neighbourhoods;
well-separated clusters would flatter any index, uniform random vectors have no
neighbours worth finding); queries from the same distribution, not in the index.
Exact = one matrix-vector product + partial
sort (ecom_assets.ml.common.ann, what small catalogues use); faiss IVF with the project's
default cells (4 sqrt(n)) at three nprobe settings (default 128).

    .venv/bin/python bench/nn_index.py [--sizes 10000 100000 1000000] [--queries 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import write_result  # noqa: E402

from ecom_assets.ml.common.ann import NeighbourIndex, recall_against_exact  # noqa: E402


def catalogue_like(n: int, d: int, rng: np.random.Generator, latent: int = 24, noise: float = 0.2):
    """n unit vectors on a low-dimensional manifold (a random linear image of a `latent`-d
    Gaussian, plus a little isotropic noise): neighbourhoods are continuous rather than
    separate clusters, as in real sentence embeddings whose intrinsic dimension is low."""
    basis = rng.standard_normal((latent, d), dtype=np.float32) / np.sqrt(latent)
    return sample(basis, n, rng, noise), basis


def sample(basis: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.2) -> np.ndarray:
    latent, d = basis.shape
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = rng.standard_normal((m, latent), dtype=np.float32) @ basis
        x += noise * rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(d)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def latencies(index: NeighbourIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None, :], k)
        times.append(time.perf_counter() - t0)
        ids.append(i[0])
    return np.array(times) * 1000, np.stack(ids)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    rows = []
    for n in a.sizes:
        vectors, basis = catalogue_like(n, a.dim, rng)
        queries = sample(basis, a.queries, rng)
        exact = NeighbourIndex(exact_below=n + 1).build(vectors)
        exact_ms, exact_ids = latencies(exact, queries, a.k)
        nearest = float(np.mean([(q @ vectors[i[0]]) for q, i in zip(queries, exact_ids)]))
        row = {"items": n, "mean_cosine_to_nearest": round(nearest, 3), "exact_p50_ms": round(float(np.percentile(exact_ms, 50)), 3),
               "exact_p99_ms": round(float(np.percentile(exact_ms, 99)), 3), "faiss_ivf": []}
        t0 = time.perf_counter()
        ivf = NeighbourIndex(exact_below=0, seed=a.seed).build(vectors)
        build_s = time.perf_counter() - t0
        for nprobe in (32, 128, 512):
            ivf.index.nprobe = nprobe
            ms, ids = latencies(ivf, queries, a.k)
            row["faiss_ivf"].append({"nprobe": nprobe, "cells": ivf.index.nlist, "build_seconds": round(build_s, 1),
                                     "p50_ms": round(float(np.percentile(ms, 50)), 3),
                                     "p99_ms": round(float(np.percentile(ms, 99)), 3),
                                     f"recall@{a.k}_vs_exact": round(recall_against_exact(ids, exact_ids), 4)})
        rows.append(row)
        print(json.dumps(row))
        del vectors, exact, ivf
    out = {"benchmark": "nn_index", "dim": a.dim, "k": a.k, "queries": a.queries,
           "default_exact_below": NeighbourIndex().exact_below, "results": rows,
           "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    print(json.dumps(out, indent=2))
    write_result("nn_index", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
