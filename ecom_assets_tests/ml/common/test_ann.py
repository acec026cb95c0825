"""Nearest-neighbour search: exact search is right by construction (checked against a
brute-force sort), the faiss index is measured against it, similar-item lists skip the
item itself and blocked items."""

import numpy as np

from ecom_assets.ml.common.ann import NeighbourIndex, recall_against_exact, similar_item_lists


def _clustered(n, d=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, d))
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_search_matches_a_full_sort():
    x, q = _clustered(500), _clustered(20, seed=1)
    scores, ids = NeighbourIndex().build(x).search(q, 7, chunk=6)
    reference = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :7]
    assert (ids == reference).all()
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, reference, axis=1), rtol=1e-6)
    _, few = NeighbourIndex().build(x[:3]).search(q, 5)
    assert (few[:, 3:] == -1).all(), "fewer items than k: the rest are -1"


def test_the_faiss_index_for_large_catalogues_finds_most_exact_neighbours():
    x, q = _clustered(5000), _clustered(200, seed=1)
    ivf = NeighbourIndex(exact_below=1000, nprobe=16).build(x)
    assert ivf.kind == "faiss-ivf"
    _, approx = ivf.search(q, 10)
    _, exact = NeighbourIndex().build(x).search(q, 10)
    assert recall_against_exact(approx, exact) >= 0.9
    assert recall_against_exact(exact, exact) == 1.0


def test_similar_items_skip_the_item_itself_and_blocked_items():
    x = _clustered(300)
    blocked = np.zeros(300, dtype=bool)
    blocked[::7] = True
    scores, ids, index = similar_item_lists(x, k=5, blocked=blocked)
    assert index.kind == "exact" and (ids >= 0).all()
    assert not (ids == np.arange(300)[:, None]).any()
    assert not blocked[ids].any()
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "best first"
    assert blocked[0] and (ids[0] >= 0).all(), "a blocked item still gets look-alikes"
