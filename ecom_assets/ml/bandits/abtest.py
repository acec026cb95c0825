"""A/B read-outs: who sees which arm, what each arm did, and whether the difference is
real, with tests that stay honest when the read-out is looked at every day.

    assign(users, arms, salt)          deterministic salted assignment (a user keeps an arm)
    readout(per_user, control)         per arm: users, conversion, revenue per user; against
                                       control: lift with a 95% interval and p-value
                                       (statsmodels), and an always-valid p-value
    srm_check(counts, weights)         sample-ratio mismatch (chi-square)
    minimum_detectable_effect / power  for a planned size (statsmodels power analysis)
    always_valid_pvalues(...)          mixture sequential probability ratio test (mSPRT;
                                       Johari, Pekelis and Walsh, "Always Valid Inference",
                                       2017): p-values valid at every look
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SRM_ALPHA = 0.01


def assign(users, arms: list[str], salt: str, weights: list[float] | None = None) -> np.ndarray:
    """The arm of each user: sha256(salt:user) read as a number in [0, 1) and cut by the
    arms' cumulative weights. Deterministic (a returning user sees the same arm), and a new
    salt per experiment decorrelates experiments."""
    weights = np.full(len(arms), 1.0 / len(arms)) if weights is None else np.asarray(weights, dtype=float)
    if len(weights) != len(arms) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError("weights must be one non-negative share per arm, summing to 1")
    u = np.array([int.from_bytes(hashlib.sha256(f"{salt}:{user}".encode()).digest()[:8], "big") / 2.0**64
                  for user in users])
    return np.asarray(arms, dtype=object)[np.searchsorted(np.cumsum(weights), u, side="right").clip(max=len(arms) - 1)]


def srm_check(counts: dict[str, int], weights: dict[str, float] | None = None, alpha: float = SRM_ALPHA) -> dict:
    """Do the arms' user counts match the planned split? A chi-square goodness-of-fit test;
    a mismatch means the assignment or the logging is broken, and no lift can be trusted."""
    from scipy.stats import chisquare

    arms = list(counts)
    observed = np.array([counts[a] for a in arms], dtype=float)
    share = np.array([1.0 / len(arms)] * len(arms)) if weights is None else np.array([weights[a] for a in arms])
    stat, p = chisquare(observed, share / share.sum() * observed.sum())
    return {"chi2": float(stat), "p_value": float(p), "mismatch": bool(p < alpha), "alpha": alpha,
            "observed_share": dict(zip(arms, (observed / observed.sum()).round(5).tolist()))}


def minimum_detectable_effect(baseline: float, n_per_arm: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest absolute lift in a conversion rate detectable with this power (two-sided
    z-test on proportions, Cohen's h), for `n_per_arm` users in each of two arms."""
    from statsmodels.stats.power import NormalIndPower

    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_per_arm, alpha=alpha, power=power, ratio=1.0)
    # h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))  ->  p1
    p1 = np.sin(np.arcsin(np.sqrt(baseline)) + h / 2) ** 2
    return float(p1 - baseline)


def power(baseline: float, lift: float, n_per_arm: int, alpha: float = 0.05) -> float:
    """The probability of detecting an absolute `lift` over `baseline` with n users per arm."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = abs(proportion_effectsize(baseline + lift, baseline))
    return float(NormalIndPower().power(effect_size=h, nobs1=n_per_arm, alpha=alpha, ratio=1.0))


def always_valid_pvalues(looks: pd.DataFrame, tau: float | None = None) -> np.ndarray:
    """mSPRT p-values for the difference of two arms' means, one per look.

    `looks` has one row per look (e.g. per day) with the cumulative per-arm sums: n_a,
    sum_a, sumsq_a, n_b, sum_b, sumsq_b. The observed difference d = mean_b - mean_a has
    variance W = var_a / n_a + var_b / n_b (any allocation, not only equal arms); with a
    normal mixture N(0, tau^2) over the true difference the likelihood ratio is

        L = sqrt(W / (W + tau^2)) exp(tau^2 d^2 / (2 W (W + tau^2)))

    (with equal arms of n and W = V / n this is Johari et al.'s two-sample form), and
    p = min over looks so far of min(1, 1 / L): under no difference, the chance that p ever
    drops below alpha is at most alpha, however often one looks. tau defaults to the
    standard deviation of one observation pair, sqrt(var_a + var_b) (scale-free; a planned
    effect is the better choice when there is one)."""
    n_a, n_b = looks["n_a"].to_numpy(float), looks["n_b"].to_numpy(float)
    mean_a, mean_b = looks["sum_a"] / n_a, looks["sum_b"] / n_b
    var_a = (looks["sumsq_a"] / n_a - mean_a ** 2).clip(lower=1e-12).to_numpy()
    var_b = (looks["sumsq_b"] / n_b - mean_b ** 2).clip(lower=1e-12).to_numpy()
    w = var_a / n_a + var_b / n_b
    d = (mean_b - mean_a).to_numpy()
    t2 = (var_a + var_b) if tau is None else np.full_like(w, tau ** 2)
    log_l = 0.5 * np.log(w / (w + t2)) + t2 * d ** 2 / (2 * w * (w + t2))
    p = np.minimum(1.0, np.exp(-log_l))
    return np.minimum.accumulate(p)


def daily_looks(per_user_day: pd.DataFrame, control: str, treated: str) -> pd.DataFrame:
    """The cumulative looks `always_valid_pvalues` reads, one per day, from per-user-day
    outcomes (columns user_id, day, arm, converted 0/1): as of each day, each user's best
    outcome so far, summed per arm."""
    rows = []
    for day in sorted(per_user_day["day"].unique()):
        upto = per_user_day[per_user_day["day"] <= day].groupby(["user_id", "arm"])["converted"].max().reset_index()
        a, b = upto.loc[upto["arm"] == control, "converted"], upto.loc[upto["arm"] == treated, "converted"]
        # Outcomes are 0/1, so the sum of squares is the sum.
        rows.append(dict(n_a=len(a), sum_a=a.sum(), sumsq_a=a.sum(), n_b=len(b), sum_b=b.sum(), sumsq_b=b.sum()))
    return pd.DataFrame(rows)


def _interval(count: int, n: int, c_count: int, c_n: int, compare: str, alpha: float) -> tuple[float, float]:
    """The score interval, or the Wald one where the score equation has no root (a rate of
    0 or 1 in small arms), or no interval at all."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    for method in ("score", "wald"):
        try:
            low, high = confint_proportions_2indep(count, n, c_count, c_n, compare=compare, method=method, alpha=alpha)
            return float(low), float(high)
        except (ValueError, ZeroDivisionError, FloatingPointError):
            continue
    return float("nan"), float("nan")


def _cumulative(values: pd.Series) -> dict:
    x = values.to_numpy(dtype=float)
    return {"n": len(x), "sum": float(x.sum()), "sumsq": float((x ** 2).sum())}


def readout(per_user: pd.DataFrame, control: str, alpha: float = 0.05, weights: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per arm from per-user outcomes (columns arm, converted 0/1, revenue): users,
    conversions, conversion rate, revenue per user; against `control`, the absolute and
    relative lift in conversion with a (1 - alpha) interval (Newcombe's score interval for a
    difference, Koopman's for the ratio), the two-sided z-test p-value, the revenue-per-user
    difference with a Welch interval, and the always-valid p-value at this look. The
    sample-ratio check of the whole experiment is in each row (`srm_p_value`)."""
    from statsmodels.stats.proportion import proportions_ztest
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    if control not in set(per_user["arm"]):
        raise ValueError(f"control arm {control!r} has no users; arms: {sorted(set(per_user['arm']))}")
    groups = {arm: g for arm, g in per_user.groupby("arm", sort=True)}
    srm = srm_check({a: len(g) for a, g in groups.items()}, weights)
    base = groups[control]
    c_conv, c_n = int(base["converted"].sum()), len(base)
    rows = []
    for arm, g in groups.items():
        conv, n = int(g["converted"].sum()), len(g)
        row = {"arm": arm, "users": n, "conversions": conv, "conversion_rate": conv / n,
               "revenue_per_user": float(g["revenue"].mean()), "srm_p_value": srm["p_value"], "srm_mismatch": srm["mismatch"]}
        if arm != control:
            low, high = _interval(conv, n, c_conv, c_n, "diff", alpha)
            rlow, rhigh = _interval(conv, n, c_conv, c_n, "ratio", alpha) if c_conv > 0 else (np.nan, np.nan)
            _, p = proportions_ztest([conv, c_conv], [n, c_n]) if conv + c_conv > 0 else (0.0, 1.0)
            rev = CompareMeans(DescrStatsW(g["revenue"].to_numpy(float)), DescrStatsW(base["revenue"].to_numpy(float)))
            rev_low, rev_high = rev.tconfint_diff(alpha=alpha, usevar="unequal")
            a, b = _cumulative(base["converted"]), _cumulative(g["converted"])
            looks = pd.DataFrame([{"n_a": a["n"], "sum_a": a["sum"], "sumsq_a": a["sumsq"],
                                   "n_b": b["n"], "sum_b": b["sum"], "sumsq_b": b["sumsq"]}])
            row.update(lift=conv / n - c_conv / c_n, lift_low=float(low), lift_high=float(high),
                       relative_lift=(conv / n) / (c_conv / c_n) - 1 if c_conv else np.nan,
                       relative_low=float(rlow) - 1, relative_high=float(rhigh) - 1, p_value=float(p),
                       always_valid_p=float(always_valid_pvalues(looks)[-1]),
                       revenue_diff=row["revenue_per_user"] - float(base["revenue"].mean()),
                       revenue_low=float(rev_low), revenue_high=float(rev_high))
        rows.append(row)
    return pd.DataFrame(rows)
