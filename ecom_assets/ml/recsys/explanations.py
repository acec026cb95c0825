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
