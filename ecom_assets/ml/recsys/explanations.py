"""Why an item is on a user's list: the anchor item behind it and a sentence a person reads.

Anchors come from an item x item link matrix (`explanation_links`): co-interaction
similarity, transitions and nearest text neighbours, from whichever the model has; the
reason names the anchor ("often bought with X", "because you viewed X", "similar to X"),
or the category when nothing in the history links to the item ("popular in C").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml.common.ann import NeighbourIndex
from ecom_assets.ml.recsys.blend import Blend


def explanation_links(model: Blend, text_neighbours: int = 20):
    """Item x item link strength used to anchor reasons: co-interaction similarity,
    transitions scaled to [0, 1] and each item's nearest text neighbours, from whichever
    of them the model has."""
    parts = []
    if "text" in model.components:
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


def score_contributions(model, users: np.ndarray, histories: list[np.ndarray], items: np.ndarray,
                        chunk_size: int = 512) -> tuple[np.ndarray, list[str]] | None:
    """What each input added to each listed item's score, from the model's own `explain`
    (a blend: its components' parts; the ranker: the booster's SHAP values per feature),
    `chunk_size` users at a time; None for a model that cannot say."""
    explain = getattr(model, "explain", None)
    if explain is None or not len(users):
        return None
    parts, names = [], None
    for start in range(0, len(users), chunk_size):
        rows = slice(start, start + chunk_size)
        values, names = explain(users[rows], histories[rows], items[rows])
        parts.append(values)
    return np.concatenate(parts, axis=0), names


def contribution_texts(contributions: np.ndarray, names: list[str], items: np.ndarray, top: int = 3) -> np.ndarray:
    """Per slot, its `top` largest contributions by size, signed ("blend_rank +0.84,
    user_category_share +0.31"); the expected score ("bias") is left out."""
    keep = np.array([n != "bias" for n in names])
    values = contributions[..., keep]
    kept = np.array(names, dtype=object)[keep]
    order = np.argsort(-np.abs(values), axis=2)[..., :top]
    out = np.empty(items.shape, dtype=object)
    for r, c in zip(*np.nonzero(items >= 0)):
        out[r, c] = ", ".join(f"{kept[j]} {values[r, c, j]:+.3f}" for j in order[r, c] if values[r, c, j] != 0)
    return out


def strategy_shares(contributions: np.ndarray, names: list[str], items: np.ndarray, strategies: list[str]) -> dict:
    """Each strategy's share of what made the listed scores (sum of absolute contributions
    over the filled slots): a feature counts for the strategy its name starts with; the
    blend's own features for "blend"; the rest (history, catalogue, dbt features) for
    "shop features"; the expected score is left out."""
    filled = items >= 0
    totals: dict[str, float] = {}
    for j, name in enumerate(names):
        if name == "bias":
            continue
        owner = next((s for s in sorted(strategies, key=len, reverse=True) if name == s or name.startswith(f"{s}_")),
                     "blend" if name.startswith("blend_") else "shop features")
        totals[owner] = totals.get(owner, 0.0) + float(np.abs(contributions[..., j][filled]).sum())
    grand = sum(totals.values())
    return {k: round(v / grand, 4) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])} if grand > 0 else {}
