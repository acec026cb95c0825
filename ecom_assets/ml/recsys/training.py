"""Training and offline evaluation of the shop's recommender.

    train_and_evaluate(events, ...)  tunes the hybrid's weights on a validation window
        just before the test cutoff, scores every strategy on the test window (next new
        item; all new items relevant), and refits the hybrid on all events for serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ecom_assets.ml.recsys.blend import Blend, tune_weights
from ecom_assets.ml.recsys.candidates import ItemKNN, MatrixFactorisation, Popularity, Strategy, Transitions
from ecom_assets.ml.recsys.metrics import (
    catalogue_coverage,
    exposure_gini,
    hit_rate_at_k,
    intra_list_diversity,
    map_at_k,
    ndcg_at_k,
    novelty,
    popularity_bias,
    recall_at_k,
)
from ecom_assets.ml.recsys.temporal import EncodedEvents, encode_events, histories_with_times, validation_window, window_split
from ecom_assets.ml.recsys.top_k import recommend

# Used when the validation window holds no user with a new item (a tiny or new shop).
DEFAULT_WEIGHTS = {"transitions": 1.0, "item_knn": 0.5, "popularity": 0.1, "als": 0.35, "sasrec": 0.5, "text": 0.5}


@dataclass
class RecommenderSettings:
    k: int = 20
    valid_days: float = 3.0
    seed: int = 0
    als_factors: int = 32
    als_iterations: int = 15
    sasrec_seconds: float = 60.0  # training budget per SASRec fit; 0 leaves SASRec out
    sasrec_epochs: int = 40
    popularity_half_life_days: float = 7.0
    # One product text embedding per item (rows aligned with the item index): adds the
    # text-similarity strategy, which also reaches items nobody has interacted with yet.
    item_embeddings: np.ndarray | None = field(default=None, repr=False)
    # Candidate sources beyond the built-in ones: name -> factory of an unfitted Strategy.
    # Each joins the hybrid, is tuned on validation with the rest and evaluated beside
    # them; it saves and loads through the Strategy contract like every other.
    extra_sources: dict[str, Callable[[], Strategy]] = field(default_factory=dict, repr=False)


def make_components(s: RecommenderSettings, sasrec_epochs: int | None = None) -> dict[str, Strategy]:
    # Component settings as selected on Amazon Beauty's validation split (bench/recsys_quality.py).
    components: dict[str, Strategy] = {
        "transitions": Transitions(window=5, decay=0.3, skip=True),
        "item_knn": ItemKNN(window=5, decay=0.8, neighbours=200),
        "popularity": Popularity(half_life_days=s.popularity_half_life_days),
        "als": MatrixFactorisation("als", factors=s.als_factors, iterations=s.als_iterations, seed=s.seed),
    }
    if s.sasrec_seconds > 0:
        from ecom_assets.ml.recsys.sasrec import SASRec, SASRecConfig  # torch loads only when SASRec is used

        components["sasrec"] = SASRec(SASRecConfig(epochs=sasrec_epochs or s.sasrec_epochs, max_seconds=s.sasrec_seconds,
                                                   eval_every=1, patience=3, seed=s.seed))
    if s.item_embeddings is not None:
        from ecom_assets.ml.recsys.text_similarity import EmbeddingSimilarity

        components["text"] = EmbeddingSimilarity().with_embeddings(s.item_embeddings)
    components.update({name: factory() for name, factory in s.extra_sources.items()})
    return components


def baseline_strategies(s: RecommenderSettings) -> list[Strategy]:
    """Single strategies evaluated beside the hybrid's components."""
    # BPR settings chosen on the demo shop's validation window (lr 0.01, reg 0.01, 16
    # factors, 100 iterations: validation NDCG@10 0.105 vs popularity 0.085); more
    # iterations or factors overfit there.
    return [
        MatrixFactorisation("bpr", factors=16, iterations=100, learning_rate=0.01, regularization=0.01, seed=s.seed),
    ]


@dataclass
class ItemGroups:
    """Integer codes per item for beyond-accuracy metrics."""

    category: np.ndarray
    n_categories: int
    brand: np.ndarray
    n_brands: int


@dataclass
class TrainResult:
    model: Blend
    weights: dict[str, float]
    validation: dict  # NDCG@10, users, start (of the validation window)
    metrics: pd.DataFrame
    tuning: dict = field(default_factory=dict)
    at_cutoff: Blend | None = None
    """The same hybrid fit only on what came before the test cutoff: it has seen nothing
    later, so a later training can score it on its own validation window (the gate)."""
    test_lists: dict[str, np.ndarray] = field(default_factory=dict)
    """Each strategy's top 10 (item indices, -1 for an empty slot) for `test_users`, the
    users of the test window: what an online test of the strategies would show them."""
    test_users: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def evaluate_lists(items: np.ndarray, relevant: list[set], groups: ItemGroups, popularity: np.ndarray,
                   n_users: int, n_items: int) -> dict[str, float]:
    out = {}
    for k in (10, 20):
        out[f"hr_{k}"] = hit_rate_at_k(items, relevant, k)
        out[f"recall_{k}"] = recall_at_k(items, relevant, k)
        out[f"ndcg_{k}"] = ndcg_at_k(items, relevant, k)
        out[f"map_{k}"] = map_at_k(items, relevant, k)
    top10 = items[:, :10]
    out.update(
        coverage=catalogue_coverage(top10, n_items),
        diversity=intra_list_diversity(top10, groups.category),
        novelty=novelty(top10, popularity, n_users),
        popularity_bias=popularity_bias(top10, popularity),
        category_gini=exposure_gini(top10, groups.category, groups.n_categories),
        brand_gini=exposure_gini(top10, groups.brand, groups.n_brands),
    )
    return out


def validation_ndcg(model: Strategy, ev: EncodedEvents, cutoff: np.datetime64, valid_days: float,
                    seed: int = 0) -> tuple[float, int]:
    """(NDCG@10, users) of a fitted model on the validation window before `cutoff`, the
    window and protocol `train_and_evaluate` tunes and gates on (history excluded): how a
    model trained earlier would have done on this training's validation data. Meaningful
    only for a model that saw nothing from that window (e.g. `TrainResult.at_cutoff` of an
    earlier training, never its serving model, which is refit on every event)."""
    from ecom_assets.ml.recsys.evaluation import evaluate

    split = validation_window(ev, cutoff, valid_days).split
    if not len(split.targets):
        return 0.0, 0
    return float(evaluate(model, split, ks=(10,), seed=seed)["NDCG@10"]), int(len(split.targets))


def train_recommender(events: pd.DataFrame, users: pd.Index, catalogue: pd.DataFrame, cutoff,
                      settings: RecommenderSettings) -> TrainResult:
    """The shop's frames in (positive events; users; catalogue with item_id, category_l2,
    brand, in item order), a trained and evaluated hybrid out."""
    items = pd.Index(catalogue["item_id"])
    category, categories = pd.factorize(catalogue["category_l2"].fillna("Unknown"))
    brand, brands = pd.factorize(catalogue["brand"].fillna("Unknown"))
    return train_and_evaluate(encode_events(events, users, items), np.datetime64(cutoff),
                              ItemGroups(category, len(categories), brand, len(brands)), settings)


def score_saved_model(path, expected_sha256: str | None, events: pd.DataFrame, cutoff, valid_days: float,
                      seed: int = 0) -> float:
    """Validation NDCG@10 of a saved model on the validation window before `cutoff`, on
    the users and items it was fit on (the ids saved beside it)."""
    from ecom_assets.ml.recsys.strategy import load_strategy

    model, extras = load_strategy(path, expected_sha256)
    ev = encode_events(events, pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"]))
    return validation_ndcg(model, ev, np.datetime64(cutoff), valid_days, seed)[0]


def train_and_evaluate(ev: EncodedEvents, cutoff: np.datetime64, groups: ItemGroups,
                       settings: RecommenderSettings) -> TrainResult:
    # 1. Blend weights on the validation window (before the test cutoff).
    window = validation_window(ev, cutoff, settings.valid_days)
    hist_valid, times_valid, valid_split = window.histories, window.times, window.split
    sasrec_epochs = None
    if len(valid_split.targets):
        comps = make_components(settings)
        for name, c in comps.items():
            if getattr(c, "supports_early_stopping", False):  # SASRec: stop on the validation window
                c.fit(hist_valid, ev.n_items, validation=valid_split)
                sasrec_epochs = c.best_epoch
            elif isinstance(c, Popularity):
                c.fit(hist_valid, ev.n_items, times=times_valid)
            else:
                c.fit(hist_valid, ev.n_items)
        weights, trace = tune_weights(comps, valid_split, sample=len(valid_split.targets), seed=settings.seed)
        validation = {"NDCG@10": trace["validation_NDCG@10"], "users": int(len(valid_split.targets)), "start": window.start}
    else:
        present = make_components(settings)
        weights, trace = {k: v for k, v in DEFAULT_WEIGHTS.items() if k in present}, {}
        validation = {"NDCG@10": 0.0, "users": 0, "start": window.start}

    # 2. Every strategy on the test window, fit on what came before it.
    hist_test, times_test = histories_with_times(ev, cutoff)
    test_split, relevant = window_split(ev, hist_test, cutoff)
    popularity = np.bincount(np.concatenate([np.unique(h) for h in hist_test] or [np.empty(0, np.int64)]),
                             minlength=ev.n_items)
    hybrid = Blend(make_components(settings, sasrec_epochs), weights).fit(hist_test, ev.n_items, times=times_test)
    components = hybrid.components
    strategies = [*components.values(), *(b.fit(hist_test, ev.n_items) for b in baseline_strategies(settings)), hybrid]
    rows, test_lists = [], {}
    for strategy in strategies:
        if len(test_split.targets):
            top = recommend(strategy, test_split.users, test_split.histories, settings.k, exclude=test_split.histories)
            scores = evaluate_lists(top.items, relevant, groups, popularity, ev.n_users, ev.n_items)
            test_lists[strategy.name] = top.items[:, :10]
        else:
            scores = {}
        rows.append({"strategy": strategy.name, "evaluated_users": int(len(test_split.targets)), **scores})
    metrics = pd.DataFrame(rows)

    # 3. The serving model: the hybrid refit on everything.
    all_histories, all_times = histories_with_times(ev)
    model = Blend(make_components(settings, sasrec_epochs), weights).fit(all_histories, ev.n_items, times=all_times)
    return TrainResult(model, weights, validation, metrics, {**trace, "sasrec_epochs": sasrec_epochs}, at_cutoff=hybrid,
                       test_lists=test_lists, test_users=np.asarray(test_split.users, dtype=np.int64))
