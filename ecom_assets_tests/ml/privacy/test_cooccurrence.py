"""DP co-occurrence for item-KNN: bounding, the certified scale, the noise's law, the model."""

import numpy as np
import pytest

from ecom_assets.ml.privacy.cooccurrence import (
    CooccurrenceRelease,
    bounded_item_sets,
    certified_discrete_laplace_scale,
    discrete_laplace,
    private_cooccurrence,
    private_cosine_similarity,
)
from ecom_assets.ml.privacy.mechanisms import PrivacyParameterError
from ecom_assets.ml.recsys.candidates import ItemKNN
from ecom_assets.ml.recsys.strategy import load_strategy

HISTORIES = [np.array([0, 1, 2, 1, 3]), np.array([1, 2]), np.array([4]), np.array([2, 2, 0])]


def test_each_user_keeps_their_most_recent_distinct_items():
    sets = bounded_item_sets(HISTORIES, 3)
    assert [s.tolist() for s in sets] == [[3, 1, 2], [2, 1], [4], [0, 2]]
    with pytest.raises(PrivacyParameterError):
        bounded_item_sets(HISTORIES, 0)


def test_counts_are_exact_when_the_noise_vanishes():
    # epsilon so large that the discrete Laplace puts all its mass on 0.
    counts, _, pairs, releases = private_cooccurrence(HISTORIES, 5, CooccurrenceRelease(1e9, max_items=3, seed=0))
    # Bounded sets {3,1,2}, {2,1}, {4}, {0,2}: by hand.
    assert counts.tolist() == [1, 2, 3, 1, 1]
    expected = np.zeros((5, 5), dtype=int)
    for a, b in [(3, 1), (3, 2), (1, 2), (2, 1), (0, 2)]:
        expected[a, b] += 1
        expected[b, a] += 1
    assert (pairs == expected).all()
    assert (np.diag(pairs) == 0).all() and (pairs == pairs.T).all()
    assert [r.cells for r in releases] == [5, 10]


def test_noise_scale_is_the_sensitivity_over_epsilon_and_certified_by_opendp():
    _, _, _, (items, pairs) = private_cooccurrence(HISTORIES, 5, CooccurrenceRelease(2.0, max_items=4, item_share=0.25, seed=1))
    # Item counts: L1 sensitivity 4 at epsilon 0.5; pairs: 4 * 3 / 2 = 6 at epsilon 1.5.
    assert items.sensitivity == 4 and items.epsilon == pytest.approx(0.5) and items.noise_scale == pytest.approx(8.0)
    assert pairs.sensitivity == 6 and pairs.epsilon == pytest.approx(1.5) and pairs.noise_scale == pytest.approx(4.0)
    assert items.epsilon + pairs.epsilon == pytest.approx(2.0)
    assert certified_discrete_laplace_scale(1.0, 10) == pytest.approx(10.0)


def test_one_user_moves_the_counts_by_at_most_the_sensitivity():
    m = 3
    release = CooccurrenceRelease(1e9, max_items=m, seed=0)
    with_all = private_cooccurrence(HISTORIES, 5, release)
    for drop in range(len(HISTORIES)):
        without = private_cooccurrence(HISTORIES[:drop] + HISTORIES[drop + 1:], 5, release)
        assert np.abs(with_all[0] - without[0]).sum() <= m
        assert np.abs(np.triu(with_all[2] - without[2], 1)).sum() <= m * (m - 1) // 2


def test_discrete_laplace_has_the_law_of_its_scale():
    scale = 3.0
    x = discrete_laplace(np.random.default_rng(0), scale, 400_000)
    q = np.exp(-1.0 / scale)
    assert x.mean() == pytest.approx(0.0, abs=0.03)
    assert x.var() == pytest.approx(2 * q / (1 - q) ** 2, rel=0.02)
    assert (x == 0).mean() == pytest.approx((1 - q) / (1 + q), rel=0.02)


def test_private_similarity_keeps_top_neighbours_and_recovers_strong_pairs():
    rng = np.random.default_rng(0)
    # 400 users each take items 0 and 1 (a strong pair) and two random others of 30.
    histories = [np.array([*rng.choice(np.arange(2, 30), 2, replace=False), 0, 1]) for _ in range(400)]
    sim, _ = private_cosine_similarity(histories, 30, CooccurrenceRelease(4.0, max_items=4, seed=0), neighbours=5)
    assert sim.shape == (30, 30) and (sim.getnnz(axis=1) <= 5).all()
    assert sim[0].toarray().argmax() == 1 and sim[1].toarray().argmax() == 0
    assert sim.diagonal().sum() == 0


def test_item_knn_with_dp_fits_saves_and_loads(tmp_path):
    knn = ItemKNN(neighbours=3, dp_epsilon=1.0, dp_max_items=3, dp_seed=0).fit(HISTORIES, 5)
    assert [r.query for r in knn.privacy_releases] == ["item-KNN item counts", "item-KNN pair counts"]
    assert sum(r.epsilon for r in knn.privacy_releases) == pytest.approx(1.0)
    knn.save(tmp_path / "knn.npz")
    loaded, _ = load_strategy(tmp_path / "knn.npz")
    assert loaded.dp_epsilon == 1.0
    assert np.allclose(loaded.score(np.arange(2), HISTORIES[:2]), knn.score(np.arange(2), HISTORIES[:2]))


def test_too_many_items_for_a_dense_release_is_refused():
    with pytest.raises(PrivacyParameterError, match="exceed"):
        private_cooccurrence(HISTORIES, 10**6, CooccurrenceRelease(1.0))


def test_a_neighbour_pool_releases_only_pairs_with_the_most_taken_items():
    counts, pool, pairs, (_, pair_release) = private_cooccurrence(
        HISTORIES, 5, CooccurrenceRelease(1e9, max_items=3, seed=0, neighbour_pool=2))
    assert pool.tolist() == [1, 2], "the two items with the largest (here exact) counts"
    assert pairs.shape == (5, 2) and pairs[1, 0] == 0 and pairs[2, 1] == 0, "no self-pairs"
    assert pairs[3].tolist() == [1, 1] and pairs[0].tolist() == [0, 1]
    assert pair_release.cells == 3 * 2 + 1
    for seed in range(5):
        _, pool, noisy, _ = private_cooccurrence(HISTORIES, 5, CooccurrenceRelease(0.5, max_items=3, seed=seed,
                                                                                  neighbour_pool=2))
        assert noisy[pool[0], 1] == noisy[pool[1], 0], "a pair inside the pool has one draw"
    sim, _ = private_cosine_similarity(HISTORIES, 5, CooccurrenceRelease(1e9, max_items=3, seed=0, neighbour_pool=2), 5)
    assert set(sim.indices.tolist()) <= {1, 2}


def test_a_private_training_collects_every_item_knn_fit():
    from ecom_assets.ml.recsys.training import RecommenderSettings, make_components, privacy_releases

    settings = RecommenderSettings(sasrec_seconds=0, item_knn_epsilon=0.5, item_knn_max_items=2)
    for _ in range(2):
        make_components(settings)["item_knn"].fit(HISTORIES, 5)
    releases = privacy_releases(settings)
    assert len(releases) == 4 and sum(r.epsilon for r in releases) == pytest.approx(1.0)
    assert privacy_releases(RecommenderSettings(sasrec_seconds=0)) == []
