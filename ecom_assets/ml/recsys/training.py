"""Training and offline evaluation of the shop's recommender.

    train_and_evaluate(events, ...)
      1. tunes the hybrid's blend weights on the validation window just before the test
         cutoff, and trains the learning-to-rank stage on the window before that (every
         strategy refit on what came before it), stopping early on validation;
      2. scores every strategy, the blend and the ranker on the test window (next new
         item; all new items relevant), each fit only on what came before the cutoff;
      3. serves what does best on the newest data: the blend's weights and the ranker
         are tuned again on the newest window (from the test cutoff on) with the
         strategies fit before it; their NDCG@10 there is measured cross-fitted (tuned on
         half the window's users, scored on the other half, and back), and the better of
         the two serves unless it trails the best single strategy by more than
         `serve_tolerance`, when that strategy serves; the choice is refit on every event.
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
from ecom_assets.ml.recsys.ranker import ItemAttributes, LearnedRanker, RankerSettings, RankingWindow, SideFeatures, item_counts_of
from ecom_assets.ml.recsys.sequences import Split
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
    ranker: bool = True
    """Train the learning-to-rank stage (LightGBM lambdarank over the strategies' candidates)."""
    ranker_settings: RankerSettings = field(default_factory=RankerSettings)
    # Point-in-time user and item features as of a time (None: as of now, for serving), rows
    # aligned to the user and item index (the dbt marts *_as_of); None: the ranker uses only
    # what the events and the item attributes give.
    side_features: Callable[[np.datetime64 | None], SideFeatures] | None = field(default=None, repr=False)
    item_attributes: ItemAttributes | None = field(default=None, repr=False)
    serve_tolerance: float = 0.02
    """The blend or ranker serves only if its NDCG@10 on the newest window (cross-fitted) is at
    most this much (relative) below the best single strategy's; else that strategy serves."""
    item_knn_epsilon: float | None = None
    """Fit item-KNN on differentially private co-occurrence counts, spending this epsilon per
    fit (None: exact counts). Every fit's releases are collected in `private_fits`."""
    item_knn_max_items: int = 5
    """Distinct items per user counted by a private item-KNN fit (its contribution bound)."""
    item_knn_neighbour_pool: int | None = None
    """A private item-KNN links only to this many most-taken items (by the noisy counts; None: any item)."""
    private_fits: list = field(default_factory=list, repr=False)
    """The item-KNN strategies built with `item_knn_epsilon` (each fit's `privacy_releases`
    are what the training spent, for the ledger)."""


def make_components(s: RecommenderSettings, sasrec_epochs: int | None = None) -> dict[str, Strategy]:
    # Component settings as selected on Amazon Beauty's validation split (bench/recsys_quality.py).
    components: dict[str, Strategy] = {
        "transitions": Transitions(window=5, decay=0.3, skip=True),
        "item_knn": ItemKNN(window=5, decay=0.8, neighbours=200, dp_epsilon=s.item_knn_epsilon,
                            dp_max_items=s.item_knn_max_items, dp_neighbour_pool=s.item_knn_neighbour_pool),
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
    if s.item_knn_epsilon is not None:
        s.private_fits.append(components["item_knn"])
    return components


def privacy_releases(s: RecommenderSettings) -> list:
    """Every DP release the training's item-KNN fits made (empty without `item_knn_epsilon`)."""
    return [r for knn in s.private_fits for r in getattr(knn, "privacy_releases", [])]


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
    serving: dict = field(default_factory=dict)
    """What serves and why: the newest window's cross-fitted NDCG@10 of the re-tuned blend and
    ranker beside the best single strategy's, the choice and its reason."""
    ranker_trace: dict = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    """The ranker's gain per feature: the served one's, or the one evaluated on test when the
    ranker does not serve (empty without a ranker)."""
    test_lists: dict[str, np.ndarray] = field(default_factory=dict)
    """Each strategy's top k (item indices, -1 for an empty slot) for `test_users`, the
    users of the test window: what an online test of the strategies would show them (its
    top 10) and what the fairness report re-ranks."""
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


def _subset(split: Split, rows: np.ndarray) -> Split:
    return Split([split.histories[i] for i in rows], split.targets[rows], split.users[rows])


def list_ndcg(strategy: Strategy, split: Split, relevant: list[set], rows: np.ndarray | None = None, k: int = 10) -> float:
    """NDCG@k of `strategy`'s top-k lists (history excluded) against each user's relevant
    items: the test table's definition, on a subset of a window's users."""
    rows = np.arange(len(split.targets)) if rows is None else rows
    if not len(rows):
        return 0.0
    hist = [split.histories[i] for i in rows]
    top = recommend(strategy, split.users[rows], hist, k, exclude=hist)
    return ndcg_at_k(top.items, [relevant[i] for i in rows], k)


def _fit_components(s: RecommenderSettings, sasrec_epochs: int | None, histories, times, n_items: int) -> dict[str, Strategy]:
    return Blend(make_components(s, sasrec_epochs), {}).fit(histories, n_items, times=times).components


def _side(s: RecommenderSettings, as_of) -> SideFeatures | None:
    return s.side_features(as_of) if s.side_features is not None else None


def _ranker(s: RecommenderSettings, components: dict[str, Strategy], weights: dict[str, float],
            side: SideFeatures | None, counts: np.ndarray) -> LearnedRanker:
    ranker = LearnedRanker(components, weights, s.ranker_settings, attributes=s.item_attributes or ItemAttributes(),
                           side=side, item_counts=counts)
    ranker.n_items = len(counts)
    return ranker


def train_and_evaluate(ev: EncodedEvents, cutoff: np.datetime64, groups: ItemGroups,
                       settings: RecommenderSettings) -> TrainResult:
    # 1. Blend weights on the validation window (before the test cutoff).
    window = validation_window(ev, cutoff, settings.valid_days)
    hist_valid, times_valid, valid_split = window.histories, window.times, window.split
    sasrec_epochs = None
    comps = None
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

    # 1b. The ranker: trained on the window before validation (strategies refit on what came
    # before it, features as of its start), stopped early on validation.
    ranker, ranker_trace = None, {}
    if settings.ranker and comps is not None:
        earlier = validation_window(ev, window.start, settings.valid_days)
        if len(earlier.split.targets):
            comps_earlier = _fit_components(settings, sasrec_epochs, earlier.histories, earlier.times, ev.n_items)
            ranker = _ranker(settings, comps, weights, _side(settings, window.start), item_counts_of(hist_valid, ev.n_items))
            ranker_trace = ranker.train(
                RankingWindow(comps_earlier, earlier.split, earlier.relevant, _side(settings, earlier.start),
                              item_counts_of(earlier.histories, ev.n_items)),
                RankingWindow(comps, valid_split, window.relevant, ranker.side, ranker.item_counts))
            from ecom_assets.ml.recsys.evaluation import evaluate

            ranker_trace["validation_NDCG@10"] = float(evaluate(ranker, valid_split, ks=(10,), seed=settings.seed)["NDCG@10"])
        else:
            ranker_trace = {"skipped": "no user took a new item in the window before validation"}

    # 2. Every strategy on the test window, fit on what came before it.
    hist_test, times_test = histories_with_times(ev, cutoff)
    test_split, relevant = window_split(ev, hist_test, cutoff)
    popularity = np.bincount(np.concatenate([np.unique(h) for h in hist_test] or [np.empty(0, np.int64)]),
                             minlength=ev.n_items)
    hybrid = Blend(make_components(settings, sasrec_epochs), weights).fit(hist_test, ev.n_items, times=times_test)
    components = hybrid.components
    side_cutoff, counts_cutoff = _side(settings, cutoff), item_counts_of(hist_test, ev.n_items)
    ranker_at_cutoff = None
    if ranker is not None:
        ranker_at_cutoff = _ranker(settings, components, weights, side_cutoff, counts_cutoff)
        ranker_at_cutoff.booster_text, ranker_at_cutoff.feature_names = ranker.booster_text, ranker.feature_names
        ranker_at_cutoff.importance = ranker.importance
    baselines = {b.name: b.fit(hist_test, ev.n_items) for b in baseline_strategies(settings)}
    strategies = [*components.values(), *baselines.values(), hybrid, *([ranker_at_cutoff] if ranker_at_cutoff else [])]
    rows, test_lists = [], {}
    for strategy in strategies:
        if len(test_split.targets):
            top = recommend(strategy, test_split.users, test_split.histories, settings.k, exclude=test_split.histories)
            scores = evaluate_lists(top.items, relevant, groups, popularity, ev.n_users, ev.n_items)
            test_lists[strategy.name] = top.items
        else:
            scores = {}
        rows.append({"strategy": strategy.name, "evaluated_users": int(len(test_split.targets)), **scores})
    metrics = pd.DataFrame(rows)

    # 3. What serves: tuned again on the newest window (from the cutoff on), guarded against
    # the best single strategy there, then refit on every event.
    serving = choose_serving(settings, components, baselines, test_split, relevant, metrics, side_cutoff, counts_cutoff,
                             ranker_trace.get("rounds"))
    all_histories, all_times = histories_with_times(ev)
    kind = serving["serves"]
    if kind == "ranker":
        tuned = _ranker(settings, components, serving["weights"], side_cutoff, counts_cutoff)
        tuned.refit_booster(RankingWindow(components, test_split, relevant, side_cutoff, counts_cutoff), ranker_trace["rounds"])
        model = _ranker(settings, _fit_components(settings, sasrec_epochs, all_histories, all_times, ev.n_items),
                        serving["weights"], _side(settings, None), item_counts_of(all_histories, ev.n_items))
        model.booster_text, model.feature_names, model.importance = tuned.booster_text, tuned.feature_names, tuned.importance
        at_cutoff, served_weights = ranker_at_cutoff, serving["weights"]
        validation = {**validation, "NDCG@10": ranker_trace["validation_NDCG@10"]}
    elif kind == "hybrid":
        model = Blend(make_components(settings, sasrec_epochs), serving["weights"]).fit(all_histories, ev.n_items,
                                                                                      times=all_times)
        at_cutoff, served_weights = hybrid, serving["weights"]
    else:  # one strategy alone, as a one-part blend (explanations and attribution stay the same)
        fresh = {**make_components(settings, sasrec_epochs), **{b.name: b for b in baseline_strategies(settings)}}[kind]
        model = Blend({kind: fresh}, {kind: 1.0}).fit(all_histories, ev.n_items, times=all_times)
        cut = components.get(kind) or baselines[kind]
        at_cutoff, served_weights = Blend({kind: cut}, {kind: 1.0}), {kind: 1.0}
        at_cutoff.n_items = ev.n_items
        if comps is not None and kind in comps:
            from ecom_assets.ml.recsys.evaluation import evaluate

            validation = {**validation, "NDCG@10": float(evaluate(comps[kind], valid_split, ks=(10,), seed=settings.seed)["NDCG@10"])}
    return TrainResult(model, served_weights, validation, metrics, {**trace, "sasrec_epochs": sasrec_epochs},
                       at_cutoff=at_cutoff, test_lists=test_lists, test_users=np.asarray(test_split.users, dtype=np.int64),
                       serving=serving, ranker_trace=ranker_trace,
                       importance=(model.importance if isinstance(model, LearnedRanker)
                                   else ranker.importance if ranker is not None else {}))


def choose_serving(settings: RecommenderSettings, components: dict[str, Strategy], baselines: dict[str, Strategy],
                   split: Split, relevant: list[set], metrics: pd.DataFrame, side: SideFeatures | None,
                   counts: np.ndarray, rounds: int | None) -> dict:
    """Which model serves, judged on the newest window (`split`, from the test cutoff on,
    `components` fit before it). The blend's weights and the ranker's booster are tuned on
    half the window's users and scored on the other half, and back (2-fold cross-fitting, so
    that the figure is not flattered by tuning on the users it is scored on); the better of
    the two serves unless it trails the best single strategy's NDCG@10 on the window by more
    than `serve_tolerance`, when that strategy serves."""
    singles = metrics[~metrics["strategy"].isin(["hybrid", "ranker"])]
    if not len(split.targets) or "ndcg_10" not in metrics:
        return {"serves": "hybrid", "weights": dict(DEFAULT_WEIGHTS), "reason": "no test users: default weights"}
    best_single = singles.loc[singles["ndcg_10"].idxmax()]
    rng = np.random.default_rng(settings.seed)
    fold = rng.permutation(len(split.targets)) % 2
    n_items = len(counts)
    crossfit: dict[str, list[float]] = {"hybrid": [], **({"ranker": []} if rounds else {})}
    sizes = []
    for f in (0, 1):
        fit_rows, score_rows = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        sizes.append(len(score_rows))
        sub = _subset(split, fit_rows)
        w, _ = tune_weights(components, sub, sample=len(fit_rows), seed=settings.seed)
        blend = Blend(components, w)
        blend.n_items = n_items
        crossfit["hybrid"].append(list_ndcg(blend, split, relevant, score_rows))
        if rounds:
            r = _ranker(settings, components, w, side, counts)
            r.refit_booster(RankingWindow(components, sub, [relevant[i] for i in fit_rows], side, counts), rounds)
            crossfit["ranker"].append(list_ndcg(r, split, relevant, score_rows))
    figures = {k: float(np.average(v, weights=sizes)) for k, v in crossfit.items()}
    best = max(figures, key=figures.get)
    weights, _ = tune_weights(components, split, sample=len(split.targets), seed=settings.seed)
    floor = float(best_single["ndcg_10"]) * (1 - settings.serve_tolerance)
    out = {"newest_window_ndcg_10": {**{f"{k} (cross-fitted)": round(v, 4) for k, v in figures.items()},
                                     f"{best_single['strategy']} (best single)": round(float(best_single["ndcg_10"]), 4)},
           "weights": weights, "tolerance": settings.serve_tolerance}
    if figures[best] >= floor:
        reason = (f"{best} serves: NDCG@10 {figures[best]:.4f} on the newest window (cross-fitted), best single "
                  f"strategy {best_single['strategy']} {best_single['ndcg_10']:.4f}")
        return {**out, "serves": best, "reason": reason}
    reason = (f"{best_single['strategy']} serves alone: the {best}'s NDCG@10 on the newest window {figures[best]:.4f} "
              f"(cross-fitted) is more than {settings.serve_tolerance:.0%} below {best_single['strategy']}'s "
              f"{best_single['ndcg_10']:.4f}")
    return {**out, "serves": str(best_single["strategy"]), "weights": {str(best_single["strategy"]): 1.0}, "reason": reason}
