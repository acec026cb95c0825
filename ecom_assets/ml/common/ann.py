"""Nearest-neighbour search over unit-length embeddings (inner product = cosine).

Small catalogues get exact search (one matrix product per query batch, no index to
build, always right). From `exact_below` items on, a faiss index, by `method`:

- "ivf": inverted lists over k-means cells (Jégou et al., 2011), scanning the `nprobe`
  cells nearest each query;
- "ivf-sq8": the same lists holding 8-bit scalar-quantised vectors (a quarter of the
  bytes to scan per probed vector), the best `refine_factor` x k of them re-ranked by
  exact inner product against the full vectors (faiss IndexRefineFlat);
- "hnsw": a hierarchical navigable small-world graph (Malkov & Yashunin, 2018), `hnsw_m`
  links per node, `ef_search` candidates kept while searching.

`recall_against_exact` measures what each costs; bench/nn_index.py sweeps each method's
search setting at 1e6 items and picks by measurement. HNSW is the default because only it
met recall@10 >= 0.95 against exact search at p99 < 5 ms per query on 2 cores there (IVF
needed nprobe 256 and 7.6 ms). Its price is the build, about 9 minutes at 1e6 items on 2
cores against about 1 for IVF: a catalogue rebuilt often and queried little may prefer
method="ivf".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("ivf", "ivf-sq8", "hnsw")


@dataclass
class NeighbourIndex:
    exact_below: int = 50_000
    method: str = "hnsw"
    nprobe: int = 128  # ivf: recall@10 vs exact 0.96 at 100k, 0.92 at 1M items (bench/nn_index.py)
    cells: int | None = None  # ivf, ivf-sq8: default ~4 sqrt(n)
    refine_factor: int = 4  # ivf-sq8: candidates re-ranked exactly, per neighbour asked for
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64  # hnsw: recall@10 vs exact 0.954 at 1M items, p99 1.4 ms (bench/nn_index.py)
    train_sample: int = 100_000
    seed: int = 0

    def build(self, embeddings: np.ndarray) -> "NeighbourIndex":
        if self.method not in METHODS:
            raise ValueError(f"NeighbourIndex.method {self.method!r} is not one of {', '.join(METHODS)}")
        self.vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        n, d = self.vectors.shape
        self.kind = "exact" if n < self.exact_below else f"faiss-{self.method}"
        if self.kind == "exact":
            return self
        import faiss  # imported only for large catalogues

        if self.method == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.add(self.vectors)
            self.index = index
            self.set_search(ef_search=self.ef_search)
            return self
        cells = self.cells or int(4 * np.sqrt(n))
        quantiser = faiss.IndexFlatIP(d)
        if self.method == "ivf":
            ivf = faiss.IndexIVFFlat(quantiser, d, cells, faiss.METRIC_INNER_PRODUCT)
        else:
            ivf = faiss.IndexIVFScalarQuantizer(quantiser, d, cells, faiss.ScalarQuantizer.QT_8bit,
                                                faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(self.seed)
        sample = self.vectors[rng.choice(n, min(n, max(self.train_sample, 40 * cells)), replace=False)]
        ivf.cp.seed = self.seed
        ivf.train(sample)
        ivf.add(self.vectors)
        self._quantiser, self.ivf = quantiser, ivf  # the wrappers below do not own them
        index = ivf if self.method == "ivf" else faiss.IndexRefineFlat(ivf, faiss.swig_ptr(self.vectors))
        self.index = index
        self.set_search(nprobe=self.nprobe, refine_factor=self.refine_factor)
        return self

    def set_search(self, nprobe: int | None = None, ef_search: int | None = None,
                   refine_factor: int | None = None) -> "NeighbourIndex":
        """Change the search-time setting of a built index (what the benchmark sweeps)."""
        if self.kind == "faiss-hnsw" and ef_search is not None:
            self.ef_search = self.index.hnsw.efSearch = ef_search
        if self.kind in ("faiss-ivf", "faiss-ivf-sq8") and nprobe is not None:
            self.nprobe = self.ivf.nprobe = nprobe
        if self.kind == "faiss-ivf-sq8" and refine_factor is not None:
            self.refine_factor = self.index.k_factor = refine_factor
        return self

    @property
    def search_setting(self) -> dict:
        if self.kind == "faiss-hnsw":
            return {"ef_search": self.ef_search}
        if self.kind == "faiss-ivf":
            return {"nprobe": self.nprobe}
        if self.kind == "faiss-ivf-sq8":
            return {"nprobe": self.nprobe, "refine_factor": self.refine_factor}
        return {}

    def nbytes(self) -> int:
        """The index's memory: the serialised faiss index (for ivf-sq8 plus the full vectors
        the re-ranking reads), or the vectors for exact search."""
        if self.kind == "exact":
            return self.vectors.nbytes
        import faiss

        own = self.ivf if self.kind == "faiss-ivf-sq8" else self.index
        extra = self.vectors.nbytes if self.kind == "faiss-ivf-sq8" else 0
        return int(faiss.serialize_index(own).nbytes) + extra

    def search(self, queries: np.ndarray, k: int = 10, exclude_self: bool = False,
               chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k), best first; ids -1 where fewer than k exist.
        exclude_self: the queries are the indexed rows in order, and a row is not its own neighbour."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        want = k + 1 if exclude_self else k
        if self.kind == "exact":
            scores, ids = _exact_top_k(self.vectors, q, want, chunk)
        else:
            scores, ids = self.index.search(q, want)
        if exclude_self:
            rows = np.arange(len(q))[:, None]
            is_self = ids == rows
            keep = np.where(is_self.any(axis=1, keepdims=True), ~is_self, np.arange(want) < k)
            scores = scores[keep].reshape(len(q), k)
            ids = ids[keep].reshape(len(q), k)
        return scores, ids


def _exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(vectors)
    kk = min(k, n)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ vectors.T  # (c, n)
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (len(sims), 1))
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        ids[start:start + len(sims), :kk] = np.take_along_axis(top, order, axis=1)
        scores[start:start + len(sims), :kk] = np.take_along_axis(top_scores, order, axis=1)
    return scores, ids


def recall_against_exact(approximate_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean share of the exact top-k that the approximate search also returned."""
    hits = [len(set(a[a >= 0]) & set(e[e >= 0])) / max((e >= 0).sum(), 1) for a, e in zip(approximate_ids, exact_ids)]
    return float(np.mean(hits)) if hits else 1.0


def similar_item_lists(embeddings: np.ndarray, k: int = 10, blocked: np.ndarray | None = None,
                       index: NeighbourIndex | None = None) -> tuple[np.ndarray, np.ndarray, NeighbourIndex]:
    """Per item, its k nearest other items among those not blocked: (scores, ids, index);
    ids -1 where fewer exist. Only allowed items are indexed; every item is a query (a
    cold-start or hidden item still gets look-alikes)."""
    n = len(embeddings)
    blocked = np.zeros(n, dtype=bool) if blocked is None else np.asarray(blocked, dtype=bool)
    allowed = np.flatnonzero(~blocked)
    index = (index or NeighbourIndex()).build(embeddings[allowed])
    scores_out = np.full((n, k), -np.inf, dtype=np.float32)
    ids_out = np.full((n, k), -1, dtype=np.int64)
    if len(allowed) == 0:
        return scores_out, ids_out, index
    scores, local = index.search(embeddings, k + 1)
    ids = np.where(local >= 0, allowed[np.clip(local, 0, None)], -1)
    keep = (ids != np.arange(n)[:, None]) & (ids >= 0)
    for r in range(n):  # drop the item itself, keep the first k others
        s, i = scores[r][keep[r]][:k], ids[r][keep[r]][:k]
        scores_out[r, :len(s)], ids_out[r, :len(i)] = s, i
    return scores_out, ids_out, index
