#!/usr/bin/env python
"""Off-policy evaluation against the exact truth of the demo shop's hidden response model.

A logging policy (70% uniform, 30% a LinUCB fit on a small pilot) shows copy variants; an
evaluation policy (LinUCB fit on a larger pilot, 10% exploration) is valued from those
logs by every estimator in `ml/bandits/ope.py`, with a cross-fitted logistic reward model
on the policy's observable features. The truth is the exact expected click rate of the
evaluation policy on the same impressions (`CopyResponse.expected_reward`). Per logged
size and over seeds: relative bias, relative RMSE, and how often the 95% bootstrap
interval covers the truth. Writes bench/results/ope.json.

    .venv/bin/python bench/ope.py [--seeds 50] [--sizes 1e3,1e4,1e5] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import write_result  # noqa: E402

from ecom_assets.ml.bandits.ope import LoggedRounds, cross_fitted_rewards, diagnostics, estimate_all  # noqa: E402
from ecom_assets.ml.bandits.policies import LinUCB, sample_actions  # noqa: E402
from ecom_assets.sources.response import ARMS, CopyResponse  # noqa: E402
from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop  # noqa: E402

START = date(2026, 10, 1)


def _fit(response: CopyResponse, day: date, n: int, seed: int, epsilon: float) -> LinUCB:
    """A LinUCB fit on a uniformly logged pilot of n impressions."""
    ctx = response.contexts(day, n)
    x = response.observable_features(ctx)
    rng = np.random.default_rng(seed)
    shown = rng.integers(0, len(ARMS), n)
    clicks = response.respond(ctx, shown, rng)["clicked"].to_numpy(float)
    return LinUCB(dim=x.shape[2], n_actions=len(ARMS), alpha=0.3, epsilon=epsilon).update(shown, clicks, features=x)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--sizes", default="1e3,1e4,1e5")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]

    response = CopyResponse(SyntheticShop(ShopConfig()))
    old = _fit(response, START, 2_000, seed=1, epsilon=0.0)
    new = _fit(response, START + timedelta(days=1), 30_000, seed=2, epsilon=0.1)
    rows, t0 = [], time.perf_counter()
    for n in sizes:
        for seed in range(args.seeds):
            ctx = response.contexts(START + timedelta(days=2 + seed), n)
            x = response.observable_features(ctx)
            logging = 0.7 / len(ARMS) + 0.3 * old.action_dist(x)[:, :, 0]
            evaluation = new.action_dist(x)
            rng = np.random.default_rng(1000 + seed)
            actions, pscore = sample_actions(logging, rng)
            clicks = response.respond(ctx, actions, rng)["clicked"].to_numpy(float)
            truth = response.expected_reward(ctx, evaluation)
            logged_value = response.expected_reward(ctx, logging)
            rounds = LoggedRounds.of(clicks, actions, pscore)
            q = cross_fitted_rewards(None, rounds, n_actions=len(ARMS), joint_features=x, seed=seed)
            diag = diagnostics(rounds, evaluation)
            for e in estimate_all(rounds, evaluation, q, n_bootstrap=args.bootstrap, seed=seed):
                rows.append(dict(rounds=n, seed=seed, estimator=e.estimator, estimate=e.value, lower=e.lower,
                                 upper=e.upper, truth=truth, logging_value=logged_value, ess_share=diag["ess_share"],
                                 max_weight=diag["max_weight"]))
        print(f"  {n:>7,} rounds x {args.seeds} seeds done ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    table["relative_error"] = (table["estimate"] - table["truth"]) / table["truth"]
    table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    summary = (table.groupby(["rounds", "estimator"])
               .agg(relative_bias=("relative_error", "mean"),
                    relative_rmse=("relative_error", lambda e: float(np.sqrt(np.mean(e ** 2)))),
                    coverage_95=("covered", "mean"), mean_truth=("truth", "mean"),
                    mean_logging_value=("logging_value", "mean"), ess_share=("ess_share", "mean"))
               .reset_index())
    print(summary.round(4).to_string(index=False))
    largest = summary[summary["rounds"] == max(sizes)].set_index("estimator")
    targets = {
        f"{name} within 5% at {max(sizes):,} rounds (relative RMSE)": bool(largest.loc[name, "relative_rmse"] <= 0.05)
        for name in ("dr", "snipw")
    } | {f"{name} 95% interval covers in >= 90% of seeds": bool(largest.loc[name, "coverage_95"] >= 0.9)
         for name in ("dr", "snipw")}
    for what, met in targets.items():
        print(f"  {'met' if met else 'MISSED'}: {what}")
    path = write_result("ope", {"seeds": args.seeds, "sizes": sizes, "bootstrap": args.bootstrap,
                                "summary": summary.to_dict(orient="records"), "targets": targets,
                                "seconds": round(time.perf_counter() - t0, 1)})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
