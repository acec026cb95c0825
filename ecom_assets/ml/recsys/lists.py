"""Served recommendation lists: a fitted model, the shop's events and its catalogue in,
one row per (user, rank) out, with the strategy behind each item and a reason.

Items a user must not get again (bought, or anything seen with exclude="seen") and
items nobody may get (`offerable` false: hidden or out of stock) are filtered before the
top K is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ecom_assets.ml.common.parallel import LocalRunner, Runner, cached_per_process, shard_bounds
from ecom_assets.ml.recsys.explanations import (
    contribution_texts,
    explanation_links,
    reason_texts,
    score_contributions,
    strategy_shares,
)
from ecom_assets.ml.recsys.strategy import Strategy, load_strategy
from ecom_assets.ml.recsys.temporal import encode_events, histories_before
from ecom_assets.ml.recsys.top_k import TopK, recommend

# Users per shard when scoring runs on a cluster: a multiple of the chunks `recommend`
# (1,024) and `score_contributions` (512) score at a time, so a shard computes exactly
# what the single-process path computes for the same users.
SHARD_USERS = 8192
SHARD_ALIGN = 1024


@dataclass(frozen=True)
class StrategyFile:
    """A fitted model by path and hash: what a worker process loads (once) to score its
    shard; the model itself never travels between processes."""

    path: str
    sha256: str | None = None


def _load_for_scoring(path: str, sha256: str | None):
    model, _ = load_strategy(Path(path), expected_sha256=sha256)
    return model, explanation_links(model)


_cached_for_scoring = cached_per_process(_load_for_scoring)


def _score_shard(shard, source, blocked: np.ndarray, k: int):
    """Top k and the score contributions of one contiguous run of users."""
    start, histories, excluded = shard
    model, links = _cached_for_scoring(source.path, source.sha256) if isinstance(source, StrategyFile) else source
    users = np.arange(start, start + len(histories))
    top = recommend(model, users, histories, k, exclude=excluded, blocked=blocked, explainer=links)
    return top, score_contributions(model, users, histories, top.items)


def _joined(parts: list) -> tuple[TopK, tuple[np.ndarray, list[str]] | None]:
    tops = [top for top, _ in parts]
    top = TopK(*(np.concatenate([getattr(t, f) for t in tops]) for f in ("users", "items", "scores", "anchors", "origins")),
               tops[0].origin_names)
    explained = [e for _, e in parts]
    if any(e is None for e in explained):
        return top, None
    return top, (np.concatenate([values for values, _ in explained]), explained[0][1])


def recommendation_lists(model: Strategy, users: pd.Index, items: pd.Index, events: pd.DataFrame,
                         catalogue: pd.DataFrame, k: int, exclude: Literal["bought", "seen"] = "bought",
                         runner: Runner | None = None, model_file: StrategyFile | None = None) -> pd.DataFrame:
    """events: user_id, item_id, event_time, event_type (positive events); catalogue:
    item_id, title_en, category_l2, is_offerable. `users` and `items` are the index the
    model was fit on (saved beside it). With a `runner` other than the local one the users
    are scored in shards of SHARD_USERS as its tasks, each loading `model_file` (the file
    `model` was read from) once per worker; the lists are the same."""
    histories = histories_before(encode_events(events, users, items))
    bought_events = events[events["event_type"] == "purchase"]
    bought = [set(h.tolist()) for h in histories_before(encode_events(bought_events, users, items))]
    excluded = [np.fromiter(b, dtype=np.int64) for b in bought] if exclude == "bought" else histories
    catalogue = catalogue.set_index("item_id").reindex(items)
    blocked = ~catalogue["is_offerable"].fillna(True).astype(bool).to_numpy()
    runner = runner or LocalRunner()
    if isinstance(runner, LocalRunner) or not len(users):
        parts = [_score_shard((0, histories, excluded), (model, explanation_links(model)), blocked, k)]
    else:
        if model_file is None:
            raise ValueError("scoring on a cluster needs the model's file (model_file), not the model object")
        bounds = shard_bounds(len(users), SHARD_USERS, align=SHARD_ALIGN)
        parts = runner.map(_score_shard, [(a, histories[a:b], excluded[a:b]) for a, b in bounds], model_file, blocked, k)
    top, explained = _joined(parts)
    reasons = reason_texts(top.items, top.anchors, top.origins, top.origin_names, bought,
                           catalogue["title_en"].fillna(pd.Series(items, index=items)).to_numpy(),
                           catalogue["category_l2"].fillna("the shop").to_numpy())
    filled = top.items >= 0
    # What made each score: the components' parts (blend) or SHAP values (ranker); the
    # shares per strategy ride on the frame (attrs) for the asset's metadata.
    texts = contribution_texts(*explained, top.items) if explained else np.full(top.items.shape, None, dtype=object)
    shares = strategy_shares(*explained, top.items, list(getattr(model, "components", {}) or [])) if explained else {}
    # The history item a reason names (as reason_texts names one), so that a check can
    # prove it is one the user really interacted with.
    names_anchor = (top.anchors >= 0) & (np.array(top.origin_names, dtype=object)[top.origins] != "popularity")
    anchor_ids = np.where(names_anchor, items.to_numpy(dtype=object)[np.clip(top.anchors, 0, None)], None)
    frame = pd.DataFrame({
        "user_id": users.to_numpy()[top.users[filled]],
        "rank": np.tile(np.arange(1, k + 1), (len(users), 1))[filled],
        "item_id": items.to_numpy()[top.items[filled]],
        "score": top.scores[filled].astype(float),
        "strategy": np.array(top.origin_names, dtype=object)[top.origins[filled]],
        "reason": reasons[filled],
        "anchor_item_id": anchor_ids[filled],
        "top_contributions": texts[filled],
    })
    frame.attrs["strategy_shares"] = shares
    return frame


def cold_start_lists(users: pd.DataFrame, new_user_ids, events: pd.DataFrame, catalogue: pd.DataFrame, k: int,
                     since: pd.Timestamp, popular: dict[tuple[str, str], list[str]]) -> pd.DataFrame:
    """Lists for users the served model does not know (they joined after its training).

    users: user_id, segment, country of every user (either may be missing); events: the
    new users' positive events (user_id, item_id, event_time, event_type; others' are not
    read); catalogue as for `recommendation_lists`; `popular`: (kind, group) -> items
    most popular first, kind "segment", "country", "category" or "shop" (the group
    "(shop)"), from the differentially private release (`ml.privacy.popular`). For each of
    `new_user_ids`, slots alternate between what is popular among the user's segment (else
    their country, else the whole shop) and what is popular in each category the user
    viewed since `since`, then what is popular in the whole shop; bought and unavailable
    items are left out. Same columns as `recommendation_lists`, strategy "cold_start", a
    reason per slot."""
    columns = ["user_id", "rank", "item_id", "score", "strategy", "reason", "anchor_item_id", "top_contributions"]
    users = users.drop_duplicates("user_id").set_index("user_id")
    groups = users.reindex(pd.Index(list(new_user_ids), name="user_id"))[["segment", "country"]]
    if groups.empty:
        return pd.DataFrame(columns=columns)
    catalogue = catalogue.set_index("item_id")
    offerable = set(catalogue.index[catalogue["is_offerable"].fillna(True).astype(bool)])

    def available(kind: str, group: str) -> list[str]:
        return [i for i in popular.get((kind, group), []) if i in offerable]

    overall = available("shop", "(shop)")
    category = catalogue["category_l2"].fillna("the shop")
    own = events[events["user_id"].isin(groups.index) & (events["event_time"] >= since)]
    bought = own[own["event_type"] == "purchase"].groupby("user_id")["item_id"].agg(set)
    viewed = own.assign(category=own["item_id"].map(category)).sort_values("event_time", ascending=False)
    viewed_categories = viewed.groupby("user_id")["category"].agg(lambda c: list(dict.fromkeys(c.dropna())))
    rows = []
    for user_id, (segment, country) in groups[["segment", "country"]].iterrows():
        if isinstance(segment, str) and available("segment", segment):
            crowd, why = available("segment", segment), f"popular with {segment.replace('_', ' ')} shoppers"
        elif isinstance(country, str) and available("country", country):
            crowd, why = available("country", country), f"popular in {country}"
        else:
            crowd, why = overall, "popular in the shop"
        sources = [iter((item, why) for item in crowd)]
        for c in viewed_categories.get(user_id, []):
            sources.append(iter((item, f"popular in {c}, which you viewed") for item in available("category", c)))
        exclude = bought.get(user_id, set())
        chosen, seen = [], set()
        while len(chosen) < k and sources:  # round robin: the crowd's slot, then each viewed category's
            for source in list(sources):
                for item, reason in source:
                    if item not in seen and item not in exclude:
                        seen.add(item)
                        chosen.append((item, reason))
                        break
                else:
                    sources.remove(source)
                if len(chosen) == k:
                    break
        for item in overall:  # the shop's favourites fill what the user's own sources could not
            if len(chosen) == k:
                break
            if item not in seen and item not in exclude:
                seen.add(item)
                chosen.append((item, "popular in the shop"))
        rows += [{"user_id": user_id, "rank": r, "item_id": item, "score": float(k - r + 1), "strategy": "cold_start",
                  "reason": reason, "anchor_item_id": None,  # its reasons name a place or a category
                  "top_contributions": None}
                 for r, (item, reason) in enumerate(chosen, start=1)]
    return pd.DataFrame(rows, columns=columns)
