"""The demo shop responds to what it is shown: a hidden ground truth for copy impressions
(`CopyResponse`) and for recommendation lists (`ListResponse`, at the end).

A copy impression shows one ad-copy variant for an item to a user in a slot. The arms are
the kinds of variant a generator produces, described by what a shopper can notice: the
copy's language, its family (plain, or a deal line), its length (short or long):

    arm = (language in {en, zh}) x (family in {plain, deal}) x (length in {short, long})

The click probability of an impression is position bias times a logistic model of the
user's latent tastes (the shop's own leaf preferences and favourite brands), the copy's
language against the user's, the family's appeal to the user's segment (a hidden
segment x family effect), the length against the segment's liking (hidden), and a stated
discount against the user's price sensitivity (latent) when the item is on sale. The
drift knob rotates the segment x family effects and shortens the preferred length.
Purchases follow clicks with a probability that rises with affinity; revenue is the paid
price.

Because the truth is known, `expected_reward` gives the exact value of any policy's
action distribution on a set of impressions: what every off-policy estimator and every
A/B read-out is validated against. Everything is seeded by (shop seed, stream, day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from ecom_assets.ml.copy.arms import ARMS, FAMILIES, N_SLOTS, arm_features
from ecom_assets.sources import catalog_vocab as V
from ecom_assets.sources.synthetic import SyntheticShop, _row_choice

SEGMENTS = tuple(V.SEGMENTS)
POSITION_DECAY = 0.7  # examination of slot k is k^-0.7


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class CopyContexts:
    """One row per impression to be filled: who, which item, which slot, which day."""

    user: np.ndarray  # indices into the shop's users
    item: np.ndarray  # indices into the catalogue
    position: np.ndarray  # 1-based slot
    day: date

    def __len__(self) -> int:
        return len(self.user)


class CopyResponse:
    """Click and purchase probabilities of copy impressions in a `SyntheticShop`."""

    def __init__(self, shop: SyntheticShop):
        self.shop = shop

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.shop.config.seed, 90, *stream])

    @cached_property
    def _hidden(self) -> dict[str, np.ndarray]:
        rng = self._rng(0)
        n_seg = len(SEGMENTS)
        family = rng.normal(0.0, 0.45, (n_seg, len(FAMILIES)))  # segment x family appeal
        family[:, 1] += np.array([V.SEGMENTS[s][1] for s in SEGMENTS]) - 0.45  # price-sensitive segments like deals
        return dict(family=family, long_appeal=rng.normal(0.0, 0.5, n_seg),
                    drift_family=rng.normal(0.0, 0.6, (n_seg, len(FAMILIES))))

    def _segment_index(self) -> np.ndarray:
        return pd.Index(SEGMENTS).get_indexer(self.shop._users["segment"])

    def contexts(self, day: date | str, n: int) -> CopyContexts:
        """`n` impressions of a day: active users (by activity), items from their tastes
        among what is on sale, uniform slots."""
        day = date.fromisoformat(day) if isinstance(day, str) else day
        shop, rng = self.shop, self._rng(1, day.toordinal())
        users = shop._users
        activity = users["activity"] / users["activity"].sum()
        user = rng.choice(len(activity), n, p=activity)
        prefs = users["leaf_pref"][user]
        leaf = _row_choice(rng, prefs / prefs.sum(axis=1, keepdims=True))
        item = shop._popular_in_leaf(rng, leaf)
        return CopyContexts(user=user, item=item, position=rng.integers(1, N_SLOTS + 1, n), day=day)

    def _drift(self, day: date) -> float:
        return self.shop._drift(day)

    def _logits(self, ctx: CopyContexts) -> tuple[np.ndarray, np.ndarray]:
        """(click logits before position bias, purchase logits) of shape (n, n_arms)."""
        users, cat, hidden = self.shop._users, self.shop._catalogue, self._hidden
        u, i = ctx.user, ctx.item
        seg = self._segment_index()[u]
        pref = users["leaf_pref"][u, cat["leaf"][i]] * users["leaf_pref"].shape[1]
        affinity = np.clip(np.log(pref + 1e-9), -2.0, 2.0)
        fav = (users["fav_brands"][u] == cat["brand"][i][:, None]).any(axis=1)
        on_sale = cat["discount"][i] > 0
        drift = self._drift(ctx.day)
        family = hidden["family"] + drift * hidden["drift_family"]
        long_appeal = hidden["long_appeal"] - 0.8 * drift
        lang = ARMS["language"].to_numpy()
        fam = pd.Index(FAMILIES).get_indexer(ARMS["family"])
        long = (ARMS["length"] == "long").to_numpy()
        base = -3.0 + 0.8 * affinity + 0.5 * fav
        click = (base[:, None]
                 + np.where(lang[None, :] == users["language"][u][:, None], 0.0, -1.2)
                 + family[seg][:, fam]
                 + long[None, :] * long_appeal[seg][:, None]
                 + (fam == 1)[None, :] * on_sale[:, None] * (2.0 * users["price_sens"][u][:, None] - 0.8))
        purchase = -1.2 + 0.8 * affinity[:, None] + 0.6 * (fam == 1)[None, :] * on_sale[:, None] + np.zeros_like(click)
        return click, purchase

    def click_probability(self, ctx: CopyContexts) -> np.ndarray:
        """P(click) per impression and arm, (n, n_arms): examination x attraction."""
        click, _ = self._logits(ctx)
        return ctx.position[:, None].astype(float) ** -POSITION_DECAY * _sigmoid(click)

    def purchase_probability(self, ctx: CopyContexts) -> np.ndarray:
        """P(purchase | click) per impression and arm."""
        return _sigmoid(self._logits(ctx)[1])

    def expected_reward(self, ctx: CopyContexts, action_dist: np.ndarray, reward: str = "click",
                        probabilities: np.ndarray | None = None) -> float:
        """The exact value of a policy on these impressions: mean over impressions of
        sum_a pi(a | x) E[reward | x, a], for reward "click", "purchase" or "revenue".
        `probabilities`: the click probabilities of these impressions, when already computed."""
        dist = np.asarray(action_dist)
        dist = dist[:, :, 0] if dist.ndim == 3 else dist
        value = self.click_probability(ctx) if probabilities is None else probabilities
        if reward in ("purchase", "revenue"):
            value = value * self.purchase_probability(ctx)
        if reward == "revenue":
            cat = self.shop._catalogue
            value = value * (cat["price"] * (1 - cat["discount"] / 100))[ctx.item][:, None]
        return float(np.mean(np.sum(dist * value, axis=1)))

    def observable_features(self, ctx: CopyContexts) -> np.ndarray:
        """What a policy may see, as joint (impression, arm) features (n, n_arms, d): the arm
        itself, segment x family, segment x long, the copy's language against the user's
        preferred one, a deal line on an item on sale, and the slot. Latent tastes are not
        in it: the policy must learn what the segment and the copy's traits predict."""
        users, cat = self.shop._users, self.shop._catalogue
        return arm_features(self._segment_index()[ctx.user], len(SEGMENTS), users["language"][ctx.user],
                            cat["discount"][ctx.item] > 0, ctx.position, N_SLOTS)

    def respond(self, ctx: CopyContexts, actions: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Draw clicks, purchases and revenue for the arms shown."""
        rows = np.arange(len(ctx))
        clicked = rng.random(len(ctx)) < self.click_probability(ctx)[rows, actions]
        purchased = clicked & (rng.random(len(ctx)) < self.purchase_probability(ctx)[rows, actions])
        cat = self.shop._catalogue
        paid = (cat["price"] * (1 - cat["discount"] / 100))[ctx.item]
        return pd.DataFrame({"clicked": clicked, "purchased": purchased, "revenue": np.where(purchased, paid, 0.0)})


def log_impressions(response: CopyResponse, ctx: CopyContexts, action_dist: np.ndarray, rng: np.random.Generator,
                    policy_version: np.ndarray | str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Show each impression an arm drawn from `action_dist` (n, n_arms), draw the
    shopper's response, and return (impressions in the canonical schema, actions,
    propensities). User ids are the shop's raw ids: the door pseudonymises them."""
    from ecom_assets.ml.bandits.policies import sample_actions

    actions, pscore = sample_actions(np.asarray(action_dist), rng)
    outcome = response.respond(ctx, actions, rng)
    shop = response.shop
    seconds = np.sort(rng.integers(0, 86_400, len(ctx)))
    shown_at = pd.Timestamp(ctx.day) + pd.to_timedelta(seconds, unit="s")
    segment = shop._users["segment"][ctx.user]
    frame = pd.DataFrame({
        "impression_id": [f"imp-{ctx.day:%Y%m%d}-{i:07d}" for i in range(len(ctx))],
        "user_id": shop._users["raw_id"][ctx.user],
        "shown_at": shown_at.strftime("%Y-%m-%d %H:%M:%S"),
        "placement": "copy:feed",
        "position": ctx.position,
        "item_id": [f"P{i:06d}" for i in ctx.item],
        "arm": ARMS["arm"].to_numpy()[actions],
        "policy_version": policy_version,
        "propensity": pscore,
        "clicked": outcome["clicked"].to_numpy(),
        "purchased": outcome["purchased"].to_numpy(),
        "revenue": outcome["revenue"].round(2).to_numpy(),
        "context": [f'{{"segment": "{s}", "language": "{lang}"}}' for s, lang in zip(segment, shop._users["language"][ctx.user])],
    })
    return frame, actions, pscore


LIST_ATTENTION = 0.3  # chance that a shopper looks at a recommendation carousel's first slot at all


class ListResponse:
    """Clicks and purchases on recommendation lists in a `SyntheticShop`: the online side of
    an offline ranking metric.

    A shopper looks at rank k with probability LIST_ATTENTION * k^-0.7 (the copy slots' position
    bias), and an item looked at is clicked, carted and bought with the shop's own funnel
    on its hidden affinity (`SyntheticShop.affinity`: tastes on that day, drift included,
    brand, price fit and discount). Items not launched or retired that day draw nothing."""

    def __init__(self, shop: SyntheticShop):
        self.shop = shop

    def _affinity(self, users: np.ndarray, lists: np.ndarray, day: date) -> tuple[np.ndarray, np.ndarray]:
        shown = lists >= 0
        items = np.where(shown, lists, 0)
        return self.shop.affinity(users, items, day), shown & self.shop.available(items, day)

    def click_probability(self, users: np.ndarray, lists: np.ndarray, day: date) -> np.ndarray:
        """P(click) per user and rank, (n, k); `lists` holds item indices, -1 for an empty slot."""
        affinity, live = self._affinity(users, lists, day)
        examination = LIST_ATTENTION * np.arange(1, lists.shape[1] + 1, dtype=float) ** -POSITION_DECAY
        return np.where(live, examination[None, :] * _sigmoid(-1.0 + affinity), 0.0)

    def purchase_given_click(self, users: np.ndarray, lists: np.ndarray, day: date) -> np.ndarray:
        """P(purchase | click) per user and rank: carted, then bought if in stock."""
        affinity, _ = self._affinity(users, lists, day)
        cat = self.shop._catalogue
        items = np.where(lists >= 0, lists, 0)
        disc = cat["discount"][items]
        return (_sigmoid(-1.6 + 0.7 * affinity + 0.03 * disc) * _sigmoid(0.1 + 0.4 * affinity + 0.02 * disc)
                * (cat["stock"][items] > 0))

    def expected(self, users: np.ndarray, lists: np.ndarray, day: date) -> pd.DataFrame:
        """The exact per-user value of showing `lists`: expected clicks, the probability of at
        least one click (clicks on different ranks are independent given the list), and
        expected revenue."""
        click = self.click_probability(users, lists, day)
        paid = self._paid(lists)
        return pd.DataFrame({"clicks": click.sum(axis=1), "any_click": 1.0 - np.prod(1.0 - click, axis=1),
                             "revenue": (click * self.purchase_given_click(users, lists, day) * paid).sum(axis=1)})

    def _paid(self, lists: np.ndarray) -> np.ndarray:
        cat = self.shop._catalogue
        items = np.where(lists >= 0, lists, 0)
        return (cat["price"] * (1 - cat["discount"] / 100))[items]

    def respond(self, users: np.ndarray, lists: np.ndarray, day: date, rng: np.random.Generator) -> pd.DataFrame:
        """Draw each user's clicks and purchases on their list: per user, clicks, converted
        (clicked anything), purchases and revenue."""
        click = rng.random(lists.shape) < self.click_probability(users, lists, day)
        bought = click & (rng.random(lists.shape) < self.purchase_given_click(users, lists, day))
        return pd.DataFrame({"clicks": click.sum(axis=1), "converted": click.any(axis=1).astype(int),
                             "purchases": bought.sum(axis=1), "revenue": np.where(bought, self._paid(lists), 0.0).sum(axis=1)})


def simulate_list_test(response: ListResponse, users: np.ndarray, user_ids: np.ndarray, lists: dict[str, np.ndarray],
                       start: date, arms: list[str], salt: str, visits: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An online test of recommendation strategies in the demo shop.

    `users` (shop indices) and `user_ids` (their pseudonyms, for the salted assignment)
    are the test users; `lists` holds each strategy's top items for them (n, k). Returns
    (exact, per_user): `exact`, per strategy, the shop's true value of showing its lists
    to every test user on each of `visits` days from `start` (clicks, P(any click) and
    revenue per user and visit); `per_user`, one row per test user of a simulated A/B test
    between `arms` (salted, equal shares), each user seeing their arm's list on every
    visit: arm, clicks, converted (clicked at least once), purchases, revenue."""
    from datetime import timedelta

    from ecom_assets.ml.bandits.abtest import assign

    missing = [a for a in arms if a not in lists]
    if missing:
        raise ValueError(f"A/B arms {missing} have no test lists; strategies: {sorted(lists)}")
    days = [start + timedelta(days=v) for v in range(visits)]
    exact = pd.DataFrame([{"strategy": name, **response.expected(users, top, day).mean().to_dict()}
                          for name, top in lists.items() for day in days]).groupby("strategy", as_index=False).mean()
    arm = assign(user_ids, arms, salt)
    rng = np.random.default_rng(seed)
    frames = []
    for name in arms:
        who = np.flatnonzero(arm == name)
        outcome = sum(response.respond(users[who], lists[name][who], day, rng) for day in days)
        frames.append(outcome.assign(arm=name, converted=(outcome["converted"] > 0).astype(int)))
    return exact, pd.concat(frames, ignore_index=True)
