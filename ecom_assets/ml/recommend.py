"""Training, offline evaluation and explanation of the shop's recommender.

    train_and_evaluate(events, ...)  tunes the hybrid's weights on a validation window
        just before the test cutoff, scores every strategy on the test window (next new
        item; all new items relevant), and refits the hybrid on all events for serving.
    reason_texts(...)                turns reason anchors into sentences a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ecom_assets.ml.blend import Blend, tune_weights
from ecom_assets.ml.candidates import ItemKNN, MatrixFactorisation, Popularity, Strategy, Transitions
from ecom_assets.ml.metrics import (catalogue_coverage, exposure_gini, hit_rate_at_k, intra_list_diversity, map_at_k,
                                    ndcg_at_k, novelty, popularity_bias, recall_at_k)
from ecom_assets.ml.serving import recommend
from ecom_assets.ml.temporal import EncodedEvents, histories_with_times, window_split

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


# Candidate sources beyond the built-in ones (e.g. text-embedding similarity): name ->
# factory. Each joins the hybrid, is tuned on validation with the rest and evaluated
# beside them; make it savable with model_io.register_strategy.
EXTRA_COMPONENTS: dict[str, Callable[[RecommenderSettings], Strategy]] = {}


def register_candidate_source(name: str, factory: Callable[[RecommenderSettings], Strategy]) -> None:
    EXTRA_COMPONENTS[name] = factory


def make_components(s: RecommenderSettings, sasrec_epochs: int | None = None) -> dict[str, Strategy]:
    # Component settings as selected on Amazon Beauty's validation split (bench/recsys_quality.py).
    components: dict[str, Strategy] = {
        "transitions": Transitions(window=5, decay=0.3, skip=True),
        "item_knn": ItemKNN(window=5, decay=0.8, neighbours=200),
        "popularity": Popularity(half_life_days=s.popularity_half_life_days),
        "als": MatrixFactorisation("als", factors=s.als_factors, iterations=s.als_iterations, seed=s.seed),
    }
    if s.sasrec_seconds > 0:
        from ecom_assets.ml.sasrec import SASRec, SASRecConfig  # torch loads only when SASRec is used

        components["sasrec"] = SASRec(SASRecConfig(epochs=sasrec_epochs or s.sasrec_epochs, max_seconds=s.sasrec_seconds,
                                                   eval_every=1, patience=3, seed=s.seed))
    if s.item_embeddings is not None:
        from ecom_assets.ml.text_strategy import EmbeddingSimilarity

        components["text"] = EmbeddingSimilarity().with_embeddings(s.item_embeddings)
    components.update({name: factory(s) for name, factory in EXTRA_COMPONENTS.items()})
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
    validation: dict[str, float]
    metrics: pd.DataFrame
    tuning: dict = field(default_factory=dict)
    at_cutoff: Blend | None = None
    """The same hybrid fit only on what came before the test cutoff: it has seen nothing
    later, so a later training can score it on its own validation window (the gate)."""


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
    from ecom_assets.ml.evaluation import evaluate

    valid_start = cutoff - np.timedelta64(int(valid_days * 86_400), "s")
    histories, _ = histories_with_times(ev, valid_start)
    split, _ = window_split(ev, histories, valid_start, cutoff)
    if not len(split.targets):
        return 0.0, 0
    return float(evaluate(model, split, ks=(10,), seed=seed)["NDCG@10"]), int(len(split.targets))


def train_and_evaluate(ev: EncodedEvents, cutoff: np.datetime64, groups: ItemGroups,
                       settings: RecommenderSettings) -> TrainResult:
    valid_start = cutoff - np.timedelta64(int(settings.valid_days * 86_400), "s")

    # 1. Blend weights on the validation window (before the test cutoff).
    hist_valid, times_valid = histories_with_times(ev, valid_start)
    valid_split, _ = window_split(ev, hist_valid, valid_start, cutoff)
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
        validation = {"NDCG@10": trace["validation_NDCG@10"], "users": int(len(valid_split.targets))}
    else:
        present = make_components(settings)
        weights, trace = {k: v for k, v in DEFAULT_WEIGHTS.items() if k in present}, {}
        validation = {"NDCG@10": 0.0, "users": 0}

    # 2. Every strategy on the test window, fit on what came before it.
    hist_test, times_test = histories_with_times(ev, cutoff)
    test_split, relevant = window_split(ev, hist_test, cutoff)
    popularity = np.bincount(np.concatenate([np.unique(h) for h in hist_test] or [np.empty(0, np.int64)]),
                             minlength=ev.n_items)
    hybrid = Blend(make_components(settings, sasrec_epochs), weights).fit(hist_test, ev.n_items, times=times_test)
    components = hybrid.components
    strategies = [*components.values(), *(b.fit(hist_test, ev.n_items) for b in baseline_strategies(settings)), hybrid]
    rows = []
    for strategy in strategies:
        if len(test_split.targets):
            top = recommend(strategy, test_split.users, test_split.histories, settings.k, exclude=test_split.histories)
            scores = evaluate_lists(top.items, relevant, groups, popularity, ev.n_users, ev.n_items)
        else:
            scores = {}
        rows.append({"strategy": strategy.name, "evaluated_users": int(len(test_split.targets)), **scores})
    metrics = pd.DataFrame(rows)

    # 3. The serving model: the hybrid refit on everything.
    all_histories, all_times = histories_with_times(ev)
    model = Blend(make_components(settings, sasrec_epochs), weights).fit(all_histories, ev.n_items, times=all_times)
    return TrainResult(model, weights, validation, metrics, {**trace, "sasrec_epochs": sasrec_epochs}, at_cutoff=hybrid)


def explanation_links(model: Blend, text_neighbours: int = 20):
    """Item x item link strength used to anchor reasons: co-interaction similarity,
    transitions scaled to [0, 1] and each item's nearest text neighbours, from whichever
    of them the model has."""
    parts = []
    if "text" in model.components:
        from ecom_assets.ml.ann import NeighbourIndex

        e = model.components["text"].item_embeddings
        scores, ids = NeighbourIndex().build(e).search(e, min(text_neighbours, len(e) - 1), exclude_self=True)
        rows = np.repeat(np.arange(len(e)), ids.shape[1])
        ok = (ids.ravel() >= 0) & (scores.ravel() > 0)
        parts.append(sp.csr_matrix((scores.ravel()[ok], (rows[ok], ids.ravel()[ok])), shape=(len(e), len(e))))
    if "item_knn" in model.components:
        parts.append(model.components["item_knn"].similarity)
    if "transitions" in model.components:
        t = model.components["transitions"].transitions
        parts.append(t / max(t.max(), 1.0))
    if not parts:
        return None
    links = parts[0]
    for extra in parts[1:]:
        links = links + extra
    return links.tocsr()


def reason_texts(top_items: np.ndarray, anchors: np.ndarray, origins: np.ndarray, origin_names: list[str],
                 bought: list[set], titles: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """One sentence per recommended slot: 'similar to X' when text similarity put it there,
    'often bought with X' when the anchor was bought, 'because you viewed X' when it was
    viewed, else 'popular in <category>'."""
    out = np.empty(top_items.shape, dtype=object)
    for r in range(top_items.shape[0]):
        for c in range(top_items.shape[1]):
            item, anchor = top_items[r, c], anchors[r, c]
            if item < 0:
                out[r, c] = None
            elif anchor >= 0 and origin_names[origins[r, c]] != "popularity":
                if origin_names[origins[r, c]] == "text":
                    verb = "similar to"
                else:
                    verb = "often bought with" if anchor in bought[r] else "because you viewed"
                title = str(titles[anchor])
                out[r, c] = f"{verb} {title if len(title) <= 80 else title[:79] + '…'}"
            else:
                out[r, c] = f"popular in {categories[item]}"
    return out
