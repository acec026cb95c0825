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
