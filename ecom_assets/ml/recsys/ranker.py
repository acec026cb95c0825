"""Learning to rank over the strategies' candidates (LightGBM lambdarank).

    candidates      the union of each strategy's top `per_source` items (history excluded)
    features        per (user, candidate): each strategy's score (scaled per user), rank and
                    best raw score for the user (its confidence),
                    the plain blend's score, the item's popularity in the histories, the
                    user's history length; user x item affinities from item attributes
                    (share of the user's history in the item's category and brand, steps
                    since the user last took that category, the item's price band against
                    the user's mean band, same category or brand as the last item); and
                    point-in-time side features of the user and the item (the dbt marts
                    *_as_of), which must be taken as of the window's start
    training        one query per user of a labelled window, relevance 1 for the items the
                    user took new in it; trained on one window, early-stopped on a later
                    one (never the test window)

`LearnedRanker` keeps the fitted strategies, the booster (as LightGBM's text model, no
pickle) and the side features of the time it serves at, and scores every item: candidates
by the booster, every other item below them in blend order, so it can be evaluated under
the rank-all-items protocol like any other strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecom_assets.ml.recsys.blend import Blend, scale_per_user, zscore_per_user
from ecom_assets.ml.recsys.sequences import Split
from ecom_assets.ml.recsys.strategy import ALLOWED_MODULES, Strategy, build_strategy, split_prefix

NON_CANDIDATE_OFFSET = 1.0e4  # non-candidates score blend - this: always below every candidate


@dataclass
class ItemAttributes:
    """Integer codes per item (aligned to the item index), -1 where unknown; any may be None."""

    category: np.ndarray | None = None
    brand: np.ndarray | None = None
    price_band: np.ndarray | None = None

    def arrays(self) -> dict:
        return {k: v for k, v in (("category", self.category), ("brand", self.brand), ("price_band", self.price_band))
                if v is not None}


@dataclass
class SideFeatures:
    """Point-in-time features: rows aligned to the user and item index, NaN where unknown."""

    user: np.ndarray  # (n_users, f_u)
    item: np.ndarray  # (n_items, f_i)
    user_names: list[str]
    item_names: list[str]

    @staticmethod
    def empty(n_users: int, n_items: int) -> "SideFeatures":
        return SideFeatures(np.zeros((n_users, 0), np.float32), np.zeros((n_items, 0), np.float32), [], [])


@dataclass
class RankerSettings:
    per_source: int = 50
    """Candidates from each strategy (their union is re-ranked)."""
    max_train_users: int = 30_000
    """Queries sampled from the training window (those with a relevant candidate)."""
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    seed: int = 0
    grid: list[dict] = field(default_factory=lambda: [{"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50},
                                                      {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 100},
                                                      {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50}])
    """Tree shapes and step sizes tried; the one with the best validation NDCG@10 is kept."""


def _lgb_params(s: RankerSettings) -> dict:
    return {"objective": "lambdarank", "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1,
            "lambdarank_truncation_level": 20, "seed": s.seed, "deterministic": True, "force_col_wise": True,
            "verbose": -1, "num_threads": 0}


@dataclass
class RankingWindow:
    """A labelled window: strategies fit on what came before it, the users who took new
    items in it (their history before it and their first new item), all their new items,
    and the side features as of its start."""

    components: dict[str, Strategy]
    split: Split
    relevant: list[set] | None = None
    side: SideFeatures | None = None
    item_counts: np.ndarray | None = None  # item popularity in the histories the strategies were fit on


def item_counts_of(histories: list[np.ndarray], n_items: int) -> np.ndarray:
    items = np.concatenate([np.unique(h) for h in histories if len(h)] or [np.empty(0, np.int64)])
    return np.bincount(items, minlength=n_items).astype(np.float32)


def _union_rows(candidates: np.ndarray) -> np.ndarray:
    """Each row's distinct items, sorted, duplicates replaced by -1 (shape kept)."""
    out = np.sort(candidates, axis=1)
    dup = np.zeros_like(out, dtype=bool)
    dup[:, 1:] = out[:, 1:] == out[:, :-1]
    return np.where(dup, -1, out)


def _history_profile(histories: list[np.ndarray], codes: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user: the share of their history in each code (B, n_codes) and the steps since
    they last took that code (B, n_codes; len(history) + 1 where never)."""
    b = len(histories)
    share = np.zeros((b, n_codes), np.float32)
    since = np.full((b, n_codes), np.inf, np.float32)
    lengths = np.array([len(h) for h in histories])
    if lengths.sum():
        rows = np.repeat(np.arange(b), lengths)
        flat = np.concatenate([h for h in histories if len(h)])
        c = codes[flat]
        steps = np.concatenate([np.arange(n, 0, -1) for n in lengths if n]).astype(np.float32)  # 1 = the last item
        known = c >= 0
        np.add.at(share, (rows[known], c[known]), 1.0)
        share /= np.maximum(lengths, 1)[:, None]
        np.minimum.at(since, (rows[known], c[known]), steps[known])
    since = np.where(np.isinf(since), lengths[:, None] + 1.0, since)
    return share, since


@dataclass
class LearnedRanker(Strategy):
    """Candidates from `components`, re-ranked by a LightGBM lambdarank booster."""

    components: dict[str, Strategy]
    weights: dict[str, float]
    """The plain blend's weights: its score is a feature and orders the non-candidates."""
    settings: RankerSettings = field(default_factory=RankerSettings)
    name: str = "ranker"

    booster_text: str = ""
    feature_names: list[str] = field(default_factory=list)
    attributes: ItemAttributes = field(default_factory=ItemAttributes)
    side: SideFeatures | None = None
    item_counts: np.ndarray | None = None
    importance: dict[str, float] = field(default_factory=dict)
    """Gain per feature, summed over the booster's trees."""

    @property
    def uses_user_identity(self) -> bool:
        return any(c.uses_user_identity for c in self.components.values())

    # ----------------------------------------------------------------- features
    def _features(self, users: np.ndarray, histories: list[np.ndarray], components: dict[str, Strategy],
                  side: SideFeatures | None, item_counts: np.ndarray, contributions: bool = False):
        """(candidates (B, M) with -1 padding, features (B, M, F), blend scores (B, n_items),
        and with `contributions` each strategy's normalised contribution (B, n_items))."""
        n = self.settings.per_source
        b = len(histories)
        names = list(components)
        scaled, normalised, best_raw = {}, {}, {}
        for name in names:
            raw = components[name].score(users, histories)
            if contributions:
                normalised[name] = zscore_per_user(raw)
            # The user's best raw score: how sure the strategy is for this user at all (the
            # scaled score says only how an item compares with that best one).
            best_raw[name] = np.asarray(raw, np.float32).max(axis=1)
            scaled[name] = scale_per_user(raw)
        n_items = next(iter(scaled.values())).shape[1]
        blend = np.zeros((b, n_items), np.float32)
        for name, w in self.weights.items():
            if w and name in scaled:
                blend += w * scaled[name]
        seen_rows = np.repeat(np.arange(b), [len(h) for h in histories])
        seen_items = np.concatenate([h for h in histories if len(h)] or [np.empty(0, np.int64)])
        tops = {}
        for name in [*names, "blend"]:
            s = blend if name == "blend" else scaled[name]
            held = s[seen_rows, seen_items].copy()
            s[seen_rows, seen_items] = -np.inf
            k = min(n, n_items)
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(part, order, axis=1)
            tops[name] = np.where(np.isneginf(np.take_along_axis(s, top, axis=1)), -1, top)
            s[seen_rows, seen_items] = held
        cands = _union_rows(np.concatenate(list(tops.values()), axis=1))
        safe = np.maximum(cands, 0)

        def rank_in(top: np.ndarray) -> np.ndarray:  # 0-based position in a strategy's top, len(top) beyond it
            match = (top[:, :, None] == cands[:, None, :]) & (top[:, :, None] >= 0)
            return np.where(match.any(axis=1), match.argmax(axis=1), top.shape[1]).astype(np.float32)

        cols = []
        for name in names:
            cols += [np.take_along_axis(scaled[name], safe, axis=1), rank_in(tops[name]),
                     np.broadcast_to(best_raw[name][:, None], cands.shape)]
        cols += [np.take_along_axis(blend, safe, axis=1), rank_in(tops["blend"])]
        lengths = np.array([len(h) for h in histories], np.float32)
        cols += [np.log1p(item_counts[safe]), np.broadcast_to(np.log1p(lengths)[:, None], cands.shape)]
        last = np.array([h[-1] if len(h) else -1 for h in histories])
        for code_name in ("category", "brand"):
            codes = getattr(self.attributes, code_name)
            if codes is None:
                continue
            n_codes = int(codes.max()) + 1 if len(codes) and codes.max() >= 0 else 1
            share, since = _history_profile(histories, codes, n_codes)
            item_codes = codes[safe]
            known = item_codes >= 0
            ic = np.maximum(item_codes, 0)
            last_code = np.where(last >= 0, codes[np.maximum(last, 0)], -1)
            cols += [np.where(known, np.take_along_axis(share, ic, axis=1), np.nan),
                     np.where(known, np.take_along_axis(since, ic, axis=1), np.nan),
                     np.where(known, (item_codes == last_code[:, None]).astype(np.float32), np.nan)]
        if self.attributes.price_band is not None:
            band = self.attributes.price_band.astype(np.float32)
            band = np.where(band < 0, np.nan, band)
            user_band = np.array([np.nanmean(band[h]) if len(h) and not np.all(np.isnan(band[h])) else np.nan
                                  for h in histories], np.float32)
            cols.append(band[safe] - user_band[:, None])
        if side is not None and side.user.shape[1]:
            u = side.user[users]
            cols += [np.broadcast_to(u[:, j][:, None], cands.shape) for j in range(u.shape[1])]
        if side is not None and side.item.shape[1]:
            cols += [side.item[safe, j] for j in range(side.item.shape[1])]
        x = np.stack([np.asarray(c, np.float32) for c in cols], axis=2)
        x[cands < 0] = np.nan
        return cands, x, blend, normalised

    def _feature_names(self, side: SideFeatures | None) -> list[str]:
        out = []
        for name in self.components:
            out += [f"{name}_score", f"{name}_rank", f"{name}_user_best_raw"]
        out += ["blend_score", "blend_rank", "item_log_popularity", "user_log_history_length"]
        for code_name in ("category", "brand"):
            if getattr(self.attributes, code_name) is not None:
                out += [f"user_{code_name}_share", f"steps_since_{code_name}", f"same_{code_name}_as_last"]
        if self.attributes.price_band is not None:
            out.append("price_band_vs_user")
        if side is not None:
            out += [f"user_{c}" for c in side.user_names] + [f"item_{c}" for c in side.item_names]
        return out

    def _query_rows(self, window: RankingWindow, users: np.ndarray | None = None, batch: int = 1024):
        """Features, labels and query sizes of a window's users (those with a relevant
        candidate), and the share of targets among the candidates."""
        split = window.split
        rows = np.arange(len(split.targets)) if users is None else users
        relevant = window.relevant or [{int(t)} for t in split.targets]
        counts = window.item_counts if window.item_counts is not None else item_counts_of(
            split.histories, next(iter(window.components.values())).n_items)
        xs, ys, groups, found = [], [], [], 0
        for start in range(0, len(rows), batch):
            idx = rows[start:start + batch]
            hist = [split.histories[i] for i in idx]
            cands, x, _, _ = self._features(split.users[idx], hist, window.components, window.side, counts)
            for r, i in enumerate(idx):
                keep = cands[r] >= 0
                label = np.fromiter((c in relevant[i] for c in cands[r][keep]), bool, keep.sum())
                found += int(split.targets[i] in set(cands[r][keep].tolist()))
                if label.any():
                    xs.append(x[r][keep])
                    ys.append(label.astype(np.float32))
                    groups.append(int(keep.sum()))
        if not xs:
            return None, found / max(len(rows), 1)
        return (np.concatenate(xs), np.concatenate(ys), np.array(groups)), found / max(len(rows), 1)

    # ---------------------------------------------------------------- training
    def train(self, train: RankingWindow | list[RankingWindow], valid: RankingWindow, keep_queries: bool = False,
              log=lambda _: None) -> dict:
        """Fit the booster on the queries of `train` (one window, or several earlier ones
        stacked), stopping early on `valid`'s NDCG@10. Returns the trace (rounds, candidate
        recall, validation NDCG@10 of the queries). With `keep_queries` the queries are kept
        (memory) for `refit_on_validation`."""
        import lightgbm as lgb

        s = self.settings
        rng = np.random.default_rng(s.seed)
        windows = train if isinstance(train, list) else [train]
        parts, recalls = [], []
        for window in windows:
            n_train = len(window.split.targets)
            sample = np.sort(rng.choice(n_train, min(s.max_train_users, n_train), replace=False))
            rows, recall = self._query_rows(window, sample)
            recalls.append(recall)
            if rows is not None:
                parts.append(rows)
        train_rows = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                      np.concatenate([p[2] for p in parts])) if parts else None
        train_recall = float(np.mean(recalls)) if recalls else 0.0
        train = windows[0]
        valid_sample = np.sort(rng.choice(len(valid.split.targets), min(s.max_train_users, len(valid.split.targets)),
                                          replace=False))
        valid_rows, valid_recall = self._query_rows(valid, valid_sample)
        self.feature_names = self._feature_names(train.side)
        if train_rows is None or valid_rows is None:
            raise ValueError("no training or validation query has a relevant item among its candidates")
        dtrain = lgb.Dataset(train_rows[0], train_rows[1], group=train_rows[2], feature_name=self.feature_names,
                             free_raw_data=False)
        dvalid = lgb.Dataset(valid_rows[0], valid_rows[1], group=valid_rows[2], reference=dtrain)
        # The tree shape and step size are chosen among a few on validation (the early-stopping
        # queries), never on test.
        best, tried = None, []
        for shape in s.grid or [{}]:
            candidate = {**{"learning_rate": s.learning_rate, "num_leaves": s.num_leaves,
                            "min_data_in_leaf": s.min_data_in_leaf}, **shape}
            booster = lgb.train({**_lgb_params(s), **candidate, "metric": "ndcg", "eval_at": [10]}, dtrain,
                                num_boost_round=s.max_rounds, valid_sets=[dvalid], valid_names=["valid"],
                                callbacks=[lgb.early_stopping(s.early_stopping_rounds, verbose=False)])
            value = float(booster.best_score["valid"]["ndcg@10"])
            tried.append({**candidate, "rounds": int(booster.best_iteration), "valid_ndcg10_queries": round(value, 5)})
            if best is None or value > best[0]:
                best = (value, booster, candidate)
        value, booster, chosen = best
        s.learning_rate, s.num_leaves, s.min_data_in_leaf = chosen["learning_rate"], chosen["num_leaves"], chosen["min_data_in_leaf"]
        self._set_booster(booster)
        rounds = int(booster.best_iteration)
        self._queries = (train_rows, valid_rows, chosen, rounds) if keep_queries else None
        trace = {"rounds": rounds, "chosen": chosen, "tried": tried,
                 "train_windows": len(windows), "train_queries": len(train_rows[2]),
                 "valid_queries": len(valid_rows[2]), "train_rows": int(len(train_rows[1])),
                 "candidate_recall_train": round(train_recall, 4), "candidate_recall_valid": round(valid_recall, 4),
                 "valid_ndcg10_queries": value}
        log(f"ranker: {trace}")
        return trace

    def refit_on_validation(self) -> dict:
        """After `train`: fit the booster again on its training and validation queries
        together, for the rounds and with the tree shape validation chose, so the final
        model before a test learns from the newest labels too (the queries are reused, not
        rebuilt). Nothing is left to stop on: measure on validation before calling this."""
        import lightgbm as lgb

        if getattr(self, "_queries", None) is None:
            raise RuntimeError("refit_on_validation follows train(..., keep_queries=True)")
        train_rows, valid_rows, chosen, rounds = self._queries
        self._queries = None
        x, y, groups = (np.concatenate([train_rows[i], valid_rows[i]]) for i in range(3))
        booster = lgb.train({**_lgb_params(self.settings), **chosen},
                            lgb.Dataset(x, y, group=groups, feature_name=self.feature_names), num_boost_round=max(rounds, 1))
        self._set_booster(booster)
        return {"rounds": rounds, "queries": int(len(groups))}

    def refit_booster(self, windows: RankingWindow | list[RankingWindow], rounds: int) -> dict:
        """Fit the booster again on `windows` (one, or several stacked) for a fixed number of
        rounds, with the tree shape chosen by `train`'s early stopping on an earlier pair:
        how serving, and the final model before a test, learn from the newest labels too."""
        import lightgbm as lgb

        s = self.settings
        rng = np.random.default_rng(s.seed)
        windows = windows if isinstance(windows, list) else [windows]
        parts, recalls = [], []
        for window in windows:
            n = len(window.split.targets)
            rows, recall = self._query_rows(window, np.sort(rng.choice(n, min(s.max_train_users, n), replace=False)))
            recalls.append(recall)
            if rows is not None:
                parts.append(rows)
        if not parts:
            raise ValueError("no query of the windows has a relevant item among its candidates")
        x, y, groups = (np.concatenate([p[i] for p in parts]) for i in range(3))
        self.feature_names = self._feature_names(windows[0].side)
        params = {**_lgb_params(s), "learning_rate": s.learning_rate, "num_leaves": s.num_leaves,
                  "min_data_in_leaf": s.min_data_in_leaf}
        booster = lgb.train(params, lgb.Dataset(x, y, group=groups, feature_name=self.feature_names),
                            num_boost_round=max(int(rounds), 1))
        self._set_booster(booster)
        return {"rounds": int(rounds), "windows": len(windows), "queries": int(len(groups)),
                "candidate_recall": round(float(np.mean(recalls)), 4)}

    def _set_booster(self, booster) -> None:
        self.booster_text = booster.model_to_string(num_iteration=booster.best_iteration or None)
        gains = booster.feature_importance(importance_type="gain", iteration=booster.best_iteration or None)
        self.importance = {n: float(g) for n, g in zip(self.feature_names, gains)}
        self._booster = booster

    @property
    def booster(self):
        if getattr(self, "_booster", None) is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.booster_text)
        return self._booster

    def source_shares(self) -> dict[str, float]:
        """Each strategy's share of the booster's gain over its own features (score, rank, confidence)."""
        gains = {n: sum(self.importance.get(f"{n}_{part}", 0.0) for part in ("score", "rank", "user_best_raw"))
                 for n in self.components}
        total = sum(gains.values())
        return {n: (g / total if total > 0 else 1.0 / len(gains)) for n, g in gains.items()}

    # ---------------------------------------------------------- the Strategy contract
    def fit(self, histories, n_items, times=None):
        """Refit the strategies on `histories` (the booster is kept; see `train`)."""
        Blend(self.components, self.weights).fit(histories, n_items, times=times)
        self.n_items = n_items
        self.item_counts = item_counts_of(histories, n_items)
        return self

    @property
    def attribution_names(self) -> list[str]:
        return list(self.components)

    def score_and_attribution(self, users, histories) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        counts = self.item_counts if self.item_counts is not None else np.zeros(self.n_items, np.float32)
        cands, x, blend, contributions = self._features(users, histories, self.components, self.side, counts,
                                                        contributions=True)
        shares = self.source_shares()
        return self._predict(cands, x, blend), {n: shares[n] * c for n, c in contributions.items()}

    def score(self, users, histories):
        counts = self.item_counts if self.item_counts is not None else np.zeros(self.n_items, np.float32)
        cands, x, blend, _ = self._features(users, histories, self.components, self.side, counts)
        return self._predict(cands, x, blend)

    def explain(self, users, histories, items: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The booster's SHAP contributions (LightGBM `pred_contrib`, TreeSHAP: they add up
        to the item's score, with the expected score as "bias") for `items` (B, k; -1 for
        none). An item outside the ranker's candidates is scored by the blend alone: its
        row credits "blend_score" with everything. Returns (B, k, features + 1), names."""
        counts = self.item_counts if self.item_counts is not None else np.zeros(self.n_items, np.float32)
        cands, x, blend, _ = self._features(users, histories, self.components, self.side, counts)
        names = [*self.feature_names, "bias"]
        out = np.zeros((*items.shape, len(names)), np.float32)
        match = (cands[:, :, None] == items[:, None, :]) & (items[:, None, :] >= 0)
        found, column = match.any(axis=1), match.argmax(axis=1)
        if found.any():
            rows = x[np.nonzero(found)[0], column[found]]
            out[found] = self.booster.predict(rows, pred_contrib=True, num_threads=0).astype(np.float32)
        outside = ~found & (items >= 0)
        if outside.any():
            out[outside, names.index("blend_score")] = np.take_along_axis(blend, np.maximum(items, 0), axis=1)[outside]
        return out, names

    def _predict(self, cands: np.ndarray, x: np.ndarray, blend: np.ndarray) -> np.ndarray:
        out = blend - NON_CANDIDATE_OFFSET
        keep = cands >= 0
        if keep.any():
            out[np.nonzero(keep)[0], cands[keep]] = self.booster.predict(x[keep], num_threads=0).astype(np.float32)
        return out

    def get_params(self) -> dict:
        return {"components": {n: c.describe() for n, c in self.components.items()}, "weights": self.weights,
                "settings": vars(self.settings), "name": self.name, "feature_names": self.feature_names,
                "importance": self.importance, "side_user_names": self.side.user_names if self.side else [],
                "side_item_names": self.side.item_names if self.side else []}

    def state_arrays(self) -> dict:
        arrays = {f"{n}/{k}": v for n, c in self.components.items() for k, v in c.state_arrays().items()}
        arrays["booster_text"] = np.array(self.booster_text)
        arrays["item_counts"] = self.item_counts
        arrays.update({f"attribute/{k}": v for k, v in self.attributes.arrays().items()})
        if self.side is not None:
            arrays["side/user"], arrays["side/item"] = self.side.user, self.side.item
        return arrays

    @classmethod
    def from_state(cls, params: dict, state: dict, allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> "LearnedRanker":
        components = {n: build_strategy(d, split_prefix(state, f"{n}/"), allowed_modules)
                      for n, d in params["components"].items()}
        attributes = ItemAttributes(**split_prefix(state, "attribute/"))
        side = None
        if "side/user" in state:
            side = SideFeatures(state["side/user"], state["side/item"], params["side_user_names"], params["side_item_names"])
        ranker = cls(components, params["weights"], RankerSettings(**params["settings"]), params["name"],
                     str(state["booster_text"]), params["feature_names"], attributes, side, state.get("item_counts"),
                     params.get("importance", {}))
        ranker.n_items = next(iter(components.values())).n_items
        return ranker

