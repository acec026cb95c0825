"""Public-data readers, the leave-one-out protocol, the candidate strategies and the
validation-tuned blend, on tiny hand-written data."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from ecom_assets.ml.recsys.blend import Blend, scale_per_user, tune_weights
from ecom_assets.ml.recsys.candidates import ItemKNN, MatrixFactorisation, Popularity, Transitions, recent_items_matrix
from ecom_assets.ml.recsys.evaluation import evaluate, metrics_from_ranks, target_ranks
from ecom_assets.ml.recsys.sequences import SequenceDataset, leave_one_out, training_histories
from ecom_assets.ml.recsys.strategy import Strategy, load_strategy
from ecom_assets.sources.public import PublicDataError, read_recbole, read_s3rec
from ecom_assets_tests.conftest import SHARED_DATA


def test_s3rec_reader_reindexes_items_and_keeps_order(tmp_path):
    path = tmp_path / "shop.txt"
    path.write_text("1 10 20 30\n2 20 40\n\n3 10 40 20 30\n")
    data = read_s3rec(path)
    assert data.n_users == 3 and data.n_items == 4 and data.n_interactions == 9
    assert data.item_labels.tolist() == [10, 20, 30, 40]
    assert [s.tolist() for s in data.sequences] == [[0, 1, 2], [1, 3], [0, 3, 1, 2]]


@pytest.mark.parametrize("content,message", [("1 10 x\n", "shop.txt:1: item id 'x'"), ("1 2\n7\n", "shop.txt:2: expected")])
def test_s3rec_reader_names_the_bad_line(tmp_path, content, message):
    (tmp_path / "shop.txt").write_text(content)
    with pytest.raises(PublicDataError, match=message):
        read_s3rec(tmp_path / "shop.txt")


def test_recbole_reader_rebuilds_sequences_with_text(tmp_path):
    (tmp_path / "Toy.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1 2\t3\n1\t2 0\t1\n")
    (tmp_path / "Toy.item2index").write_text("A\t0\nB\t1\nC\t2\nD\t3\n")
    (tmp_path / "Toy.text").write_text("item_id:token\ttext:token_seq\nB\tBlue widget \nZ\tunknown item\n")
    data = read_recbole(tmp_path)
    assert [s.tolist() for s in data.sequences] == [[0, 1, 2, 3], [2, 0, 1]]
    assert data.item_text == {1: "Blue widget"} and data.item_labels.tolist() == ["A", "B", "C", "D"]
    (tmp_path / "Toy.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1\n")
    with pytest.raises(PublicDataError, match=r"Toy.test.inter:2: expected 3 tab-separated fields"):
        read_recbole(tmp_path)


def test_shared_sets_load_with_their_documented_sizes():
    beauty = SHARED_DATA / "amazon-beauty" / "Beauty.txt"
    if not beauty.exists():
        pytest.skip("shared data not present")
    data = read_s3rec(beauty)
    assert (data.n_users, data.n_items, data.n_interactions) == (22_363, 12_101, 198_502)
    sci = read_recbole(SHARED_DATA / "amazon-scientific")
    assert (sci.n_users, sci.n_items, sci.n_interactions) == (2_928, 1_585, 19_712) and len(sci.item_text) == 1_585


def test_leave_one_out_holds_out_the_last_two_items():
    data = SequenceDataset("t", [np.array([0, 1, 2, 3]), np.array([4, 5]), np.array([5, 4, 3])], 6)
    valid, test = leave_one_out(data)
    assert valid.users.tolist() == [0, 2], "users with fewer than 3 items are not evaluated"
    assert valid.targets.tolist() == [2, 4] and [h.tolist() for h in valid.histories] == [[0, 1], [5]]
    assert test.targets.tolist() == [3, 3] and [h.tolist() for h in test.histories] == [[0, 1, 2], [5, 4]]
    assert [h.tolist() for h in training_histories(data, valid)] == [[0, 1], [4, 5], [5]]


def test_ranks_exclude_history_and_break_ties_at_random():
    rng = np.random.default_rng(0)
    scores = np.array([[0.1, 0.9, 0.5, 0.2]])
    assert target_ranks(scores, np.array([2]), [np.array([1])], rng).tolist() == [0], "history item 1 does not count"
    assert target_ranks(scores, np.array([2]), [np.array([], dtype=int)], rng).tolist() == [1]
    assert target_ranks(scores, np.array([1]), [np.array([1])], rng).tolist() == [4], "a target in the history is a miss"
    tied = np.zeros((2000, 5))
    ranks = target_ranks(tied, np.zeros(2000, dtype=int), [np.array([], dtype=int)] * 2000, rng)
    assert set(ranks.tolist()) == {0, 1, 2, 3, 4} and abs(ranks.mean() - 2.0) < 0.15, "uniform over the tied places"


def test_metrics_from_ranks_by_hand():
    m = metrics_from_ranks(np.array([0, 1, 10, 25]), ks=(10, 20))
    assert m["HR@10"] == 0.5 and m["HR@20"] == 0.75
    assert m["NDCG@10"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert m["NDCG@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(12)) / 4)
    assert m["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 11 + 1 / 26) / 4)


HISTORIES = [np.array(h) for h in ([0, 1, 2], [0, 1, 3], [5, 0, 1], [4, 2], [4, 2, 3], [3, 4, 2])]


def test_recent_items_are_weighted_most_recent_first():
    m = recent_items_matrix([np.array([7, 8, 9])], 10, window=2, decay=0.5).toarray()[0]
    assert m[9] == 1.0 and m[8] == 0.5 and m[7] == 0.0


def test_transitions_predict_what_follows_the_last_item():
    t = Transitions().fit(HISTORIES, 6)
    scores = t.score(np.array([0]), [np.array([0])])[0]
    assert scores.argmax() == 1, "0 -> 1 in three histories"
    after_4 = t.score(np.array([0]), [np.array([4])])[0]
    assert after_4.argmax() == 2


def test_item_knn_scores_items_taken_together():
    knn = ItemKNN(window=1).fit(HISTORIES, 6)
    scores = knn.score(np.array([0]), [np.array([5])])[0]
    assert set(np.argsort(-scores)[:2].tolist()) == {0, 1}, "5 was only ever taken with 0 and 1"


def test_popularity_counts_and_recent_window():
    pop = Popularity().fit(HISTORIES, 6)
    assert pop.popularity.tolist() == [3, 3, 4, 3, 3, 1]
    last_only = Popularity(recent_window=1).fit(HISTORIES, 6)
    assert last_only.popularity.tolist() == [0, 1, 3, 2, 0, 0]


def test_matrix_factorisation_is_seeded():
    a = MatrixFactorisation("als", factors=4, iterations=3, seed=1).fit(HISTORIES, 6).score(np.array([0, 1]), HISTORIES[:2])
    b = MatrixFactorisation("als", factors=4, iterations=3, seed=1).fit(HISTORIES, 6).score(np.array([0, 1]), HISTORIES[:2])
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="unknown algorithm"):
        MatrixFactorisation("svd").fit(HISTORIES, 6)


def test_scaling_puts_each_users_best_at_one():
    s = scale_per_user(np.array([[2.0, 4.0, 0.0], [0.0, 0.0, 0.0]]))
    assert s[0].tolist() == [0.5, 1.0, 0.0] and s[1].tolist() == [0.0, 0.0, 0.0]


class _Noise(Popularity):
    def score(self, users, histories):
        return np.random.default_rng(len(histories)).random((len(histories), self.n_items)).astype(np.float32)


def test_blend_tuning_keeps_the_signal_and_never_scores_below_the_best_single_strategy():
    rng = np.random.default_rng(0)
    # a shop where item i is followed by item i+1: transitions know it, noise does not
    seqs = [np.arange(s, s + 5) % 40 for s in rng.integers(0, 40, 400)]
    data = SequenceDataset("chain", seqs, 40)
    valid, test = leave_one_out(data)
    hist = training_histories(data, valid)
    comps = {"transitions": Transitions().fit(hist, 40), "noise": _Noise(name="noise").fit(hist, 40)}
    weights, trace = tune_weights(comps, valid, sample=300)
    assert weights["transitions"] == 1.0 and weights["noise"] <= 0.1
    assert trace["validation_NDCG@10"] >= max(trace["single"].values())
    blend = Blend({"transitions": Transitions(), "noise": _Noise(name="noise")}, weights).fit(training_histories(data, test), 40)
    assert evaluate(blend, test)["HR@10"] > 0.9


def test_recommend_excludes_filters_and_explains():
    from ecom_assets.ml.recsys.top_k import recommend

    t = Transitions().fit(HISTORIES, 6)
    histories = [np.array([0]), np.array([4, 2])]
    top = recommend(t, np.array([0, 1]), histories, k=3, exclude=[np.array([0]), np.array([4, 2])],
                    blocked=np.array([False, False, False, True, False, False]), explainer=t.transitions, chunk_size=1)
    assert top.items[0, 0] == 1 and top.anchors[0, 0] == 0, "1 follows 0: 'because you viewed 0'"
    assert 3 not in top.items and 0 not in top.items[0], "blocked and excluded items never appear"
    assert (np.diff(top.scores, axis=1) <= 0).all()
    assert top.anchors[1, 0] in (2, -1)


def test_recommend_marks_slots_it_cannot_fill():
    from ecom_assets.ml.recsys.top_k import recommend

    pop = Popularity().fit(HISTORIES, 6)
    top = recommend(pop, np.array([0]), [np.array([0, 1, 2, 3])], k=4, exclude=[np.array([0, 1, 2, 3])])
    assert top.items[0].tolist()[:2] in ([4, 5],) and top.items[0].tolist()[2:] == [-1, -1]


def test_a_saved_blend_loads_back_and_scores_identically(tmp_path):
    from ecom_assets.ml.recsys.sasrec import SASRec, SASRecConfig

    blend = Blend({"t": Transitions(window=2), "k": ItemKNN(), "p": Popularity(),
                   "m": MatrixFactorisation("als", factors=4, iterations=2),
                   "s": SASRec(SASRecConfig(max_len=5, hidden=8, epochs=2, batch_size=4))},
                  {"t": 1.0, "k": 0.5, "p": 0.1, "m": 0.2, "s": 0.3})
    blend.fit(HISTORIES, 6)
    sha = blend.save(tmp_path / "model.npz", extras={"item_ids": np.array(["a", "b", "c", "d", "e", "f"], dtype=object)})
    loaded, extras = load_strategy(tmp_path / "model.npz", expected_sha256=sha)
    users = np.arange(3)
    np.testing.assert_allclose(loaded.score(users, HISTORIES[:3]), blend.score(users, HISTORIES[:3]), rtol=1e-6)
    assert extras["item_ids"].tolist() == ["a", "b", "c", "d", "e", "f"]
    with pytest.raises(ValueError, match="sha256 differs"):
        load_strategy(tmp_path / "model.npz", expected_sha256="0" * 64)


def test_temporal_split_takes_the_first_new_item_after_the_cutoff():
    import pandas as pd

    from ecom_assets.ml.recsys.temporal import encode_events, histories_before, window_split

    ev = pd.DataFrame({
        "user_id": ["a", "a", "a", "a", "b", "b", "c"],
        "item_id": ["x", "x", "y", "x", "y", "z", "q"],
        "event_time": pd.to_datetime(["2026-10-01 10:00", "2026-10-01 10:01", "2026-10-02", "2026-10-05",
                                      "2026-10-01", "2026-10-06", "2026-10-06"], format="ISO8601"),
    })
    enc = encode_events(ev, pd.Index(["a", "b", "c"]), pd.Index(["x", "y", "z"]))  # item q unknown: dropped
    hist = histories_before(enc, np.datetime64("2026-10-04"))
    assert [h.tolist() for h in hist] == [[0, 1], [1], []], "repeats collapsed, time-ordered"
    split, relevant = window_split(enc, hist, np.datetime64("2026-10-04"))
    assert split.users.tolist() == [1] and split.targets.tolist() == [2], "user a only re-took x"
    assert relevant == [{2}]
    empty, none = window_split(enc, hist, np.datetime64("2027-01-01"))
    assert len(empty.targets) == 0 and none == [], "a window without events is an empty split"


def test_blend_names_the_component_behind_each_recommendation():
    from ecom_assets.ml.recsys.top_k import recommend

    blend = Blend({"transitions": Transitions(), "popularity": Popularity()}, {"transitions": 1.0, "popularity": 0.5})
    blend.fit(HISTORIES, 6)
    top = recommend(blend, np.array([0]), [np.array([0])], k=3, exclude=[np.array([0])])
    names = [top.origin_names[o] for o in top.origins[0]]
    assert top.items[0, 0] == 1 and names[0] == "transitions"
    assert set(names) <= {"transitions", "popularity"}


def _chain_dataset(n_users=300, n_items=30, length=8, seed=0):
    rng = np.random.default_rng(seed)
    return SequenceDataset("chain", [(np.arange(s, s + length)) % n_items for s in rng.integers(0, n_items, n_users)], n_items)


def test_sasrec_learns_a_sequence_rule_and_is_seeded():
    from ecom_assets.ml.recsys.sasrec import SASRec, SASRecConfig

    data = _chain_dataset()
    valid, test = leave_one_out(data)
    cfg = SASRecConfig(max_len=10, hidden=32, epochs=15, batch_size=64, lr=5e-3, dropout=0.0, eval_every=5)
    model = SASRec(cfg).fit(training_histories(data, valid), data.n_items, validation=valid)
    assert evaluate(model, test)["HR@10"] > 0.9, "item i is always followed by i+1"
    assert model.best_validation_ndcg10 is not None and len(model.history) <= 15
    again = SASRec(cfg).fit(training_histories(data, valid), data.n_items, validation=valid)
    users = test.users[:5]
    np.testing.assert_allclose(model.score(users, test.histories[:5]), again.score(users, test.histories[:5]), rtol=1e-4, atol=1e-5)


def test_sasrec_stops_at_its_time_budget_and_scores_empty_histories():
    from ecom_assets.ml.recsys.sasrec import SASRec, SASRecConfig

    data = _chain_dataset()
    model = SASRec(SASRecConfig(max_len=10, hidden=16, epochs=1000, batch_size=64, max_seconds=0.5)).fit(data.sequences, data.n_items)
    assert len(model.history) < 1000 and model.history[-1]["seconds"] < 30
    scores = model.score(np.array([0, 1]), [np.array([], dtype=np.int64), np.array([3, 4])])
    assert scores.shape == (2, 30) and (scores[0] == 0).all()


def test_time_decayed_popularity_prefers_what_is_taken_now():
    day = np.timedelta64(86_400, "s")
    t0 = np.datetime64("2026-10-01T00:00:00")
    # item 0 was popular a month ago, item 1 this week
    histories = [np.array([0, 1]), np.array([0]), np.array([0]), np.array([1])]
    times = [np.array([t0, t0 + 30 * day]), np.array([t0]), np.array([t0 + day]), np.array([t0 + 29 * day])]
    plain = Popularity().fit(histories, 2)
    decayed = Popularity(half_life_days=7.0).fit(histories, 2, times=times)
    assert plain.popularity.argmax() == 0 and decayed.popularity.argmax() == 1
    assert decayed.popularity[1] == pytest.approx(1 + 0.5 ** (1 / 7))


@dataclass
class EchoLastItem(Strategy):
    """A candidate source from outside the package: recommends the last item again."""

    boost: float = 1.0
    name: str = "echo"
    fitted_attributes = ("n_items", "table")

    def fit(self, histories, n_items):
        self.n_items = n_items
        self.table = np.eye(n_items, dtype=np.float32) * self.boost
        return self

    def score(self, users, histories):
        return np.stack([self.table[h[-1]] if len(h) else np.zeros(self.n_items, np.float32) for h in histories])


def test_a_new_candidate_source_plugs_into_the_hybrid_and_the_model_file(tmp_path):
    """Any Strategy subclass joins the hybrid through the settings and saves and loads
    through the contract; a file naming a class outside the allowed packages is refused."""
    import pandas as pd

    from ecom_assets.ml.recsys.temporal import encode_events
    from ecom_assets.ml.recsys.training import ItemGroups, RecommenderSettings, train_and_evaluate

    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{(s + k) % 20}", pd.Timestamp("2026-10-01") + pd.Timedelta(hours=int(u + 7 * k)))
            for u, s in enumerate(rng.integers(0, 20, 80)) for k in range(6)]
    ev = encode_events(pd.DataFrame(rows, columns=["user_id", "item_id", "event_time"]),
                       pd.Index(sorted({r[0] for r in rows})), pd.Index(sorted({r[1] for r in rows})))
    groups = ItemGroups(np.zeros(ev.n_items, int), 1, np.zeros(ev.n_items, int), 1)
    result = train_and_evaluate(ev, np.datetime64("2026-10-02T12:00"), groups,
                                RecommenderSettings(valid_days=0.5, sasrec_seconds=0, extra_sources={"echo": EchoLastItem}))
    assert "echo" in result.model.components and "echo" in set(result.metrics["strategy"])
    sha = result.model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="is not under ecom_assets.ml."):
        load_strategy(tmp_path / "m.npz")
    loaded, _ = load_strategy(tmp_path / "m.npz", expected_sha256=sha, allowed_modules=("ecom_assets.", "ecom_assets_tests."))
    assert isinstance(loaded.components["echo"], EchoLastItem)
    users = np.arange(5)
    hist = [np.array([1, 2]), np.array([3]), np.array([4, 5, 6]), np.array([0]), np.array([7])]
    np.testing.assert_allclose(loaded.score(users, hist), result.model.score(users, hist), rtol=1e-6)


def test_text_similarity_recommends_items_that_read_alike_even_without_interactions(tmp_path):
    from ecom_assets.ml.recsys.text_similarity import EmbeddingSimilarity

    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.95, 0.05]], dtype=np.float32)  # item 4 never taken
    hist = [np.array([0, 2]), np.array([2, 3]), np.array([1])]
    text = EmbeddingSimilarity(window=1).with_embeddings(emb).fit(hist, 5)
    scores = text.score(np.array([0]), [np.array([0])])[0]
    assert set(np.argsort(-scores)[:3].tolist()) == {0, 4, 1}, "the cold-start item 4 reads like item 0"
    with pytest.raises(ValueError, match="one embedding per item"):
        EmbeddingSimilarity().fit(hist, 5)
    blend = Blend({"text": text}, {"text": 1.0})
    blend.n_items = 5
    sha = blend.save(tmp_path / "m.npz")
    loaded, _ = load_strategy(tmp_path / "m.npz", expected_sha256=sha)
    np.testing.assert_allclose(loaded.score(np.array([0]), [np.array([0])]), blend.score(np.array([0]), [np.array([0])]), rtol=1e-6)
