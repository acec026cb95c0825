"""The demo shop: deterministic by seed, realistic in shape, with a working drift knob."""


import pandas as pd
import pytest

from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop

CFG = ShopConfig(n_users=400, n_items=150, n_days=14, events_per_day=1500, support_tickets=300, seed=3, dirty_rate=0.0)


@pytest.fixture(scope="module")
def shop():
    return SyntheticShop(CFG)


@pytest.fixture(scope="module")
def events(shop):
    return pd.concat([shop.events_for_day(d) for d in CFG.days], ignore_index=True)


def test_same_seed_gives_identical_data():
    a, b = SyntheticShop(CFG), SyntheticShop(CFG)
    pd.testing.assert_frame_equal(a.products(), b.products())
    pd.testing.assert_frame_equal(a.users(), b.users())
    pd.testing.assert_frame_equal(a.events_for_day("2026-10-04"), b.events_for_day("2026-10-04"))
    pd.testing.assert_frame_equal(a.support_tickets(), b.support_tickets())


def test_a_day_does_not_depend_on_which_days_were_generated_before():
    fresh = SyntheticShop(CFG)
    warmed = SyntheticShop(CFG)
    warmed.events_for_day("2026-10-02")
    pd.testing.assert_frame_equal(fresh.events_for_day("2026-10-05"), warmed.events_for_day("2026-10-05"))


def test_other_seed_gives_other_data():
    other = SyntheticShop(ShopConfig(**{**CFG.__dict__, "seed": 4}))
    assert not other.events_for_day("2026-10-04").equals(SyntheticShop(CFG).events_for_day("2026-10-04"))


def test_catalogue_is_bilingual_with_a_real_category_tree(shop):
    products = shop.products()
    assert products["item_id"].is_unique and len(products) == CFG.n_items
    assert products["category_l2"].nunique() >= 20
    assert products["title_zh"].str.contains(r"[\u4e00-\u9fff]").all()
    assert products["description_zh"].str.contains(r"[\u4e00-\u9fff]").all()
    assert products["title_en"].str.match(r"^[A-Za-z]").all()
    assert (products["price"] > 0).all() and products["discount_pct"].between(0, 95).all()
    assert products["brand"].nunique() >= 12
    assert (products["launch_date"] > pd.Timestamp(CFG.start_date)).any(), "some items launch inside the window"


def test_users_carry_segments_and_personal_data_to_be_stripped(shop):
    users = shop.users()
    assert users["user_id"].is_unique and len(users) == CFG.n_users
    assert users["segment"].nunique() == 8
    assert {"name", "email", "phone"} <= set(users.columns)
    assert set(users["preferred_language"]) == {"en", "zh"}


def test_events_follow_the_funnel(events):
    counts = events["event_type"].value_counts()
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"] > 0
    assert events["event_id"].is_unique
    clicks = events[events["event_type"] == "click"]
    assert clicks["dwell_seconds"].notna().all() and (clicks["dwell_seconds"] > 0).all()
    # every purchase follows a cart of the same item in the same session
    carts = set(zip(events.loc[events.event_type == "add_to_cart", "session_id"], events.loc[events.event_type == "add_to_cart", "item_id"]))
    buys = list(zip(events.loc[events.event_type == "purchase", "session_id"], events.loc[events.event_type == "purchase", "item_id"]))
    assert all(b in carts for b in buys)


def test_event_volume_follows_the_knob(events):
    per_day = len(events) / CFG.n_days
    assert 0.8 * CFG.events_per_day < per_day < 1.25 * CFG.events_per_day


def test_popularity_is_long_tailed(events):
    views = events.loc[events.event_type == "view", "item_id"].value_counts()
    top_decile = views.head(max(1, len(views) // 10)).sum() / views.sum()
    assert top_decile > 0.3, f"top 10% of items get {top_decile:.0%} of views"


def test_users_buy_their_staples_again(events):
    buys = events[events.event_type == "purchase"]
    repeats = buys.groupby(["user_id", "item_id"]).size()
    assert (repeats > 1).sum() > 10


def test_drift_shifts_category_mix_after_the_drift_date():
    base = ShopConfig(**{**CFG.__dict__, "n_days": 20})
    drifted = ShopConfig(**{**base.__dict__, "drift_date": "2026-10-11", "drift_strength": 0.9})
    a, b = SyntheticShop(base), SyntheticShop(drifted)
    products = a.products().set_index("item_id")["category_l1"]

    def mix(shop, day):
        ev = shop.events_for_day(day)
        return ev["item_id"].map(products).value_counts(normalize=True)

    before = (mix(a, "2026-10-05") - mix(b, "2026-10-05")).abs().sum()
    after = (mix(a, "2026-10-15") - mix(b, "2026-10-15")).abs().sum()
    assert before == 0.0, "identical before the drift date"
    assert after > 0.15, f"category mix moved by {after:.2f} after the drift date"


def test_support_tickets_paraphrase_about_fifty_intents_in_both_languages(shop):
    tickets = shop.support_tickets()
    assert tickets["intent"].nunique() >= 45
    assert set(tickets["language"]) == {"en", "zh"}
    per_intent = tickets.groupby("intent")["question"].nunique()
    assert (per_intent > 1).mean() > 0.6, "most intents are asked in more than one way"
    assert tickets["answer"].notna().all()
    assert tickets["question"].str.contains("@|\\d{4}-\\d{4}").any(), "some customers type contact details"
    assert len(shop.faq()) == 100


def test_dirty_rows_break_one_field_each_and_leave_clean_rows_alone():
    clean = SyntheticShop(CFG).events_for_day("2026-10-06")
    dirty = SyntheticShop(ShopConfig(**{**CFG.__dict__, "dirty_rate": 0.02})).events_for_day("2026-10-06")
    changed = (clean.ne(dirty) & ~(clean.isna() & dirty.isna())).any(axis=1)
    assert 0.01 < changed.mean() < 0.03
    broken = dirty[changed]
    is_broken = (broken.user_id.isna() | (broken.price < 0) | (broken.event_type == "wishlist")
                 | (broken.dwell_seconds > 86_400))
    assert is_broken.all()


def test_config_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="n_items"):
        ShopConfig(n_items=5)
    with pytest.raises(ValueError, match="drift_strength"):
        ShopConfig(drift_strength=2.0)
