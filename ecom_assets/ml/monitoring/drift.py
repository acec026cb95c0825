"""Drift between a reference window and a current window, with Evidently.

`drift_report` runs Evidently's DataDriftPreset (per-column tests chosen by Evidently
from the column type and the sample size: K-S / chi-square p-values on small samples,
Wasserstein / Jensen-Shannon distances on large ones), saves the HTML report, and returns
one summary row per column plus a `dataset` row with the share of drifted columns.

    drifted = p-value < threshold      for p-value methods
    drifted = distance >= threshold    for distance methods
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ["report", "signal", "method", "score", "threshold", "drifted", "window"]


def _is_p_value(method: str) -> bool:
    return "p_value" in method.replace("-", "_").replace(" ", "_").lower()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 and everything else as Python strings: Evidently cannot type
    pandas' nullable and Arrow-backed dtypes."""
    out = {}
    for c in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            out[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        else:
            out[c] = frame[c].astype(object).where(frame[c].notna(), None).map(lambda v: v if v is None else str(v))
    return pd.DataFrame(out).reset_index(drop=True)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, report: str, window: str, html_path: Path | None = None,
                 drift_share: float = 0.5, max_rows: int = 50_000, seed: int = 0) -> pd.DataFrame:
    """Summary rows (SUMMARY_COLUMNS) for every shared column, plus the dataset verdict:
    drifted when at least `drift_share` of the columns drifted. Windows larger than
    `max_rows` are sampled (seeded) so a report costs the same on any shop."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns
               and reference[c].notna().any() and current[c].notna().any()]
    if not columns or reference.empty or current.empty:
        raise ValueError(f"{report}: nothing to compare (reference {len(reference)} rows, current {len(current)} rows, "
                         f"{len(columns)} shared non-empty columns)")
    ref = _plain(reference[columns].sample(min(len(reference), max_rows), random_state=seed))
    cur = _plain(current[columns].sample(min(len(current), max_rows), random_state=seed))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset(columns=columns, drift_share=drift_share)]).run(
            current_data=cur, reference_data=ref)
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    rows = []
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if "column" in config:
            method, threshold, score = config["method"], float(config["threshold"]), float(value)
            drifted = score < threshold if _is_p_value(method) else score >= threshold
            rows.append([report, config["column"], method, score, threshold, bool(drifted), window])
    share = float(np.mean([r[5] for r in rows])) if rows else 0.0
    rows.append([report, "dataset", f"share of drifted columns (of {len(rows)})", share, drift_share,
                 share >= drift_share, window])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dataclass
class ReferenceProfile:
    """What the data-quality check needs of the reference window, without its rows: the
    row count, each column's missing share and each categorical column's values (a shop's
    reference window can be millions of events; the profile is one aggregate query)."""

    rows: int
    missing_share: dict[str, float]
    values: dict[str, set]

    @classmethod
    def of(cls, frame: pd.DataFrame, categorical: tuple[str, ...] = ()) -> "ReferenceProfile":
        return cls(len(frame), {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in frame.columns},
                   {c: set(frame[c].dropna().unique()) for c in categorical if c in frame.columns})


def data_quality(reference: pd.DataFrame | ReferenceProfile, newest: pd.DataFrame, reference_days: float, window: str,
                 categorical: tuple[str, ...] = ("event_type", "category"), volume_factor: float = 2.0,
                 missing_increase: float = 0.05) -> pd.DataFrame:
    """Summary rows (SUMMARY_COLUMNS, report `data_quality`) for the newest partition
    against the reference window (its rows, or their ReferenceProfile): its volume against
    the reference's mean day (drifted beyond a factor of `volume_factor` either way), each
    column's missing share (drifted when it grew by more than `missing_increase`), and
    values of categorical columns the reference never had. The `dataset` row drifts when
    any signal does."""
    profile = reference if isinstance(reference, ReferenceProfile) else ReferenceProfile.of(reference, categorical)
    rows = []
    per_day = profile.rows / max(reference_days, 1e-9)
    ratio = len(newest) / per_day if per_day else float("inf")
    rows.append(["data_quality", "volume", "newest day rows / mean reference day rows", ratio, volume_factor,
                 bool(ratio >= volume_factor or ratio <= 1 / volume_factor)])
    for column, reference_missing in profile.missing_share.items():
        increase = float(newest[column].isna().mean() - reference_missing) if len(newest) else 0.0
        rows.append(["data_quality", f"missing:{column}", "missing share, newest day minus reference", increase,
                     missing_increase, increase > missing_increase])
    for column in categorical:
        if column in profile.values:
            unseen = set(newest[column].dropna().unique()) - profile.values[column]
            rows.append(["data_quality", f"new_values:{column}", "values the reference never had"
                         + (f" ({', '.join(sorted(map(str, unseen))[:5])})" if unseen else ""), float(len(unseen)), 1.0,
                         bool(unseen)])
    share = float(np.mean([r[5] for r in rows]))
    rows.append(["data_quality", "dataset", f"share of signals that fired (of {len(rows)})", share, 1 / len(rows), share > 0])
    return pd.DataFrame([r + [window] for r in rows], columns=SUMMARY_COLUMNS)


EMBEDDING_DRIFT_THRESHOLD = 0.55  # Evidently's default for its classifier method (ROC AUC)


def embedding_drift(reference: np.ndarray, current: np.ndarray, report: str, window: str, max_rows: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Evidently's embedding drift (default method: a classifier trained to tell the two
    windows' vectors apart; drifted when its ROC AUC exceeds 0.55) on up to `max_rows`
    vectors per side. Summary rows: the embedding signal and the dataset verdict."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift

    if len(reference) == 0 or len(current) == 0:
        raise ValueError(f"{report}: nothing to compare (reference {len(reference)}, current {len(current)} vectors)")
    rng = np.random.default_rng(seed)
    ref = reference[rng.choice(len(reference), min(len(reference), max_rows), replace=False)]
    cur = current[rng.choice(len(current), min(len(current), max_rows), replace=False)]
    columns = [f"e{i}" for i in range(ref.shape[1])]
    definition = DataDefinition(embeddings={report: columns}, numerical_columns=columns)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        snapshot = Report([EmbeddingsDrift(embeddings_name=report)]).run(
            Dataset.from_pandas(pd.DataFrame(cur, columns=columns), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame(ref, columns=columns), data_definition=definition))
    score = float(snapshot.dict()["metrics"][0]["value"])
    drifted = score > EMBEDDING_DRIFT_THRESHOLD
    method = "classifier ROC AUC telling the windows apart (Evidently embeddings drift)"
    return pd.DataFrame([[report, "embedding", method, score, EMBEDDING_DRIFT_THRESHOLD, drifted, window],
                         [report, "dataset", method, score, EMBEDDING_DRIFT_THRESHOLD, drifted, window]],
                        columns=SUMMARY_COLUMNS)


def share_change(reference_hits: int, reference_total: int, current_hits: int, current_total: int, report: str,
                 signal: str, max_change: float, window: str) -> pd.DataFrame:
    """Summary rows for a rate that should hold steady (e.g. the share of ad copy the
    review rejects): drifted when it moved by more than `max_change` (absolute) either
    way. A signal row and the dataset verdict; the score is the signed change."""
    if reference_total <= 0 or current_total <= 0:
        raise ValueError(f"{report}: nothing to compare (reference {reference_total}, current {current_total} rows)")
    before, now = reference_hits / reference_total, current_hits / current_total
    change = now - before
    method = f"share now minus share before ({now:.2%} vs {before:.2%})"
    drifted = abs(change) > max_change
    return pd.DataFrame([[report, signal, method, change, max_change, drifted, window],
                         [report, "dataset", method, change, max_change, drifted, window]], columns=SUMMARY_COLUMNS)
