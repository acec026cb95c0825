"""Served recommendation lists: a fitted model, the shop's events and its catalogue in,
one row per (user, rank) out, with the strategy behind each item and a reason.

Items a user must not get again (bought, or anything seen with exclude="seen") and
items nobody may get (`offerable` false: hidden or out of stock) are filtered before the
top K is taken.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ecom_assets.ml.recsys.explanations import explanation_links, reason_texts
from ecom_assets.ml.recsys.strategy import Strategy
from ecom_assets.ml.recsys.temporal import encode_events, histories_before
from ecom_assets.ml.recsys.top_k import recommend


def recommendation_lists(model: Strategy, users: pd.Index, items: pd.Index, events: pd.DataFrame,
                         catalogue: pd.DataFrame, k: int, exclude: Literal["bought", "seen"] = "bought") -> pd.DataFrame:
    """events: user_id, item_id, event_time, event_type (positive events); catalogue:
    item_id, title_en, category_l2, is_offerable. `users` and `items` are the index the
    model was fit on (saved beside it)."""
    histories = histories_before(encode_events(events, users, items))
    bought_events = events[events["event_type"] == "purchase"]
    bought = [set(h.tolist()) for h in histories_before(encode_events(bought_events, users, items))]
    excluded = [np.fromiter(b, dtype=np.int64) for b in bought] if exclude == "bought" else histories
    catalogue = catalogue.set_index("item_id").reindex(items)
    blocked = ~catalogue["is_offerable"].fillna(True).astype(bool).to_numpy()
    top = recommend(model, np.arange(len(users)), histories, k, exclude=excluded, blocked=blocked,
                    explainer=explanation_links(model))
    reasons = reason_texts(top.items, top.anchors, top.origins, top.origin_names, bought,
                           catalogue["title_en"].fillna(pd.Series(items, index=items)).to_numpy(),
                           catalogue["category_l2"].fillna("the shop").to_numpy())
    filled = top.items >= 0
    return pd.DataFrame({
        "user_id": users.to_numpy()[top.users[filled]],
        "rank": np.tile(np.arange(1, k + 1), (len(users), 1))[filled],
        "item_id": items.to_numpy()[top.items[filled]],
        "score": top.scores[filled].astype(float),
        "strategy": np.array(top.origin_names, dtype=object)[top.origins[filled]],
        "reason": reasons[filled],
    })
