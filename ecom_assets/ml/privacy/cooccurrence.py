"""Item co-occurrence with differential privacy, for the item-KNN strategy.

Item-KNN's similarity is read from two aggregates over users: how many users took each
item (item counts) and how many took each pair of items (pair counts). A model built on
exact counts can reveal a shopper: an item pair bought by one person appears as a
neighbour. Here both are released with the discrete Laplace mechanism before any
similarity is computed, so the similarity matrix, the lists it produces and the model
file are post-processing of a DP release (no further privacy cost).

    bounding      each user keeps at most `max_items` distinct items (their most recent):
                  adding or removing one user changes the item counts by at most
                  `max_items` and the pair counts (unordered pairs i < j) by at most
                  max_items * (max_items - 1) / 2, both in L1
    noise         every cell is noised, the pairs no one took included (a noised
                  non-zero set would leak which pairs exist): n_items * (n_items - 1) / 2
                  pair cells, dense in memory; with `neighbour_pool` only the pairs
                  with one of the pool items (those with the largest noisy counts, a
                  choice made from the first release) are released
    budget        epsilon is split between the two releases (`item_share` to the item
                  counts); basic composition, so the whole fit spends epsilon

The noise scale is the one OpenDP's privacy map certifies for the discrete Laplace
measurement (`dp.m.then_laplace` over integer vectors with the L1 sensitivity above). The
draws themselves come from numpy (the difference of two geometric variables is discrete
Laplace), because OpenDP's exact sampler takes about 8 us a cell and a 12,000-item
catalogue has 72 million pair cells. The noise is integer, so the low-bit floating-point
attack (Mironov, 2012) does not apply; numpy's generator is not cryptographically secure,
which a deployment against a strong adversary would change (`dp_counts` in `mechanisms`
uses OpenDP's own sampler for the aggregates the platform releases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml.privacy.mechanisms import PrivacyParameterError, Release, opendp_prelude

MAX_DENSE_ITEMS = 40_000
"""Above this squared the pair matrix (4-byte cells) would not fit a laptop's memory."""


@dataclass(frozen=True)
class CooccurrenceRelease:
    epsilon: float
    max_items: int = 5
    """Distinct items per user counted (their most recent)."""
    item_share: float = 0.2
    """Share of epsilon spent on the item counts (the rest on the pair counts)."""
    seed: int | None = None
    """Seed of the noise (None: fresh entropy; tests fix it)."""
    neighbour_pool: int | None = None
    """Neighbours are drawn only from this many items with the largest noisy counts (None:
    every item). Fewer noised cells compete with the real pairs, at the cost of never
    linking to a rarely taken item."""


def bounded_item_sets(histories: list[np.ndarray], max_items: int) -> list[np.ndarray]:
    """Each user's most recent `max_items` distinct items (histories are oldest first)."""
    if int(max_items) < 1:
        raise PrivacyParameterError(f"max_items must be at least 1, got {max_items}")
    out = []
    for h in histories:
        recent_first = np.asarray(h, dtype=np.int64)[::-1]
        _, first = np.unique(recent_first, return_index=True)
        out.append(recent_first[np.sort(first)][:max_items])
    return out


def certified_discrete_laplace_scale(epsilon: float, sensitivity: int) -> float:
    """The discrete Laplace scale sensitivity / epsilon, checked against OpenDP's privacy map."""
    if not (epsilon > 0 and np.isfinite(epsilon)):
        raise PrivacyParameterError(f"epsilon must be a positive number, got {epsilon}")
    dp = opendp_prelude()
    scale = float(sensitivity) / float(epsilon)
    measurement = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)) >> dp.m.then_laplace(scale=scale)
    spent = float(measurement.map(int(sensitivity)))
    if spent > epsilon * (1 + 1e-9):
        raise PrivacyParameterError(f"discrete Laplace at scale {scale} spends {spent} > epsilon {epsilon}")
    return scale


def discrete_laplace(rng: np.random.Generator, scale: float, shape) -> np.ndarray:
    """Integer noise with P(k) proportional to exp(-|k| / scale): the difference of two
    geometric variables with success probability 1 - exp(-1 / scale)."""
    p = -np.expm1(-1.0 / scale)
    return (rng.geometric(p, size=shape) - rng.geometric(p, size=shape)).astype(np.int32)


def private_cooccurrence(histories: list[np.ndarray], n_items: int, release: CooccurrenceRelease
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Release]]:
    """(noisy item counts (n_items,), the neighbour pool (item indices), noisy pair counts
    (n_items, pool) with zero self-pairs, the two releases for a ledger). The pool is
    every item, or the `neighbour_pool` items with the largest noisy counts (chosen from
    the first release: post-processing); a pair inside the pool gets one draw, mirrored."""
    if not 0 < release.item_share < 1:
        raise PrivacyParameterError(f"item_share must be in (0, 1), got {release.item_share}")
    m = int(release.max_items)
    sets = bounded_item_sets(histories, m)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.concatenate(sets) if sets else np.empty(0, np.int64)
    x = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sets), n_items)).tocsc()
    item_counts = np.asarray(x.sum(axis=0)).ravel().astype(np.int64)

    item_sensitivity, pair_sensitivity = m, max(1, m * (m - 1) // 2)
    item_epsilon = release.epsilon * release.item_share
    pair_epsilon = release.epsilon - item_epsilon
    item_scale = certified_discrete_laplace_scale(item_epsilon, item_sensitivity)
    pair_scale = certified_discrete_laplace_scale(pair_epsilon, pair_sensitivity)
    rng = np.random.default_rng(release.seed)
    noisy_items = item_counts + discrete_laplace(rng, item_scale, n_items)
    size = n_items if release.neighbour_pool is None else min(int(release.neighbour_pool), n_items)
    if n_items * size > MAX_DENSE_ITEMS ** 2:
        raise PrivacyParameterError(f"DP co-occurrence noises every pair densely; {n_items:,} x {size:,} cells exceed "
                                    f"{MAX_DENSE_ITEMS:,}^2 (set a neighbour pool or use exact item-KNN)")
    pool = np.arange(n_items) if size == n_items else np.sort(np.argsort(-noisy_items, kind="stable")[:size])
    pairs = np.asarray((x.T @ x[:, pool]).todense(), dtype=np.int32)
    noise = discrete_laplace(rng, pair_scale, pairs.shape)
    # A pair of two pool items appears twice, (i, j) and (j, i): one draw, mirrored.
    inside = noise[pool]
    upper = np.triu(inside, k=1)
    noise[pool] = upper + upper.T
    noisy_pairs = pairs + noise
    noisy_pairs[pool, np.arange(size)] = 0
    n_pairs = (n_items - size) * size + size * (size - 1) // 2
    releases = [Release("item-KNN item counts", "discrete Laplace", item_epsilon, 0.0, item_scale, m,
                        float(item_sensitivity), n_items),
                Release("item-KNN pair counts", "discrete Laplace", pair_epsilon, 0.0, pair_scale, m,
                        float(pair_sensitivity), n_pairs)]
    return noisy_items, pool, noisy_pairs, releases


def private_cosine_similarity(histories: list[np.ndarray], n_items: int, release: CooccurrenceRelease,
                              neighbours: int = 100) -> tuple[sp.csr_matrix, list[Release]]:
    """Item-item cosine from the noisy counts, each item's `neighbours` largest among the
    pool kept: max(pair, 0) / sqrt(max(count_i, 1) * max(count_j, 1)). Post-processing only."""
    counts, pool, pairs, releases = private_cooccurrence(histories, n_items, release)
    norms = np.sqrt(np.maximum(counts, 1).astype(np.float32))
    k = min(int(neighbours), max(len(pool) - 1, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n_items, 2048):  # a block of rows at a time: no second dense copy
        block = np.maximum(pairs[start:start + 2048], 0).astype(np.float32)
        block /= norms[start:start + 2048, None]
        block /= norms[pool][None, :]
        top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < len(pool) else \
            np.tile(np.arange(len(pool)), (len(block), 1))
        picked = np.take_along_axis(block, top, axis=1)
        keep = picked > 0
        rows.append(np.repeat(np.arange(start, start + len(block)), top.shape[1])[keep.ravel()])
        cols.append(pool[top[keep]])
        vals.append(picked[keep])
    sim = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items),
                        dtype=np.float32)
    return sim, releases
