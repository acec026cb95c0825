"""Copy variants as bandit arms: what a shopper can notice about an ad line, and the
features a copy policy sees.

An arm is a kind of variant, not one text:

    arm = language (en, zh) x family (plain, or a deal line that states the discount)
          x length (short: fits one mobile line, SHORT_COLUMNS display columns; long)

so that what is learnt about "a short deal line in Chinese for bargain hunters" carries
over to every product, and a newly generated text joins an arm the policy already knows.
`arm_of` reads the arm of a generated text; `arm_features` builds the joint
(impression, arm) features of a linear policy (the demo shop's simulated impressions and
the serving assignments use the same function, so a policy trained on one is served on
the other).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

LANGUAGES = ("en", "zh")
FAMILIES = ("plain", "deal")
LENGTHS = ("short", "long")
ARMS = pd.DataFrame([dict(language=lang, family=fam, length=ln) for lang in LANGUAGES for fam in FAMILIES for ln in LENGTHS])
ARMS["arm"] = ARMS["language"] + ":" + ARMS["family"] + ":" + ARMS["length"]
SHORT_COLUMNS = 60
"""A line of about 60 display columns (30 Chinese characters, which are two columns wide)
fits a phone's feed card without wrapping."""
N_SLOTS = 3
_DISCOUNT = re.compile(r"\d+(?:\.\d+)?\s*[%％]|\d+(?:\.\d+)?\s*折")


def display_width(text: str) -> int:
    """Columns a text takes on screen: wide and full-width characters (CJK) count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def states_discount(text: str) -> bool:
    """Does the line state a discount ("15% off", "享受25%的折扣", "8折")?"""
    return bool(_DISCOUNT.search(text))


def arm_of(language: str, text: str) -> str:
    """The arm of one generated line."""
    if language not in LANGUAGES:
        raise ValueError(f"copy language {language!r} is not one of {LANGUAGES}")
    family = "deal" if states_discount(text) else "plain"
    length = "short" if display_width(text) <= SHORT_COLUMNS else "long"
    return f"{language}:{family}:{length}"


def arm_features(segment: np.ndarray, n_segments: int, user_language: np.ndarray, on_sale: np.ndarray,
                 position: np.ndarray, n_slots: int = N_SLOTS) -> np.ndarray:
    """Joint (impression, arm) features, (n, n_arms, d): the arm itself, segment x family,
    segment x long, the copy's language against the user's, a deal line on an item on
    sale, and the slot (1-based). `segment` holds segment codes in [0, n_segments)."""
    segment, position = np.asarray(segment), np.asarray(position)
    n, n_arms = len(segment), len(ARMS)
    if n and (segment.min() < 0 or segment.max() >= n_segments):
        raise ValueError(f"segment codes must lie in [0, {n_segments})")
    if n and (position.min() < 1 or position.max() > n_slots):
        raise ValueError(f"positions must lie in [1, {n_slots}]")
    seg = np.eye(n_segments)[segment]  # (n, S)
    fam = np.eye(len(FAMILIES))[pd.Index(FAMILIES).get_indexer(ARMS["family"])]  # (A, 2)
    long = (ARMS["length"] == "long").to_numpy(float)
    match = (ARMS["language"].to_numpy()[None, :] == np.asarray(user_language)[:, None]).astype(float)
    deal_on_sale = fam[None, :, 1] * np.asarray(on_sale, dtype=float)[:, None]
    parts = [
        np.broadcast_to(np.eye(n_arms)[None], (n, n_arms, n_arms)),
        np.einsum("ns,af->nasf", seg, fam).reshape(n, n_arms, -1),
        seg[:, None, :] * long[None, :, None],
        match[:, :, None],
        deal_on_sale[:, :, None],
        np.broadcast_to(np.eye(n_slots)[position - 1][:, None, :], (n, n_arms, n_slots)),
    ]
    return np.concatenate(parts, axis=2)


def restrict(action_dist: np.ndarray, available: np.ndarray) -> np.ndarray:
    """A policy's arm probabilities (n, n_arms) restricted to the arms that have a text for
    each row (`available`, boolean (n, n_arms)) and renormalised: the propensities the
    served choice really has. A row whose policy gives its available arms no mass falls
    back to uniform over them; a row with no available arm stays all zero."""
    dist = np.where(available, np.asarray(action_dist, dtype=float), 0.0)
    total = dist.sum(axis=1, keepdims=True)
    uniform = available / np.maximum(available.sum(axis=1, keepdims=True), 1)
    return np.where(total > 0, dist / np.where(total > 0, total, 1.0), uniform)


def serving_assignments(copy: pd.DataFrame, segments: list[str], action_dist) -> tuple[pd.DataFrame, int]:
    """What each product x segment x shopper language is shown: one row per arm that has a
    text, with the text (the best-scored reviewed variant of that arm) and its propensity.

    copy: reviewed lines (item_id, segment, variant, language, text, score, discount_pct);
    `segments`: the segment vocabulary the policy was trained with (other segments are
    assigned uniformly); `action_dist(features) -> (n, n_arms, 1)`: the policy's
    probabilities. Returns (assignments, number of contexts)."""
    copy = copy.assign(arm=[arm_of(lang, text) for lang, text in zip(copy["language"], copy["text"])])
    best = copy.sort_values(["score", "variant"], ascending=[False, True]).drop_duplicates(["item_id", "segment", "arm"])
    contexts = (best[["item_id", "segment", "discount_pct"]].drop_duplicates(["item_id", "segment"])
                .merge(pd.DataFrame({"user_language": list(LANGUAGES)}), how="cross").reset_index(drop=True))
    arm_index = pd.Index(ARMS["arm"])
    available = np.zeros((len(contexts), len(ARMS)), dtype=bool)
    where = contexts.reset_index().merge(best[["item_id", "segment", "arm"]], on=["item_id", "segment"])
    available[where["index"].to_numpy(), arm_index.get_indexer(where["arm"])] = True
    known = contexts["segment"].isin(segments).to_numpy()
    dist = np.full(available.shape, 1.0 / len(ARMS))
    if known.any():
        k = contexts[known]
        x = arm_features(pd.Index(segments).get_indexer(k["segment"]), len(segments), k["user_language"].to_numpy(),
                         k["discount_pct"].fillna(0).to_numpy() > 0, np.ones(len(k), dtype=int), N_SLOTS)
        dist[known] = action_dist(x)[:, :, 0]
    propensity = restrict(dist, available)
    rows, cols = np.nonzero(available)
    table = contexts.iloc[rows][["item_id", "segment", "user_language"]].reset_index(drop=True).assign(
        arm=arm_index[cols], propensity=propensity[rows, cols])
    table = table.merge(best[["item_id", "segment", "arm", "variant", "language", "text"]], on=["item_id", "segment", "arm"])
    return table, len(contexts)


def draw_arm_per_context(assignments: pd.DataFrame, context: list[str], seed: int) -> pd.DataFrame:
    """One row per context (the `context` columns), drawn with probability its
    `propensity` among the context's rows (inverse CDF, one uniform per context in sorted
    context order, so a seed gives the same draw): what a shopper of that context is shown."""
    groups = assignments.groupby(context, sort=True)
    cdf = groups["propensity"].cumsum() / groups["propensity"].transform("sum")
    draw = np.random.default_rng(seed).random(groups.ngroups)[groups.ngroup()]
    return assignments[cdf.to_numpy() >= draw - 1e-12].groupby(context, sort=True).head(1)
