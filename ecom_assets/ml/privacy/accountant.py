"""The privacy budget per period, over the ledger of past releases.

Basic sequential composition: the epsilons (and deltas) of the releases in one period add
up, and a release that would take the period past its budget is refused before anything
is computed or written. Periods are calendar periods (pandas aliases: "D", "W", "M"), so
the budget renews on a known date a merchant can state in a privacy notice.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ecom_assets.ml.privacy.mechanisms import Release

LEDGER_COLUMNS = ("release_id", "query", "mechanism", "epsilon", "delta", "noise_scale", "contribution_bound",
                  "sensitivity", "cells", "period", "created_at", "run_id")


class BudgetExceeded(RuntimeError):
    """A release would spend more than what is left of the period's budget."""


@dataclass(frozen=True)
class PrivacyBudget:
    epsilon: float = 8.0
    """Total epsilon per period across every release."""
    delta: float = 1e-6
    period: str = "W"

    def period_of(self, at) -> str:
        return str(pd.Timestamp(at).to_period(self.period))


class PrivacyAccountant:
    def __init__(self, budget: PrivacyBudget, ledger: pd.DataFrame | None = None):
        self.budget = budget
        self.ledger = ledger if ledger is not None else pd.DataFrame(columns=list(LEDGER_COLUMNS))

    def spent(self, at) -> tuple[float, float]:
        """(epsilon, delta) already spent in the period holding `at`."""
        if not len(self.ledger):
            return 0.0, 0.0
        period = self.budget.period_of(at)
        rows = self.ledger[self.ledger["period"].astype(str) == period]
        return float(rows["epsilon"].sum()), float(rows["delta"].sum())

    def remaining(self, at) -> float:
        return max(0.0, self.budget.epsilon - self.spent(at)[0])

    def authorise(self, releases: list[Release], at) -> None:
        """Raise `BudgetExceeded` unless all of `releases` fit in what is left."""
        eps, delta = self.spent(at)
        want_eps = sum(r.epsilon for r in releases)
        want_delta = sum(r.delta for r in releases)
        tolerance = 1e-9 * max(1.0, self.budget.epsilon)
        if eps + want_eps > self.budget.epsilon + tolerance or delta + want_delta > self.budget.delta + 1e-15:
            names = ", ".join(sorted({r.query for r in releases}))
            raise BudgetExceeded(
                f"{names}: epsilon {want_eps:g} asked, {max(0.0, self.budget.epsilon - eps):g} of "
                f"{self.budget.epsilon:g} left in period {self.budget.period_of(at)} (delta {delta + want_delta:g} of "
                f"{self.budget.delta:g}); nothing was released")

    def entries(self, releases: list[Release], at, run_id: str | None, release_id: str) -> pd.DataFrame:
        """Ledger rows for `releases` made at `at` (after `authorise`)."""
        period = self.budget.period_of(at)
        return pd.DataFrame([{**r.as_row(), "release_id": release_id, "period": period,
                              "created_at": pd.Timestamp(at), "run_id": run_id} for r in releases],
                            columns=list(LEDGER_COLUMNS))


def spend_report(ledger: pd.DataFrame, budget: PrivacyBudget) -> pd.DataFrame:
    """Per period and release query: releases, epsilon and delta spent, the period's budget,
    what is left of it (after every query of the period) and the newest release."""
    columns = ["period", "query", "releases", "epsilon", "delta", "budget_epsilon", "left_epsilon", "last_release"]
    if ledger.empty:
        return pd.DataFrame(columns=columns)
    report = (ledger.groupby(["period", "query"], as_index=False)
              .agg(releases=("release_id", "nunique"), epsilon=("epsilon", "sum"), delta=("delta", "sum"),
                   last_release=("created_at", "max")))
    per_period = report.groupby("period")["epsilon"].transform("sum")
    report = report.assign(budget_epsilon=budget.epsilon, left_epsilon=(budget.epsilon - per_period).clip(lower=0))
    return report[columns]
