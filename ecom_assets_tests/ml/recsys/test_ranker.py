"""The learning-to-rank stage, attribution, attribute similarity, the serving guard and
cold-start lists, on small hand-made data."""

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.recsys.blend import Blend
from ecom_assets.ml.recsys.candidates import Popularity, Transitions
from ecom_assets.ml.recsys.evaluation import evaluate
from ecom_assets.ml.recsys.ranker import (
    NON_CANDIDATE_OFFSET,
    ItemAttributes,
    LearnedRanker,
    RankerSettings,
    RankingWindow,
    _history_profile,
    _union_rows,
    item_counts_of,
)
from ecom_assets.ml.recsys.sequences import Split
from ecom_assets.ml.recsys.strategy import load_strategy

N_CATEGORIES, PER_CATEGORY = 5, 12


def test_candidate_union_and_history_profile_by_hand():
    np.testing.assert_array_equal(_union_rows(np.array([[3, 1, 3, 2], [0, 0, 0, 0]])), [[1, 2, 3, -1], [0, -1, -1, -1]])
    codes = np.array([0, 0, 1, 2])  # items 0, 1 in category 0; item 2 in 1; item 3 in 2
    share, since = _history_profile([np.array([0, 2, 1]), np.array([], dtype=np.int64)], codes, 3)
    np.testing.assert_allclose(share, [[2 / 3, 1 / 3, 0], [0, 0, 0]])
    np.testing.assert_allclose(since, [[1, 2, 4], [1, 1, 1]])  # 1 = the last item; never = length + 1


def _one_category_shoppers(n_users=400, length=9, seed=0):
    """Each user takes items of one category only, in random order; popularity cannot tell
    which, the category share of the history can."""
    rng = np.random.default_rng(seed)
    category = np.repeat(np.arange(N_CATEGORIES), PER_CATEGORY)
    favourite = rng.integers(0, N_CATEGORIES, n_users)
    sequences = [rng.choice(np.flatnonzero(category == c), length, replace=False) for c in favourite]
    # a few globally popular items everyone also takes, so that popularity is a fair baseline
    return sequences, category


def _window(sequences, back: int, components: dict, n_items: int) -> RankingWindow:
    histories = [s[:-back] for s in sequences]
    split = Split(histories, np.array([s[-back] for s in sequences]), np.arange(len(sequences)))
    fitted = {n: c.fit(histories, n_items) for n, c in components.items()}
    return RankingWindow(fitted, split, item_counts=item_counts_of(histories, n_items))


def _trained_ranker(sequences, category, n_items):
    # Popularity alone cannot tell a shopper's category; every item is a candidate.
    train, valid, test = (_window(sequences, b, {"popularity": Popularity()}, n_items) for b in (3, 2, 1))
    ranker = LearnedRanker(test.components, {"popularity": 1.0},
                           RankerSettings(per_source=n_items, min_data_in_leaf=5, max_rounds=60, early_stopping_rounds=10),
                           attributes=ItemAttributes(category=category), item_counts=test.item_counts)
    ranker.n_items = n_items
    trace = ranker.train(train, valid)
    return ranker, trace, test


def test_the_ranker_learns_what_the_strategies_miss_and_never_sees_the_test_item():
    sequences, category = _one_category_shoppers()
    n_items = len(category)
    ranker, trace, test = _trained_ranker(sequences, category, n_items)
    assert trace["rounds"] >= 1 and trace["candidate_recall_valid"] > 0.5
    blend = Blend(test.components, {"popularity": 1.0})
    blend.n_items = n_items
    ours, theirs = (evaluate(m, test.split, ks=(10,))["NDCG@10"] for m in (ranker, blend))
    assert ours > 2 * theirs, (ours, theirs)
    assert ranker.importance["user_category_share"] == max(ranker.importance.values())


def test_the_refit_learns_from_the_validation_queries_for_the_rounds_validation_chose():
    import lightgbm  # noqa: F401  (the booster's text model is read back below)
    import pytest

    sequences, category = _one_category_shoppers()
    n_items = len(category)
    train, valid, test = (_window(sequences, b, {"popularity": Popularity()}, n_items) for b in (3, 2, 1))
    ranker = LearnedRanker(test.components, {"popularity": 1.0},
                           RankerSettings(per_source=n_items, min_data_in_leaf=5, max_rounds=60, early_stopping_rounds=10),
                           attributes=ItemAttributes(category=category), item_counts=test.item_counts)
    ranker.n_items = n_items
    with pytest.raises(RuntimeError, match="keep_queries"):
        ranker.train(train, valid)
        ranker.refit_on_validation()
    trace = ranker.train(train, valid, keep_queries=True)
    before = ranker.booster_text
    refit = ranker.refit_on_validation()
    assert refit["rounds"] == trace["rounds"]
    assert refit["queries"] == trace["train_queries"] + trace["valid_queries"]
    assert ranker.booster.num_trees() == trace["rounds"] and ranker.booster_text != before
    assert evaluate(ranker, test.split, ks=(10,))["NDCG@10"] > 0
    with pytest.raises(RuntimeError):
        ranker.refit_on_validation()  # once: the kept queries are released


def test_candidates_rank_above_every_other_item_and_the_file_scores_identically(tmp_path):
    sequences, category = _one_category_shoppers(n_users=200)
    n_items = len(category)
    ranker, _, test = _trained_ranker(sequences, category, n_items)
    ranker.settings.per_source = 3
    users, hist = test.split.users[:20], test.split.histories[:20]
    scores = ranker.score(users, hist)
    non_candidate = scores < -NON_CANDIDATE_OFFSET / 2
    assert non_candidate.any() and (~non_candidate).any()
    assert (scores[~non_candidate].min() > scores[non_candidate].max())
    sha = ranker.save(tmp_path / "ranker.npz")
    loaded, _ = load_strategy(tmp_path / "ranker.npz", sha)
    np.testing.assert_allclose(loaded.score(users, hist), scores, rtol=1e-6)
    assert loaded.importance == pytest.approx(ranker.importance)
    _, contributions = loaded.score_and_attribution(users, hist)
    assert set(contributions) == {"popularity"}


def test_attribution_is_not_won_by_the_strategy_whose_scores_crowd_near_their_maximum():
    from ecom_assets.ml.recsys.strategy import Strategy
    from ecom_assets.ml.recsys.top_k import recommend

    class Fixed(Strategy):
        def __init__(self, row, name):
            self.row, self.name, self.n_items = np.asarray(row, np.float32), name, len(row)

        def fit(self, histories, n_items):
            return self

        def score(self, users, histories):
            return np.tile(self.row, (len(histories), 1))

    dense = Fixed([1.0, 0.99, 0.98, 0.97, 0.96, 0.2], "dense")  # a SASRec-like scale: everything near the top
    sparse = Fixed([0.0, 0.0, 0.0, 1.0, 0.0, 0.0], "sparse")
    blend = Blend({"dense": dense, "sparse": sparse}, {"dense": 1.0, "sparse": 1.0})
    blend.n_items = 6
    top = recommend(blend, np.array([0]), [np.array([], dtype=np.int64)], k=2)
    names = [top.origin_names[o] for o in top.origins[0]]
    assert top.items[0, 0] == 3 and names[0] == "sparse", "item 3 is on the list because of the sparse strategy"
    assert top.items[0, 1] == 0 and names[1] == "dense"


def test_attribute_similarity_prefers_items_sharing_attributes_and_reaches_unseen_ones():
    from ecom_assets.ml.recsys.text_similarity import AttributeSimilarity

    attributes = [[0, 1], [0, 1], [2], [0], [3]]  # item 1 shares both of item 0's attributes, 3 one, 2 and 4 none
    strategy = AttributeSimilarity().with_attributes(attributes).fit([np.array([0])], 5)
    scores = strategy.score(np.array([0]), [np.array([0])])[0]
    assert scores[1] > scores[3] > scores[2] == scores[4] == 0.0
    with pytest.raises(ValueError, match="attributes of each of the 6 items"):
        AttributeSimilarity().with_attributes(attributes).fit([], 6)


def test_the_guard_serves_the_best_single_strategy_when_the_tuned_models_trail_it():
    from ecom_assets.ml.recsys.training import RecommenderSettings, choose_serving

    sequences, category = _one_category_shoppers(n_users=120)
    window = _window(sequences, 1, {"popularity": Popularity(), "transitions": Transitions()}, len(category))
    relevant = [{int(t)} for t in window.split.targets]
    metrics = pd.DataFrame({"strategy": ["popularity", "transitions", "oracle", "hybrid"],
                            "ndcg_10": [0.05, 0.06, 0.99, 0.07]})
    settings = RecommenderSettings(ranker=False)
    out = choose_serving(settings, window.components, {}, window.split, relevant, metrics, None, window.item_counts, None)
    assert out["serves"] == "oracle" and out["weights"] == {"oracle": 1.0} and "more than 2% below" in out["reason"]
    fair = metrics.assign(ndcg_10=[0.0, 0.0, 0.0, 0.0])
    out = choose_serving(settings, window.components, {}, window.split, relevant, fair, None, window.item_counts, None)
    assert out["serves"] == "hybrid" and "hybrid (cross-fitted)" in out["newest_window_ndcg_10"]


def test_cold_start_lists_mix_the_segment_s_favourites_with_what_the_newcomer_viewed():
    from ecom_assets.ml.recsys.lists import cold_start_lists

    t = pd.Timestamp("2026-10-10")
    events = pd.DataFrame([
        # the bargain hunters' favourite is a; the shop's overall favourite is b
        *[{"user_id": f"h{i}", "item_id": "a", "event_time": t, "event_type": "view"} for i in range(3)],
        *[{"user_id": f"o{i}", "item_id": "b", "event_time": t, "event_type": "view"} for i in range(5)],
        {"user_id": "o0", "item_id": "s1", "event_time": t, "event_type": "view"},
        {"user_id": "new", "item_id": "s2", "event_time": t + pd.Timedelta(hours=1), "event_type": "purchase"},
    ])
    users = pd.DataFrame({"user_id": ["h0", "h1", "h2", "o0", "o1", "o2", "o3", "o4", "new", "lost"],
                          "segment": ["bargain_hunter"] * 3 + ["other"] * 5 + ["bargain_hunter", None],
                          "country": [None] * 9 + ["Atlantis"]})
    catalogue = pd.DataFrame({"item_id": ["a", "b", "s1", "s2", "gone"], "category_l2": ["Tea", "Tea", "Shoes", "Shoes", "Tea"],
                              "is_offerable": [True, True, True, True, False]})
    # The "popular in" lists come from the DP release; at a vanishing noise it keeps the exact order.
    from ecom_assets.ml.privacy.popular import PopularRelease, popular_lists, private_popular_items

    known = events[events["user_id"] != "new"].merge(users, on="user_id").merge(catalogue, on="item_id")
    cells = pd.concat([known.groupby(["segment", "item_id"]).size().rename("users").reset_index()
                       .rename(columns={"segment": "group"}).assign(kind="segment"),
                       known.groupby(["category_l2", "item_id"]).size().rename("users").reset_index()
                       .rename(columns={"category_l2": "group"}).assign(kind="category"),
                       known.groupby("item_id").size().rename("users").reset_index().assign(kind="shop", group="(shop)")])
    released, _ = private_popular_items(
        cells, {"segment": ["bargain_hunter", "other"], "country": ["Atlantis"], "category": ["Tea", "Shoes"]},
        {"*": catalogue["item_id"].tolist(), "Tea": ["a", "b", "gone"], "Shoes": ["s1", "s2"]},
        PopularRelease(epsilon=1e9, contribution_bound=1, min_group_size=1))
    lists = cold_start_lists(users, ["new", "lost"], events, catalogue, k=3, since=t, popular=popular_lists(released))
    new = lists[lists["user_id"] == "new"]
    assert new["item_id"].tolist() == ["a", "s1", "b"], "segment favourite, then the viewed category's, bought s2 left out"
    assert new["reason"].tolist() == ["popular with bargain hunter shoppers", "popular in Shoes, which you viewed",
                                      "popular in the shop"]
    lost = lists[lists["user_id"] == "lost"]
    assert lost["item_id"].iloc[0] == "b" and lost["reason"].iloc[0] == "popular in the shop"
    assert "gone" not in set(lists["item_id"]) and (lists["strategy"] == "cold_start").all()


def test_a_ranker_explanation_adds_up_to_the_score_and_names_the_category_feature():
    from ecom_assets.ml.recsys.explanations import contribution_texts, score_contributions, strategy_shares
    from ecom_assets.ml.recsys.top_k import recommend

    sequences, category = _one_category_shoppers()
    n_items = N_CATEGORIES * PER_CATEGORY
    ranker, _, test = _trained_ranker(sequences, category, n_items)
    users = np.arange(20)
    histories = [test.split.histories[u] for u in users]
    top = recommend(ranker, users, histories, 5, exclude=histories)
    contributions, names = score_contributions(ranker, users, histories, top.items, chunk_size=7)
    assert contributions.shape == (20, 5, len(ranker.feature_names) + 1) and names[-1] == "bias"
    # TreeSHAP: the contributions and the expected score add up to the booster's score.
    np.testing.assert_allclose(contributions.sum(axis=2), top.scores, rtol=1e-4, atol=1e-4)
    texts = contribution_texts(contributions, names, top.items, top=2)
    assert all(t.count(",") == 1 for t in texts.ravel())
    assert any("user_category_share" in t for t in texts.ravel()), "the shopper's category drives these lists"
    shares = strategy_shares(contributions, names, top.items, ["popularity"])
    assert set(shares) <= {"popularity", "blend", "shop features"} and sum(shares.values()) == pytest.approx(1, abs=1e-3)
    assert max(shares, key=shares.get) == "shop features"


def test_a_blend_explanation_is_its_components_parts():
    from ecom_assets.ml.recsys.explanations import score_contributions, strategy_shares
    from ecom_assets.ml.recsys.top_k import recommend

    sequences, _ = _one_category_shoppers(n_users=50)
    blend = Blend({"popularity": Popularity(), "transitions": Transitions()}, {"popularity": 0.2, "transitions": 1.0})
    blend.fit(sequences, N_CATEGORIES * PER_CATEGORY)
    users = np.arange(10)
    histories = [sequences[u] for u in users]
    top = recommend(blend, users, histories, 4, exclude=histories)
    contributions, names = score_contributions(blend, users, histories, top.items)
    assert names == ["popularity", "transitions"]
    np.testing.assert_allclose(contributions.sum(axis=2), top.scores, rtol=1e-5)
    assert set(strategy_shares(contributions, names, top.items, names)) == {"popularity", "transitions"}
