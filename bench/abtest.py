#!/usr/bin/env python
"""A/B read-outs under simulation: false positives of A/A tests (looked at once, and daily
with and without always-valid p-values), power at the planned effect, and the
sample-ratio-mismatch check on a 1-point traffic imbalance. Writes bench/results/abtest.json.

    .venv/bin/python bench/abtest.py [--aa 500] [--users 5000] [--baseline 0.08]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import write_result  # noqa: E402

from ecom_assets.ml.bandits.abtest import always_valid_pvalues, minimum_detectable_effect, readout, srm_check  # noqa: E402


def _per_user(rng, n, rates):
    arms = np.repeat(list(rates), n)
    converted = np.concatenate([rng.random(n) < p for p in rates.values()]).astype(int)
    return pd.DataFrame({"arm": arms, "converted": converted, "revenue": converted * rng.exponential(20.0, len(arms))})


def _looks(rng, days, per_day, p_a, p_b):
    a, b = rng.random((days, per_day)) < p_a, rng.random((days, per_day)) < p_b
    n = per_day * np.arange(1, days + 1)
    sa, sb = a.sum(axis=1).cumsum(), b.sum(axis=1).cumsum()
    return pd.DataFrame({"n_a": n, "sum_a": sa, "sumsq_a": sa, "n_b": n, "sum_b": sb, "sumsq_b": sb})


def main() -> int:
    from statsmodels.stats.proportion import proportions_ztest

    parser = argparse.ArgumentParser()
    parser.add_argument("--aa", type=int, default=500)
    parser.add_argument("--users", type=int, default=5_000, help="per arm")
    parser.add_argument("--baseline", type=float, default=0.08)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    rng, t0 = np.random.default_rng(0), time.perf_counter()
    rates = {"a": args.baseline, "b": args.baseline}
    fpr = float(np.mean([readout(_per_user(rng, args.users, rates), control="a").iloc[1]["p_value"] < 0.05
                         for _ in range(args.aa)]))
    mde = minimum_detectable_effect(args.baseline, args.users)
    power = float(np.mean([readout(_per_user(rng, args.users, {"a": args.baseline, "b": args.baseline + mde}),
                                   control="a").iloc[1]["p_value"] < 0.05 for _ in range(args.aa)]))
    per_day = args.users // args.days
    naive, valid = [], []
    for _ in range(args.aa):
        looks = _looks(rng, args.days, per_day, args.baseline, args.baseline)
        naive.append(min(proportions_ztest([r.sum_b, r.sum_a], [r.n_b, r.n_a])[1] for r in looks.itertuples()) < 0.05)
        valid.append(always_valid_pvalues(looks)[-1] < 0.05)
    srm = srm_check({"a": 50_500, "b": 49_500})
    result = {"aa_tests": args.aa, "users_per_arm": args.users, "baseline": args.baseline,
              "aa_false_positive_rate": fpr, "planned_effect_absolute": mde, "power_at_planned_effect": power,
              "daily_looks": args.days, "aa_fpr_daily_peeking_z_test": float(np.mean(naive)),
              "aa_fpr_daily_peeking_always_valid": float(np.mean(valid)),
              "srm_1pt_imbalance_at_1e5": srm, "seconds": round(time.perf_counter() - t0, 1)}
    print(f"A/A false-positive rate ({args.aa} tests, {args.users:,} users per arm): {fpr:.3f}")
    print(f"power at the planned effect (+{mde:.4f} on {args.baseline}): {power:.3f}")
    print(f"daily peeking over {args.days} days: z-test FPR {np.mean(naive):.3f}, always-valid FPR {np.mean(valid):.3f}")
    print(f"SRM on 50,500 / 49,500: p = {srm['p_value']:.4f}, flagged {srm['mismatch']}")
    print(f"saved {write_result('abtest', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
