#!/usr/bin/env python
"""Off-policy evaluation on the Open Bandit Dataset, in the protocol of the Open Bandit
Pipeline's example (examples/obd): the Random campaign logs estimate the Bernoulli TS
policy; the truth is BTS's own on-policy click rate in its logs.

- Evaluation policy: Bernoulli TS with the production prior of the campaign, its
  (item, position) distribution by seeded Monte Carlo over `--n-sim` draws. The
  per-campaign Beta parameters are data published with the Open Bandit Pipeline
  (obp/policy/conf/prior_bts.yaml): pass that file with `--prior`.
- Reward model: logistic regression (C=100) on one-hot user features, the item's
  features and the slot, 3-fold cross-fitted (one model, the slot a feature; OBP fits one
  per slot).
- Switch-DR's threshold is the 95th percentile of the weights (OBP tunes it with SLOPE).
- `--runs` bootstrap resamples of the Random logs; per estimator the relative estimation
  error |estimate - truth| / truth, mean and standard deviation.

Also reported: the truth's own relative standard error, and the total-variation distance
between the Monte Carlo BTS distribution and the empirical item x slot frequencies of the
BTS logs (the estimate is only as good as that distribution). Writes
bench/results/ope_obd.json.

    .venv/bin/python bench/ope_obd.py --prior <obp>/policy/conf/prior_bts.yaml \\
        [--path ../shared/data/open-bandit] [--campaigns men,women] [--runs 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import write_result  # noqa: E402

from ecom_assets.ml.bandits.ope import ESTIMATORS, LoggedRounds, cross_fitted_rewards, diagnostics, estimate  # noqa: E402
from ecom_assets.ml.bandits.policies import BernoulliTS  # noqa: E402

# OBP's example on the "all" campaign, logistic reward model, 30 runs (its README).
PUBLISHED_ALL = {"dm": 0.157, "ipw": 0.311, "snipw": 0.312, "dr": 0.292, "sndr": 0.302, "switch-dr": 0.258}


def _load(path: Path, policy: str, campaign: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = path / policy / campaign
    logs = pd.read_csv(folder / f"{campaign}.csv", index_col=0).sort_values("timestamp").reset_index(drop=True)
    items = pd.read_csv(folder / "item_context.csv", index_col=0)
    return logs, items


def _features(logs: pd.DataFrame, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    user = pd.get_dummies(logs.filter(like="user_feature"), drop_first=True).to_numpy(float)
    cats = items.drop(columns=["item_id", "item_feature_0"]).apply(lambda c: pd.factorize(c)[0])
    item = np.column_stack([cats.to_numpy(float), items["item_feature_0"].to_numpy(float)])
    return user, item


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default=str(ROOT.parent / "shared" / "data" / "open-bandit"))
    parser.add_argument("--prior", required=True, help="the Open Bandit Pipeline's prior_bts.yaml")
    parser.add_argument("--campaigns", default="men,women")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--n-sim", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    path, prior = Path(args.path), yaml.safe_load(Path(args.prior).read_text())
    out, t0 = {"runs": args.runs, "n_sim": args.n_sim, "published_all_campaign": PUBLISHED_ALL, "campaigns": {}}, time.perf_counter()
    for campaign in args.campaigns.split(","):
        random_logs, items = _load(path, "random", campaign)
        bts_logs, _ = _load(path, "bts", campaign)
        n_items = len(items)
        positions = np.sort(random_logs["position"].unique())
        len_list = len(positions)
        slot = {p: k for k, p in enumerate(positions)}
        bts = BernoulliTS(n_items, len_list=len_list, alpha=prior[campaign]["alpha"], beta=prior[campaign]["beta"],
                          n_sim=args.n_sim, seed=args.seed)
        dist_single = bts.slot_probabilities()  # (items, slots)
        truth = float(bts_logs["click"].mean())
        truth_rse = float(np.sqrt(truth * (1 - truth) / len(bts_logs)) / truth)
        empirical = np.zeros_like(dist_single)
        np.add.at(empirical, (bts_logs["item_id"].to_numpy(), bts_logs["position"].map(slot).to_numpy()), 1.0)
        empirical /= empirical.sum(axis=0, keepdims=True)
        tv = float(0.5 * np.abs(dist_single - empirical).sum(axis=0).mean())
        user, item_ctx = _features(random_logs, items)
        errors = {name: [] for name in ESTIMATORS}
        ess = []
        for run in range(args.runs):
            rng = np.random.default_rng(run)
            idx = rng.integers(0, len(random_logs), len(random_logs))
            logs = random_logs.iloc[idx]
            rounds = LoggedRounds.of(logs["click"].to_numpy(float), logs["item_id"].to_numpy(),
                                     logs["propensity_score"].to_numpy(), logs["position"].map(slot).to_numpy())
            dist = np.broadcast_to(dist_single[None], (len(rounds), n_items, len_list))
            from sklearn.linear_model import LogisticRegression

            q = cross_fitted_rewards(user[idx], rounds, n_actions=n_items, len_list=len_list, action_context=item_ctx,
                                     seed=args.seed, make_model=lambda: LogisticRegression(C=100, max_iter=10_000))
            w = diagnostics(rounds, dist)
            ess.append(w["ess_share"])
            tau = float(np.percentile(dist[np.arange(len(rounds)), rounds.action, rounds.position] / rounds.pscore, 95))
            for name in ESTIMATORS:
                errors[name].append(abs(estimate(name, rounds, dist, q, tau=tau) - truth) / truth)
        table = {name: {"mean": float(np.mean(e)), "std": float(np.std(e))} for name, e in errors.items()}
        out["campaigns"][campaign] = {"truth_bts_on_policy_ctr": truth, "truth_relative_standard_error": truth_rse,
                                      "random_logging_ctr": float(random_logs["click"].mean()),
                                      "bts_distribution_tv_to_bts_logs": tv, "ess_share": float(np.mean(ess)),
                                      "relative_estimation_error": table}
        print(f"\n{campaign}: truth (BTS on-policy CTR) {truth:.4f} (relative SE {truth_rse:.1%}); random logs CTR "
              f"{random_logs['click'].mean():.4f}; TV(MC BTS, BTS logs) {tv:.3f}; ESS share {np.mean(ess):.3f}")
        print(f"{'estimator':<10} {'rel. error':>10} {'std':>7} {'OBP all':>8}")
        for name, r in table.items():
            print(f"{name:<10} {r['mean']:>10.3f} {r['std']:>7.3f} {PUBLISHED_ALL[name]:>8.3f}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"saved {write_result('ope_obd', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
