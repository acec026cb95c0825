"""The demo shop's hidden response to copy impressions: seeded, position-biased, drifting,
and with an exact expected reward that simulated clicks agree with."""

from dataclasses import replace

import numpy as np
import pytest

from ecom_assets.sources.response import ARMS, CopyResponse
from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop

SHOP = SyntheticShop(ShopConfig(n_users=400, n_items=150, seed=3))


def test_contexts_are_seeded_by_day():
    r = CopyResponse(SHOP)
    a, b = r.contexts("2026-10-05", 500), r.contexts("2026-10-05", 500)
    assert np.array_equal(a.user, b.user) and np.array_equal(a.item, b.item) and np.array_equal(a.position, b.position)
    assert not np.array_equal(a.user, r.contexts("2026-10-06", 500).user)


def test_the_exact_value_of_a_policy_is_what_simulated_clicks_average_to():
    r = CopyResponse(SHOP)
    ctx = r.contexts("2026-10-05", 200_000)
    rng = np.random.default_rng(0)
    uniform = np.full((len(ctx), len(ARMS)), 1 / len(ARMS))
    truth = r.expected_reward(ctx, uniform)
    shown = rng.integers(0, len(ARMS), len(ctx))
    clicks = r.respond(ctx, shown, rng)["clicked"].mean()
    assert abs(clicks - truth) < 3 * np.sqrt(truth * (1 - truth) / len(ctx)), (clicks, truth)
    revenue = r.expected_reward(ctx, uniform, reward="revenue")
    assert revenue > 0 and r.expected_reward(ctx, uniform, reward="purchase") < truth


def test_slots_are_examined_less_the_lower_they_are():
    r = CopyResponse(SHOP)
    ctx = r.contexts("2026-10-05", 100)
    top, third = replace(ctx, position=np.ones(100, int)), replace(ctx, position=np.full(100, 3))
    np.testing.assert_allclose(r.click_probability(third) / r.click_probability(top), 3 ** -0.7)


def test_copy_in_the_shoppers_language_is_clicked_more():
    r = CopyResponse(SHOP)
    ctx = r.contexts("2026-10-05", 5_000)
    p = r.click_probability(ctx)
    language = SHOP._users["language"][ctx.user]
    own = np.where(language[:, None] == ARMS["language"].to_numpy()[None, :], p, np.nan)
    other = np.where(language[:, None] != ARMS["language"].to_numpy()[None, :], p, np.nan)
    assert np.nanmean(own) > 1.5 * np.nanmean(other)


def test_drift_changes_which_copy_works():
    steady = CopyResponse(SHOP)
    drifted = CopyResponse(SyntheticShop(replace(SHOP.config, drift_date="2026-10-10", drift_strength=1.0)))
    before, after = steady.contexts("2026-10-12", 20_000), drifted.contexts("2026-10-12", 20_000)
    assert not np.allclose(steady.click_probability(before).mean(axis=0), drifted.click_probability(after).mean(axis=0),
                           rtol=0.05)


def test_features_show_the_policy_only_what_it_may_see():
    r = CopyResponse(SHOP)
    ctx = r.contexts("2026-10-05", 50)
    x = r.observable_features(ctx)
    assert x.shape[:2] == (50, len(ARMS)) and np.isfinite(x).all()
    with pytest.raises(AttributeError):
        ctx.price_sensitivity  # latent tastes are the shop's, not the context's


def test_a_list_s_exact_value_is_what_simulated_visits_average_to():
    from ecom_assets.sources.response import ListResponse

    r, rng = ListResponse(SHOP), np.random.default_rng(1)
    day = SHOP.config.days[-1]
    users = rng.integers(0, SHOP.config.n_users, 40_000)
    lists = rng.integers(0, SHOP.config.n_items, (len(users), 10))
    lists[:, -2:] = -1  # empty slots draw nothing
    exact = r.expected(users, lists, day)
    drawn = r.respond(users, lists, day, rng)
    assert (r.click_probability(users, lists, day)[:, -2:] == 0).all()
    se = drawn["clicks"].std() / np.sqrt(len(users))
    assert abs(drawn["clicks"].mean() - exact["clicks"].mean()) < 4 * se
    se_any = np.sqrt(exact["any_click"].mean() * (1 - exact["any_click"].mean()) / len(users))
    assert abs(drawn["converted"].mean() - exact["any_click"].mean()) < 4 * se_any
    assert 0 < drawn["revenue"].mean() and (drawn["purchases"] <= drawn["clicks"]).all()


def test_a_list_of_what_a_user_likes_draws_more_clicks_than_one_of_what_they_do_not():
    from ecom_assets.sources.response import ListResponse

    r, day = ListResponse(SHOP), SHOP.config.days[-1]
    users = np.arange(200)
    every_item = np.broadcast_to(np.arange(SHOP.config.n_items), (len(users), SHOP.config.n_items))
    affinity = SHOP.affinity(users, every_item, day) + np.where(SHOP.available(every_item, day), 0, -99)
    order = np.argsort(-affinity, axis=1)
    best, worst = order[:, :10], order[:, -10:]
    assert r.expected(users, best, day)["clicks"].mean() > 2 * r.expected(users, worst, day)["clicks"].mean()


def test_a_simulated_test_of_two_strategies_splits_users_and_reads_each_arm():
    from ecom_assets.sources.response import ListResponse, simulate_list_test

    users = np.arange(300)
    lists = {"a": np.tile(np.arange(10), (300, 1)), "b": np.tile(np.arange(10, 20), (300, 1))}
    exact, per_user = simulate_list_test(ListResponse(SHOP), users, np.array([f"u{i}" for i in users]), lists,
                                         SHOP.config.days[-3], ["a", "b"], "salt", visits=3, seed=0)
    assert set(exact["strategy"]) == {"a", "b"} and len(per_user) == 300
    assert 0.35 < (per_user["arm"] == "a").mean() < 0.65 and set(per_user["converted"]) <= {0, 1}
    assert (per_user["clicks"] >= per_user["converted"]).all()
    with pytest.raises(ValueError, match=r"A/B arms \['c'\]"):
        simulate_list_test(ListResponse(SHOP), users, users.astype(str), lists, SHOP.config.days[-3], ["a", "c"],
                           "salt", visits=1, seed=0)
