#!/usr/bin/env python
"""Policies learning on the demo shop's hidden response model: regret curves and update time.

Each policy shows copy variants for `--days` simulated days of `--per-day` impressions,
updated once a day from that day's logs (as the daily asset would). Per day: its exact
expected click rate on the day's impressions (`CopyResponse.expected_reward`), the
oracle's (the best arm per impression, knowing the hidden truth) and uniform choice's;
cumulative regret against the oracle. Also the time to update each policy from 1e6
logged impressions. Writes bench/results/bandit.json.

    .venv/bin/python bench/bandit.py [--days 30] [--per-day 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import write_result  # noqa: E402

from ecom_assets.ml.bandits.policies import BernoulliTS, EpsilonGreedy, LinearTS, LinUCB, Uniform  # noqa: E402
from ecom_assets.sources.response import ARMS, CopyResponse  # noqa: E402
from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop  # noqa: E402

START = date(2026, 10, 1)


def _policies(dim: int) -> dict:
    k = len(ARMS)
    return {
        "uniform": Uniform(k),
        "epsilon_greedy": EpsilonGreedy(k, epsilon=0.1),
        "bernoulli_ts": BernoulliTS(k, n_sim=4_000, seed=0),
        "lin_ucb": LinUCB(dim=dim, n_actions=k, alpha=0.3, epsilon=0.02),
        "linear_ts": LinearTS(dim=dim, n_actions=k, v=0.2, n_sim=100, seed=0, epsilon=0.02),
    }


def _update_seconds(dim: int, n: int = 1_000_000) -> dict:
    rng = np.random.default_rng(0)
    actions = rng.integers(0, len(ARMS), n)
    clicks = (rng.random(n) < 0.06).astype(float)
    shown = rng.normal(size=(n, dim))  # the shown arm's features, as the log stores them
    out = {}
    for name, policy in _policies(dim).items():
        t0 = time.perf_counter()
        if name in ("lin_ucb", "linear_ts"):
            policy.A = policy.A + shown.T @ shown
            policy.b = policy.b + shown.T @ clicks
            _ = policy.theta
        else:
            policy.update(actions, clicks)
        out[name] = round(time.perf_counter() - t0, 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    response = CopyResponse(SyntheticShop(ShopConfig(seed=7 + args.seed)))
    probe = response.observable_features(response.contexts(START, 2))
    policies = _policies(probe.shape[2])
    curves = {name: [] for name in policies}
    oracle_curve, uniform_curve = [], []
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    for d in range(args.days):
        ctx = response.contexts(START + timedelta(days=d), args.per_day)
        x = response.observable_features(ctx)
        p = response.click_probability(ctx)
        oracle_curve.append(float(p.max(axis=1).mean()))
        uniform_curve.append(float(p.mean()))
        for name, policy in policies.items():
            dist = policy.action_dist(x if name in ("lin_ucb", "linear_ts") else len(ctx))
            curves[name].append(response.expected_reward(ctx, dist))
            actions, _ = policy.choose(x if name in ("lin_ucb", "linear_ts") else len(ctx), rng)
            clicks = response.respond(ctx, actions, rng)["clicked"].to_numpy(float)
            policy.update(actions, clicks, features=x)
    oracle, uniform = np.array(oracle_curve), np.array(uniform_curve)
    result = {"days": args.days, "per_day": args.per_day, "seed": args.seed, "oracle_click_rate": oracle.tolist(),
              "uniform_click_rate": uniform.tolist(), "policies": {}}
    print(f"{'policy':<16} {'last-day CTR':>12} {'share of oracle':>16} {'x uniform':>10} {'cum. regret':>12}")
    for name, curve in curves.items():
        c = np.array(curve)
        last = float(c[-3:].mean())
        regret = float(np.sum((oracle - c) * args.per_day))
        share = last / float(oracle[-3:].mean())
        result["policies"][name] = {"click_rate": c.tolist(), "last_days_click_rate": last, "share_of_oracle": share,
                                    "over_uniform": last / float(uniform[-3:].mean()), "cumulative_regret_clicks": regret}
        print(f"{name:<16} {last:>12.4f} {share:>16.1%} {last / uniform[-3:].mean():>10.2f} {regret:>12,.0f}")
    result["update_seconds_1e6"] = _update_seconds(probe.shape[2])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print("update from 1e6 logged impressions (s):", result["update_seconds_1e6"])
    ts = result["policies"]["linear_ts"]
    print(f"  {'met' if ts['share_of_oracle'] >= 0.9 else 'MISSED'}: linear TS >= 90% of the oracle "
          f"({ts['share_of_oracle']:.1%}), {ts['over_uniform']:.2f}x uniform")
    print(f"saved {write_result('bandit', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
