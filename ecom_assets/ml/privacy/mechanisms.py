"""DP counts and sums over a vector of cells, with OpenDP's measurements.

A release covers a vector of cells (for example purchases per segment and category). With
each user's rows capped at `contribution_bound` for the whole release, adding or removing
one user changes the vector by at most `contribution_bound` in L1 (counts) or
`contribution_bound * clip` (sums of values clipped to [0, clip]). The Laplace mechanism
with scale b = sensitivity / epsilon is epsilon-DP (Dwork, McSherry, Nissim and Smith,
2006); counts use its discrete form (integer noise, so no floating-point attack on the
low bits). The scale is the one OpenDP's privacy map certifies: `map(sensitivity)` of the
built measurement must not exceed the epsilon asked for.

Keys (the cells) must be public: the catalogue's categories, the configured segments. A
cell list derived from the data would itself leak which cells exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def opendp_prelude():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class Release:
    """What the ledger records of one mechanism run."""

    query: str
    mechanism: str
    epsilon: float
    delta: float
    noise_scale: float
    contribution_bound: int
    sensitivity: float
    cells: int

    def as_row(self) -> dict:
        return asdict(self)


class PrivacyParameterError(ValueError):
    pass


def _check(epsilon: float, contribution_bound: int) -> None:
    if not (epsilon > 0 and np.isfinite(epsilon)):
        raise PrivacyParameterError(f"epsilon must be a positive number, got {epsilon}")
    if int(contribution_bound) < 1:
        raise PrivacyParameterError(f"the contribution bound must be at least 1 row per user, got {contribution_bound}")


def count_scale(epsilon: float, contribution_bound: int) -> float:
    """Laplace scale for counts: L1 sensitivity (the bound) over epsilon."""
    _check(epsilon, contribution_bound)
    return float(contribution_bound) / float(epsilon)


def sum_scale(epsilon: float, contribution_bound: int, clip: float) -> float:
    """Laplace scale for sums of values clipped to [0, clip]: bound * clip over epsilon."""
    _check(epsilon, contribution_bound)
    if not clip > 0:
        raise PrivacyParameterError(f"the clip must be positive, got {clip}")
    return float(contribution_bound) * float(clip) / float(epsilon)


def dp_counts(counts, epsilon: float, contribution_bound: int, query: str) -> tuple[np.ndarray, Release]:
    """Noisy integer counts (discrete Laplace), one per cell, and the release."""
    dp = opendp_prelude()
    values = [int(v) for v in np.asarray(counts, dtype=np.int64)]
    scale = count_scale(epsilon, contribution_bound)
    measurement = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)) >> dp.m.then_laplace(scale=scale)
    spent = float(measurement.map(int(contribution_bound)))
    if spent > epsilon * (1 + 1e-9):
        raise PrivacyParameterError(f"{query}: the mechanism spends {spent} > epsilon {epsilon}")
    noisy = np.asarray(measurement(values), dtype=np.int64) if values else np.zeros(0, dtype=np.int64)
    return noisy, Release(query, "discrete Laplace", spent, 0.0, scale, int(contribution_bound),
                          float(contribution_bound), len(values))


def dp_sums(sums, epsilon: float, contribution_bound: int, clip: float, query: str) -> tuple[np.ndarray, Release]:
    """Noisy sums (continuous Laplace) of per-row values already clipped to [0, clip]."""
    dp = opendp_prelude()
    values = [float(v) for v in np.asarray(sums, dtype=np.float64)]
    scale = sum_scale(epsilon, contribution_bound, clip)
    sensitivity = float(contribution_bound) * float(clip)
    measurement = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
                   ) >> dp.m.then_laplace(scale=scale)
    spent = float(measurement.map(sensitivity))
    # OpenDP's map rounds conservatively (float arithmetic): allow its last-digit excess.
    if spent > epsilon * (1 + 1e-6):
        raise PrivacyParameterError(f"{query}: the mechanism spends {spent} > epsilon {epsilon}")
    noisy = np.asarray(measurement(values), dtype=np.float64) if values else np.zeros(0)
    return noisy, Release(query, "Laplace", spent, 0.0, scale, int(contribution_bound), sensitivity, len(values))


def released_where(noisy_group_sizes: np.ndarray, min_group_size: int) -> np.ndarray:
    """Which groups may be released: those whose noisy size reaches the minimum (a
    decision on a DP count is post-processing, so it spends nothing more)."""
    return np.asarray(noisy_group_sizes) >= int(min_group_size)
