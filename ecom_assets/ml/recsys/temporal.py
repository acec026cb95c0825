"""Shop events -> time-ordered histories and a temporal next-item protocol.

Histories are each user's items in time order with immediate repeats collapsed (a view,
click and cart of one item are one step). After a cutoff, the first item a user takes
that is new to them is the target (next-item prediction, as in the leave-one-out
protocol), and every new item in the window is relevant (for recall and MAP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom_assets.ml.recsys.sequences import Split


@dataclass
class EncodedEvents:
    users: np.ndarray  # user index per event, sorted by (user, time)
    items: np.ndarray
    times: np.ndarray  # datetime64
    n_users: int
    n_items: int


def encode_events(events: pd.DataFrame, user_index: pd.Index, item_index: pd.Index) -> EncodedEvents:
    """events: user_id, item_id, event_time. Events of unknown users or items are dropped
    (they cannot be scored); callers build the indexes from the marts, which hold all."""
    u = user_index.get_indexer(events["user_id"])
    i = item_index.get_indexer(events["item_id"])
    keep = (u >= 0) & (i >= 0)
    t = events["event_time"].to_numpy()[keep]
    u, i = u[keep], i[keep]
    order = np.lexsort((t, u))
    return EncodedEvents(u[order], i[order], t[order], len(user_index), len(item_index))


def histories_with_times(ev: EncodedEvents, before: np.datetime64 | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per user, the items taken before `before` (immediate repeats collapsed) and when."""
    mask = np.ones(len(ev.users), dtype=bool) if before is None else ev.times < before
    u, i, t = ev.users[mask], ev.items[mask], ev.times[mask]
    new_step = np.ones(len(u), dtype=bool)
    new_step[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    u, i, t = u[new_step], i[new_step], t[new_step]
    bounds = np.searchsorted(u, np.arange(ev.n_users + 1))
    return ([i[bounds[k]:bounds[k + 1]] for k in range(ev.n_users)],
            [t[bounds[k]:bounds[k + 1]] for k in range(ev.n_users)])


def histories_before(ev: EncodedEvents, before: np.datetime64 | None = None) -> list[np.ndarray]:
    return histories_with_times(ev, before)[0]


def window_split(ev: EncodedEvents, histories: list[np.ndarray], start: np.datetime64,
                 end: np.datetime64 | None = None) -> tuple[Split, list[set]]:
    """Users who take an item new to them in [start, end): their first such item as the
    target, and the set of all of them."""
    mask = ev.times >= start if end is None else (ev.times >= start) & (ev.times < end)
    users, targets, relevant = [], [], []
    u, i = ev.users[mask], ev.items[mask]
    bounds = np.flatnonzero(np.r_[True, u[1:] != u[:-1], True]) if len(u) else np.zeros(1, dtype=np.int64)
    for a, b in zip(bounds[:-1], bounds[1:]):
        seen = set(histories[u[a]].tolist())
        new = [x for x in i[a:b].tolist() if x not in seen]
        if new:
            users.append(u[a])
            targets.append(new[0])
            relevant.append(set(new))
    users = np.asarray(users, dtype=np.int64)
    split = Split([histories[x] for x in users], np.asarray(targets, dtype=np.int64), users)
    return split, relevant


@dataclass
class ValidationWindow:
    """The validation window just before the test cutoff: what the blend is tuned on, the
    text encoder stops early on, and every champion/challenger gate compares on."""

    start: np.datetime64
    end: np.datetime64  # the test cutoff
    histories: list[np.ndarray]  # per user, everything before `start`
    times: list[np.ndarray]
    split: Split  # users who take a new item in [start, end), their first such item the target
    relevant: list[set] | None = None  # per split user, every item new to them in the window


def validation_start(cutoff, valid_days: float) -> np.datetime64:
    return np.datetime64(cutoff) - np.timedelta64(int(valid_days * 86_400), "s")


def validation_window(ev: EncodedEvents, cutoff, valid_days: float) -> ValidationWindow:
    start, end = validation_start(cutoff, valid_days), np.datetime64(cutoff)
    histories, times = histories_with_times(ev, start)
    split, relevant = window_split(ev, histories, start, end)
    return ValidationWindow(start, end, histories, times, split, relevant)
