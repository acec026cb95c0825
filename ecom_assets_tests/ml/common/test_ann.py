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


def test_large_catalogues_get_hnsw_by_default():
    x, q = _clustered(3000), _clustered(100, seed=1)
    index = NeighbourIndex(exact_below=1000).build(x)
    assert index.kind == "faiss-hnsw" and index.search_setting == {"ef_search": 64}
    _, exact = NeighbourIndex().build(x).search(q, 10)
    assert recall_against_exact(index.search(q, 10)[1], exact) >= 0.9


def test_the_ivf_index_for_large_catalogues_finds_most_exact_neighbours():
    x, q = _clustered(5000), _clustered(200, seed=1)
    ivf = NeighbourIndex(exact_below=1000, method="ivf", nprobe=16).build(x)
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


def test_hnsw_and_quantised_ivf_with_exact_re_ranking_find_most_exact_neighbours():
    x, q = _clustered(5000), _clustered(200, seed=1)
    _, exact = NeighbourIndex().build(x).search(q, 10)
    hnsw = NeighbourIndex(exact_below=1000, method="hnsw", hnsw_m=16, ef_search=64).build(x)
    sq8 = NeighbourIndex(exact_below=1000, method="ivf-sq8", nprobe=16, refine_factor=4).build(x)
    assert (hnsw.kind, sq8.kind) == ("faiss-hnsw", "faiss-ivf-sq8")
    for index in (hnsw, sq8):
        scores, ids = index.search(q, 10)
        assert recall_against_exact(ids, exact) >= 0.9, index.kind
        assert (np.diff(scores, axis=1) <= 1e-6).all(), "best first"
    # The re-ranked scores are exact inner products, not the quantised ones.
    scores, ids = sq8.search(q, 10)
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", q, x[ids]), rtol=1e-5, atol=1e-6)
    # A wider search setting can only find more of the exact neighbours here.
    narrow = recall_against_exact(hnsw.set_search(ef_search=10).search(q, 10)[1], exact)
    wide = recall_against_exact(hnsw.set_search(ef_search=200).search(q, 10)[1], exact)
    assert wide >= narrow and hnsw.search_setting == {"ef_search": 200}
    assert sq8.nbytes() > x.nbytes  # the full vectors for re-ranking plus the 8-bit codes


def test_an_unknown_method_is_refused():
    import pytest

    with pytest.raises(ValueError, match="hnsw"):
        NeighbourIndex(method="lsh").build(_clustered(10))
