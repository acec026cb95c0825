"""A realistic synthetic shop, deterministic by seed, with scale knobs.

Generative story (so that models have something real to learn):

- Catalogue: 24 leaf categories under 6 top categories, brands tied to a top category with
  a price tier, Zipf-like item appeal, bilingual titles and descriptions, discounts,
  stock, launch dates (some items launch inside the window: cold start).
- Users belong to marketing segments; each has latent tastes drawn around the segment:
  a leaf-category preference, two favourite brands, a price sensitivity, an activity
  level and two "staple" items they re-buy. Some users sign up inside the window.
- A day is a set of sessions. A session has a focus leaf drawn from the user's taste;
  each impression stays in the focus leaf, crosses to its complementary leaf (phones ->
  chargers), follows an "often bought with" link from the previous item, or wanders.
  Within a leaf the user considers a few popular items and picks the best fit for their
  brands and price sensitivity. Impressions go through view -> click -> add_to_cart ->
  purchase with probabilities that rise with affinity and discount.
- Drift knob: from `drift_date` on, tastes rotate towards another top category and a set
  of trending items gains popularity, scaled by `drift_strength`.

Every day is generated from its own random stream (seed, day), so any daily partition
can be regenerated alone and identically. Raw user ids and personal data (names,
e-mails, phones) are produced on purpose, as a real CRM export would have them; the
ingestion layer must strip them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import pandas as pd

from ecom_assets.sources import catalog_vocab as V

_HOUR_WEIGHTS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
                          3.4, 3.0, 2.7, 2.6, 2.7, 3.0, 3.6, 4.2, 4.8, 4.6, 3.4, 2.0])
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
_DEVICES = np.array(["app", "mobile_web", "desktop"], dtype=object)
_DISCOUNTS = np.array([0, 5, 10, 15, 20, 25, 30, 40], dtype=float)
_DISCOUNT_P = np.array([0.45, 0.08, 0.14, 0.1, 0.1, 0.05, 0.05, 0.03])
_CONSIDERATION = 6  # items a user weighs against each other in one impression
_EVENTS_PER_SESSION = 7.0  # measured average, used to turn events_per_day into sessions


@dataclass(frozen=True)
class ShopConfig:
    seed: int = 7
    n_users: int = 2_000
    n_items: int = 600
    start_date: str = "2026-10-01"
    n_days: int = 30
    events_per_day: int = 4_000
    drift_date: str | None = None
    drift_strength: float = 0.6
    support_tickets: int = 1_500
    # Share of events that arrive broken, as from a real tracker: lost user id, negative
    # price, an event type the shop does not know, a dwell time over a day. Ingestion
    # must quarantine exactly these.
    dirty_rate: float = 0.001

    def __post_init__(self):
        if self.n_items < len(V.CATEGORY_TREE):
            raise ValueError(f"n_items must be at least {len(V.CATEGORY_TREE)} (one per leaf category)")
        if self.n_users < 1 or self.n_days < 1 or self.events_per_day < 0:
            raise ValueError("n_users and n_days must be >= 1 and events_per_day >= 0")
        if not 0.0 <= self.drift_strength <= 1.0:
            raise ValueError("drift_strength must be within [0, 1]")
        if not 0.0 <= self.dirty_rate <= 0.5:
            raise ValueError("dirty_rate must be within [0, 0.5]")

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.n_days)]

    @property
    def drift_day(self) -> date | None:
        return date.fromisoformat(self.drift_date) if self.drift_date else None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object)


def _row_choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)


class SyntheticShop:
    """Lazily builds the catalogue and the users, then any day's events on demand."""

    def __init__(self, config: ShopConfig | None = None):
        self.config = config or ShopConfig()

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, *stream])

    # ---------------------------------------------------------------- catalogue
    @cached_property
    def _leaves(self) -> pd.DataFrame:
        leaves = pd.DataFrame(
            V.CATEGORY_TREE,
            columns=["l1_en", "l1_zh", "l2_en", "l2_zh", "nouns", "base_price", "repeatable", "variant_kind", "complement"],
        )
        leaves["top"] = leaves["l1_en"].map({c: i for i, c in enumerate(V.TOP_CATEGORIES)})
        leaves["complement_idx"] = leaves["complement"].map({c: i for i, c in enumerate(leaves["l2_en"])})
        return leaves

    @cached_property
    def _catalogue(self) -> dict[str, np.ndarray]:
        cfg, leaves = self.config, self._leaves
        rng = self._rng(1)
        n, n_leaves = cfg.n_items, len(leaves)
        leaf = np.concatenate([np.arange(n_leaves), rng.choice(n_leaves, n - n_leaves, p=(w := rng.gamma(2.0, 1.0, n_leaves)) / w.sum())])
        rng.shuffle(leaf)

        # Brands: a handful per top category, each with a price tier.
        per_top = int(np.clip(n // 60, 3, 10))
        pairs = [(h, t) for h in V.BRAND_HEADS for t in V.BRAND_TAILS]
        picks = rng.choice(len(pairs), per_top * len(V.TOP_CATEGORIES), replace=False)
        brand_en = np.array([pairs[i][0][0] + pairs[i][1][0] for i in picks], dtype=object)
        brand_zh = np.array([pairs[i][0][1] + pairs[i][1][1] for i in picks], dtype=object)
        brand_tier = rng.choice(3, len(picks), p=[0.35, 0.45, 0.2])
        tier_mult = np.array([0.6, 1.0, 1.8])[brand_tier]

        top = leaves["top"].to_numpy()[leaf]
        brand = top * per_top + rng.integers(0, per_top, n)
        base = leaves["base_price"].to_numpy()[leaf].astype(float)
        raw_price = base * tier_mult[brand] * rng.lognormal(0.0, 0.25, n)
        price = np.where(raw_price >= 100, np.ceil(raw_price / 10) * 10 - 1, np.round(raw_price) - 0.1)
        price = np.maximum(price, 1.9)

        appeal = (rng.permutation(n) + 1.0) ** -1.0  # Zipf-like item popularity
        launch_offset = np.where(
            rng.random(n) < 0.15,
            rng.integers(1, max(cfg.n_days, 2), n),  # launched inside the window: cold start
            -rng.integers(30, 720, n),
        )
        first_of_leaf = np.unique(leaf, return_index=True)[1]
        launch_offset[first_of_leaf] = -30  # every leaf sells from day one

        # "Often bought with": three popular items of the complementary leaf per item.
        comp = leaves["complement_idx"].to_numpy()[leaf]
        related = np.empty((n, 3), dtype=np.int64)
        for leaf_id in range(n_leaves):
            members = np.flatnonzero(leaf == leaf_id)
            p = appeal[members] / appeal[members].sum()
            askers = np.flatnonzero(comp == leaf_id)
            related[askers] = members[rng.choice(len(members), (len(askers), 3), p=p)]

        variant_kind = leaves["variant_kind"].to_numpy()[leaf]
        variant = np.array([rng.integers(len(V.VARIANTS[k])) for k in variant_kind])
        noun = np.array([rng.integers(len(leaves["nouns"].iloc[lf])) for lf in leaf])
        return dict(
            leaf=leaf, top=top, brand=brand, brand_en=brand_en, brand_zh=brand_zh, brand_tier=brand_tier,
            price=price, appeal=appeal, launch_offset=launch_offset, related=related,
            discount=rng.choice(_DISCOUNTS, n, p=_DISCOUNT_P),
            stock=np.where(rng.random(n) < 0.03, 0, rng.integers(5, 800, n)),
            active=rng.random(n) > 0.02,
            rating=np.round(np.clip(rng.normal(4.3, 0.35, n), 2.5, 5.0), 1),
            adjective=rng.integers(len(V.ADJECTIVES), size=n), variant=variant, noun=noun,
            template=rng.integers(3, size=n),
            leaf_median=np.array([np.median(price[leaf == leaf_id]) for leaf_id in range(n_leaves)]),
        )

    def products(self) -> pd.DataFrame:
        c, leaves, cfg = self._catalogue, self._leaves, self.config
        rows = []
        for i in range(cfg.n_items):
            lf = leaves.iloc[c["leaf"][i]]
            noun_en, noun_zh = lf["nouns"][c["noun"][i]]
            adj_en, adj_zh = V.ADJECTIVES[c["adjective"][i]]
            var_en, var_zh = V.VARIANTS[lf["variant_kind"]][c["variant"][i]]
            b_en, b_zh = c["brand_en"][c["brand"][i]], c["brand_zh"][c["brand"][i]]
            rating = c["rating"][i]
            t = c["template"][i]
            rows.append(
                dict(
                    item_id=f"P{i:06d}",
                    title_en=f"{b_en} {adj_en} {noun_en} - {var_en}",
                    title_zh=f"{b_zh}{adj_zh}{noun_zh} {var_zh}",
                    description_en=V.DESCRIPTION_TEMPLATES["en"][t].format(
                        adj=adj_en, adj_lower=adj_en.lower(), noun=noun_en.lower() if t == 0 else noun_en,
                        brand=b_en, variant=var_en.lower(), leaf=lf["l2_en"], leaf_lower=lf["l2_en"].lower(), rating=rating),
                    description_zh=V.DESCRIPTION_TEMPLATES["zh"][t].format(
                        adj=adj_zh, noun=noun_zh, brand=b_zh, variant=var_zh, leaf=lf["l2_zh"], rating=rating),
                    category_l1=lf["l1_en"],
                    category_l2=lf["l2_en"],
                    brand=b_en,
                    price=float(c["price"][i]),
                    discount_pct=float(c["discount"][i]),
                    currency="CNY",
                    stock_qty=int(c["stock"][i]),
                    is_active=bool(c["active"][i]),
                    rating=float(rating),
                    launch_date=cfg.start + timedelta(days=int(c["launch_offset"][i])),
                )
            )
        frame = pd.DataFrame(rows)
        frame["launch_date"] = pd.to_datetime(frame["launch_date"])
        return frame

    # -------------------------------------------------------------------- users
    @cached_property
    def _users(self) -> dict[str, np.ndarray]:
        cfg, leaves = self.config, self._leaves
        rng = self._rng(2)
        n = cfg.n_users
        seg_names = list(V.SEGMENTS)
        segment = rng.choice(len(seg_names), n, p=np.array(V.SEGMENT_SHARES) / sum(V.SEGMENT_SHARES))
        prior = np.array([V.SEGMENTS[s][0] for s in seg_names], dtype=float)[segment]
        top_pref = rng.gamma(2.0 * prior / prior.sum(axis=1, keepdims=True) * 6 + 0.15)
        top_pref /= top_pref.sum(axis=1, keepdims=True)
        within = rng.gamma(0.8, 1.0, (n, len(leaves)))
        leaf_top = leaves["top"].to_numpy()
        within /= np.stack([within[:, leaf_top == t].sum(axis=1) for t in range(len(V.TOP_CATEGORIES))], axis=1)[:, leaf_top]
        leaf_pref = top_pref[:, leaf_top] * within

        sens_mean = np.array([V.SEGMENTS[s][1] for s in seg_names])[segment]
        price_sens = np.clip(rng.normal(sens_mean, 0.12), 0.02, 0.98)
        activity = rng.lognormal(0.0, 0.9, n) * np.array([V.SEGMENTS[s][2] for s in seg_names])[segment]

        cat = self._catalogue
        per_top = len(cat["brand_en"]) // len(V.TOP_CATEGORIES)
        fav_brands = np.stack(
            [_row_choice(rng, top_pref) * per_top + rng.integers(0, per_top, n) for _ in range(2)], axis=1
        )
        # Staples: items of repeatable leaves that the user re-buys.
        repeatable = leaves["repeatable"].to_numpy()
        staple_leaf_p = np.where(repeatable[None, :], leaf_pref, 0.0) + 1e-12
        staples = np.stack([self._popular_in_leaf(rng, _row_choice(rng, staple_leaf_p)) for _ in range(2)], axis=1)

        signup_offset = np.where(rng.random(n) < 0.1, rng.integers(0, cfg.n_days, n), -rng.integers(1, 900, n))
        language = np.where(rng.random(n) < 0.6, "zh", "en").astype(object)
        return dict(
            segment=np.array(seg_names, dtype=object)[segment], leaf_pref=leaf_pref, top_pref=top_pref,
            price_sens=price_sens, activity=activity, fav_brands=fav_brands, staples=staples,
            signup_offset=signup_offset, language=language,
            age_band=rng.choice(np.array(V.AGE_BANDS, dtype=object), n, p=V.AGE_SHARES),
            raw_id=_ids("U", np.arange(n), 7),
        )

    def _popular_in_leaf(self, rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
        cat = self._catalogue
        out = np.empty(len(leaf), dtype=np.int64)
        for leaf_id in np.unique(leaf):
            members = np.flatnonzero(cat["leaf"] == leaf_id)
            p = cat["appeal"][members] / cat["appeal"][members].sum()
            rows = np.flatnonzero(leaf == leaf_id)
            out[rows] = members[rng.choice(len(members), len(rows), p=p)]
        return out

    def users(self) -> pd.DataFrame:
        """The CRM export, personal data included (the ingestion layer drops it)."""
        u, cfg = self._users, self.config
        rng = self._rng(5)
        n = cfg.n_users
        zh = u["language"] == "zh"
        first_zh = rng.integers(len(V.FIRST_ZH), size=n)
        last_zh = rng.integers(len(V.LAST_ZH), size=n)
        first_en = rng.integers(len(V.FIRST_EN), size=n)
        last_en = rng.integers(len(V.LAST_EN), size=n)
        country_idx = rng.integers(len(V.COUNTRIES_EN), size=n)
        names, emails, phones, countries, cities = [], [], [], [], []
        digits = rng.integers(0, 10, (n, 8))
        for i in range(n):
            tail = "".join(map(str, digits[i]))
            if zh[i]:
                last, first = V.LAST_ZH[last_zh[i]], V.FIRST_ZH[first_zh[i]]
                names.append(last[0] + first[0])
                emails.append(f"{last[1]}.{first[1]}{tail[:3]}@example.cn")
                phones.append(f"13{tail[0]}-{tail[1:5]}-{tail[4:8]}")
                countries.append("China")
                cities.append(V.CITIES_ZH[(first_zh[i] + last_zh[i]) % len(V.CITIES_ZH)])
            else:
                first, last = V.FIRST_EN[first_en[i]], V.LAST_EN[last_en[i]]
                names.append(f"{first} {last}")
                emails.append(f"{first.lower()}.{last.lower()}{tail[:3]}@example.com")
                phones.append(f"+1 555-{tail[:3]}-{tail[3:7]}")
                country, options = V.COUNTRIES_EN[country_idx[i]]
                countries.append(country)
                cities.append(options[first_en[i] % len(options)])
        return pd.DataFrame(
            dict(
                user_id=u["raw_id"],
                name=names,
                email=emails,
                phone=phones,
                signup_date=pd.to_datetime([cfg.start + timedelta(days=int(d)) for d in u["signup_offset"]]),
                country=countries,
                city=cities,
                age_band=u["age_band"],
                preferred_language=u["language"],
                segment=u["segment"],
            )
        )

    # ------------------------------------------------------------------- events
    def _drift(self, day: date) -> float:
        d = self.config.drift_day
        return self.config.drift_strength if d is not None and day >= d else 0.0

    def _tastes(self, day: date) -> np.ndarray:
        """Every user's leaf preferences on `day`: from the drift date on they rotate towards
        the next top category, by `drift_strength`."""
        u, leaves, drift = self._users, self._leaves, self._drift(day)
        leaf_pref = u["leaf_pref"]
        if drift > 0:
            leaf_top = leaves["top"].to_numpy()
            rotated = u["top_pref"][:, (leaf_top + 1) % len(V.TOP_CATEGORIES)]
            leaf_pref = (1 - drift) * leaf_pref + drift * rotated * (leaf_pref / u["top_pref"][:, leaf_top])
        return leaf_pref

    def _fit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """How well each item of `items` (n, k) suits the user of its row (`users`, n): a
        favourite brand, its price against the leaf's median for the user's price
        sensitivity, and its discount."""
        cat, price_sens = self._catalogue, self._users["price_sens"]
        brand_match = (cat["brand"][items][:, :, None] == self._users["fav_brands"][users][:, None, :]).any(axis=2)
        rel_price = np.log(cat["price"][items] / cat["leaf_median"][cat["leaf"][items]])
        return 1.4 * brand_match - 2.0 * price_sens[users][:, None] * rel_price \
            + 0.025 * price_sens[users][:, None] * cat["discount"][items]

    def affinity(self, users: np.ndarray, items: np.ndarray, day: date) -> np.ndarray:
        """The shop's hidden affinity of each user (`users`, n) for each item of its row
        (`items`, n x k) on `day`: the same taste and fit terms the day's events are drawn
        with (the click of a viewed item is sigmoid(-1 + affinity)), without the session's
        own momentum (a followed link, a replenished staple)."""
        cat, n_leaves = self._catalogue, len(self._leaves)
        taste = np.log(self._tastes(day)[users[:, None], cat["leaf"][items]] * n_leaves + 1e-9)
        return 0.45 * taste + 0.5 * self._fit(users, items)

    def available(self, items: np.ndarray, day: date) -> np.ndarray:
        """Whether each item is launched and active on `day`."""
        cat = self._catalogue
        return (cat["launch_offset"][items] <= (day - self.config.start).days) & cat["active"][items].astype(bool)

    def events_for_day(self, day: date | str) -> pd.DataFrame:
        """All behaviour events of one calendar day, sorted by time."""
        day = date.fromisoformat(day) if isinstance(day, str) else day
        cfg, cat, u, leaves = self.config, self._catalogue, self._users, self._leaves
        rng = self._rng(3, day.toordinal())
        offset = (day - cfg.start).days
        drift = self._drift(day)

        # Item availability and popularity today.
        weight = cat["appeal"] * (cat["launch_offset"] <= offset) * cat["active"]
        if drift > 0:
            trending = self._rng(4).random(cfg.n_items) < 0.05
            weight = weight * np.where(trending, 1.0 + 8.0 * drift, 1.0)
        order = np.lexsort((np.arange(cfg.n_items), cat["leaf"]))
        cum = np.cumsum(weight[order])
        leaf_sorted = cat["leaf"][order]
        leaf_end = np.searchsorted(leaf_sorted, np.arange(len(leaves)), side="right")
        leaf_start = np.searchsorted(leaf_sorted, np.arange(len(leaves)), side="left")
        cum_before = np.where(leaf_start > 0, cum[np.maximum(leaf_start - 1, 0)], 0.0)
        leaf_total = cum[leaf_end - 1] - cum_before

        # Sessions and their users.
        weekday = 1.12 if day.weekday() >= 4 else 0.95
        n_sessions = int(rng.poisson(cfg.events_per_day / _EVENTS_PER_SESSION * weekday * (1 + 0.2 * drift)))
        eligible = u["signup_offset"] <= offset
        act = u["activity"] * eligible
        if n_sessions == 0 or act.sum() == 0:
            return self._empty_events()
        s_user = np.searchsorted(np.cumsum(act), rng.random(n_sessions) * act.sum(), side="right")
        s_user = np.minimum(s_user, cfg.n_users - 1)
        leaf_pref = self._tastes(day)
        s_pref = leaf_pref[s_user]
        s_focus = _row_choice(rng, s_pref)
        s_replenish = rng.random(n_sessions) < 0.08
        s_views = np.where(s_replenish, 1 + rng.integers(0, 2, n_sessions), np.minimum(rng.geometric(0.24, n_sessions), 30))
        s_start = (rng.choice(24, n_sessions, p=_HOUR_P) * 3600 + rng.integers(0, 3600, n_sessions)).astype(float)
        s_device = _DEVICES[rng.choice(3, n_sessions, p=[0.55, 0.3, 0.15])]

        # Impressions, position by position so that each can follow the previous one.
        v_session = np.repeat(np.arange(n_sessions), s_views)
        v_pos = np.arange(len(v_session)) - np.repeat(np.cumsum(s_views) - s_views, s_views)
        v_user = s_user[v_session]
        n_views = len(v_session)
        v_item = np.empty(n_views, dtype=np.int64)
        v_affinity = np.empty(n_views)
        comp = leaves["complement_idx"].to_numpy()
        for pos in range(int(s_views.max())):
            idx = np.flatnonzero(v_pos == pos)
            sess = v_session[idx]
            users = v_user[idx]
            r = rng.random(len(idx))
            leaf = np.where(r < 0.62, s_focus[sess], comp[s_focus[sess]])
            wander = r >= 0.8
            if wander.any():
                leaf[wander] = _row_choice(rng, s_pref[sess[wander]])
            # Consideration set: a few popular items of the leaf; the user picks the best fit.
            u_draw = rng.random((len(idx), _CONSIDERATION)) * leaf_total[leaf][:, None] + cum_before[leaf][:, None]
            cand = order[np.minimum(np.searchsorted(cum, u_draw, side="right"), cfg.n_items - 1)]
            fit = self._fit(users, cand)
            pick = np.argmax(fit + rng.gumbel(size=fit.shape), axis=1)
            item = cand[np.arange(len(idx)), pick]
            chosen_fit = fit[np.arange(len(idx)), pick]
            # "Often bought with": a quarter of later impressions follow the previous item's link.
            followed = np.zeros(len(idx), dtype=bool)
            if pos > 0:
                linked = cat["related"][v_item[idx - 1], rng.integers(0, 3, len(idx))]
                followed = (rng.random(len(idx)) < 0.25) & (cat["launch_offset"][linked] <= offset) & cat["active"][linked]
                item = np.where(followed, linked, item)
            staple_now = s_replenish[sess] & (pos == 0)
            if staple_now.any():
                item[staple_now] = u["staples"][users[staple_now], rng.integers(0, 2, staple_now.sum())]
            v_item[idx] = item
            taste = np.log(leaf_pref[users, cat["leaf"][item]] * len(leaves) + 1e-9)
            v_affinity[idx] = 0.45 * taste + 0.8 * followed + 0.5 * chosen_fit + 3.0 * staple_now

        # Funnel.
        disc = cat["discount"][v_item]
        in_stock = cat["stock"][v_item] > 0
        click = rng.random(n_views) < _sigmoid(-1.0 + 1.0 * v_affinity)
        cart = click & (rng.random(n_views) < _sigmoid(-1.6 + 0.7 * v_affinity + 0.03 * disc))
        buy = cart & in_stock & (rng.random(n_views) < _sigmoid(0.1 + 0.4 * v_affinity + 0.02 * disc))

        gaps = rng.exponential(35.0, n_views) + 3.0
        dwell = np.clip(rng.lognormal(np.log(25.0) + 0.35 * np.clip(v_affinity, -2, 3), 0.6), 2.0, 1800.0)
        step_time = gaps + np.where(click, dwell, 0.0) + np.where(cart, 20.0, 0.0) + np.where(buy, 60.0, 0.0)
        # Each impression starts when the previous step of its session ended.
        before = np.cumsum(step_time) - step_time
        first_of_session = np.cumsum(s_views) - s_views
        v_time = s_start[v_session] + before - before[first_of_session][v_session]
        day_limit = 86_399.0

        pay = np.round(cat["price"][v_item] * (1 - disc / 100.0), 2)
        qty = np.where(self._leaves["repeatable"].to_numpy()[cat["leaf"][v_item]], rng.integers(1, 4, n_views), 1)
        parts = []
        for kind, mask, t_shift, dwell_col in (
            ("view", np.ones(n_views, bool), 0.0, None),
            ("click", click, 2.0, dwell),
            ("add_to_cart", cart, 2.0 + dwell + 5.0, None),
            ("purchase", buy, 2.0 + dwell + 45.0, None),
        ):
            i = np.flatnonzero(mask)
            shift = t_shift[i] if isinstance(t_shift, np.ndarray) else t_shift
            parts.append(
                pd.DataFrame(
                    dict(
                        sess=v_session[i],
                        t=np.minimum(v_time[i] + shift, day_limit),
                        rank=np.full(len(i), ("view", "click", "add_to_cart", "purchase").index(kind)),
                        user=v_user[i],
                        event_type=kind,
                        item=v_item[i],
                        price=pay[i],
                        quantity=qty[i] if kind == "purchase" else np.full(len(i), np.nan),
                        dwell_seconds=np.round(dwell_col[i], 1) if dwell_col is not None else np.full(len(i), np.nan),
                    )
                )
            )
        ev = pd.concat(parts, ignore_index=True).sort_values(["t", "sess", "rank"], kind="stable").reset_index(drop=True)
        stamp = day.strftime("%Y%m%d")
        midnight = np.datetime64(datetime(day.year, day.month, day.day))
        frame = pd.DataFrame(
            dict(
                event_id=_ids(f"E{stamp}-", np.arange(len(ev)), 7),
                event_time=midnight + (ev["t"].to_numpy() * 1000).astype("timedelta64[ms]"),
                user_id=u["raw_id"][ev["user"].to_numpy()],
                session_id=_ids(f"S{stamp}-", ev["sess"].to_numpy(), 6),
                event_type=ev["event_type"].to_numpy(dtype=object),
                item_id=_ids("P", ev["item"].to_numpy(), 6),
                price=ev["price"].to_numpy(),
                quantity=ev["quantity"].to_numpy(),
                dwell_seconds=ev["dwell_seconds"].to_numpy(),
                device=s_device[ev["sess"].to_numpy()],
            )
        )
        return self._corrupt(frame, day)

    def _corrupt(self, frame: pd.DataFrame, day: date) -> pd.DataFrame:
        """Break `dirty_rate` of the rows the way trackers do (own random stream, so the
        clean rows are identical whatever the rate)."""
        rate = self.config.dirty_rate
        if rate <= 0 or frame.empty:
            return frame
        rng = self._rng(7, day.toordinal())
        rows = np.flatnonzero(rng.random(len(frame)) < rate)
        kind = rng.integers(0, 4, len(rows))
        frame.loc[rows[kind == 0], "user_id"] = None
        frame.loc[rows[kind == 1], "price"] = -frame.loc[rows[kind == 1], "price"].abs() - 1.0
        frame.loc[rows[kind == 2], "event_type"] = "wishlist"
        frame.loc[rows[kind == 3], "dwell_seconds"] = 90_000.0
        return frame

    @staticmethod
    def _empty_events() -> pd.DataFrame:
        return pd.DataFrame(
            dict(event_id=pd.Series(dtype=object), event_time=pd.Series(dtype="datetime64[ns]"),
                 user_id=pd.Series(dtype=object), session_id=pd.Series(dtype=object),
                 event_type=pd.Series(dtype=object), item_id=pd.Series(dtype=object),
                 price=pd.Series(dtype=float), quantity=pd.Series(dtype=float),
                 dwell_seconds=pd.Series(dtype=float), device=pd.Series(dtype=object))
        )

    # ---------------------------------------------------------- support tickets
    def faq(self) -> pd.DataFrame:
        """The canonical FAQ (the `faq` entity): one row per intent and language, the
        intent as its answer id, the question in its plainest form."""
        rows = []
        updated = pd.Timestamp(self.config.start)
        for intent, topic, en_cores, zh_cores, en_answer, zh_answer, _ in V.FAQ_INTENTS:
            en_answer, zh_answer = V.ACCOUNT_ANSWERS.get(intent, (en_answer, zh_answer))
            for language, cores, answer in (("en", en_cores, en_answer), ("zh", zh_cores, zh_answer)):
                rows.append(dict(answer_id=intent, language=language, category=topic, updated_at=updated,
                                 question=V.QUESTION_TEMPLATES[language][0].format(core=cores[0]), answer=answer))
        return pd.DataFrame(rows)

    def support_tickets(self) -> pd.DataFrame:
        """Customer questions paraphrasing the FAQ intents, with the agent's answer.
        Some customers type their e-mail or phone number into the question."""
        cfg, u = self.config, self._users
        rng = self._rng(6)
        n = cfg.support_tickets
        intents = V.FAQ_INTENTS
        intent_p = (np.arange(len(intents)) + 1.0) ** -0.8
        intent_idx = rng.permutation(len(intents))[rng.choice(len(intents), n, p=intent_p / intent_p.sum())]
        user = rng.choice(cfg.n_users, n, p=u["activity"] / u["activity"].sum())
        created = np.datetime64(cfg.start) + (rng.random(n) * cfg.n_days * 86_400).astype("timedelta64[s]")
        products = self.products()
        raw_users = self.users()
        rows = []
        for k in range(n):
            intent, topic, en_cores, zh_cores, en_answer, zh_answer, mentions_product = intents[intent_idx[k]]
            lang = u["language"][user[k]]
            cores = en_cores if lang == "en" else zh_cores
            core = cores[rng.integers(len(cores))]
            item_id = None
            if mentions_product and rng.random() < 0.5:
                p = products.iloc[rng.integers(len(products))]
                item_id = p["item_id"]
                product = p["title_en"] if lang == "en" else p["title_zh"]
                templates = V.PRODUCT_QUESTION_TEMPLATES[lang]
                body = templates[rng.integers(len(templates))].format(product=product, core=core)
            else:
                templates = V.QUESTION_TEMPLATES[lang]
                body = templates[rng.integers(len(templates))].format(core=core)
            greeting = V.GREETINGS[lang][rng.integers(len(V.GREETINGS[lang]))]
            closing = V.CLOSINGS[lang][rng.integers(len(V.CLOSINGS[lang]))]
            if lang == "en" and greeting and rng.random() < 0.5:
                body = body[0].lower() + body[1:]
            question = greeting + body + closing
            r = rng.random()
            if r < 0.04:
                question += f" My email is {raw_users['email'].iloc[user[k]]}." if lang == "en" else f"我的邮箱是{raw_users['email'].iloc[user[k]]}。"
            elif r < 0.08:
                question += f" Call me on {raw_users['phone'].iloc[user[k]]}." if lang == "en" else f"我的电话是{raw_users['phone'].iloc[user[k]]}。"
            rows.append(
                dict(
                    ticket_id=f"T{k:07d}",
                    user_id=u["raw_id"][user[k]],
                    created_at=created[k],
                    language=lang,
                    channel=("chat", "email", "app")[rng.integers(3)],
                    question=question,
                    answer=en_answer if lang == "en" else zh_answer,
                    intent=intent,
                    item_id=item_id,
                )
            )
        frame = pd.DataFrame(rows).sort_values("created_at", kind="stable").reset_index(drop=True)
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame
