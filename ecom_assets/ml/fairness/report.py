"""The fairness report: who the served lists expose, whom the model serves well, and what
a constraint on exposure would cost.

    item_groups      brand, category, price tier and age (new vs established) per item
    user_groups      activity level, segment, language, new vs returning per shopper
    exposure_report  position-discounted exposure by each item grouping, the item Gini
    quality_report   NDCG@k by each shopper grouping with bootstrap intervals
    tradeoff         re-ranking a longer list under floors for new items and caps on any
                     brand's places: NDCG@k against exposure Gini per level
    concerns         which configured bounds the report crosses (for a warning check)
    render_html      the tables and plots as one self-contained HTML page
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecom_assets.ml.fairness.exposure import exposure_gini, group_exposure, group_quality, per_user_ndcg, price_tiers
from ecom_assets.ml.fairness.rerank import ExposureConstraint, tradeoff_curve

ITEM_DIMENSIONS = ("brand", "category", "price_tier", "item_age")
USER_DIMENSIONS = ("activity", "segment", "language", "tenure")


@dataclass(frozen=True)
class FairnessBounds:
    max_exposure_gini: float = 0.9
    """Item exposure Gini over the catalogue above which the lists are too concentrated."""
    max_brand_share: float = 0.3
    """Largest share of all exposure one brand may take."""
    max_quality_gap: float = 0.5
    """Largest relative NDCG gap of a shopper group below the best group of its dimension
    (counted only when the two bootstrap intervals do not overlap)."""
    min_group_users: int = 30
    """Groups with fewer shoppers are reported but not judged (their interval is too wide)."""


@dataclass(frozen=True)
class TradeoffLevels:
    new_item_floors: tuple[float, ...] = (0.0, 0.2, 0.3, 0.5)
    brand_caps: tuple[float | None, ...] = (None, 0.2, 0.1)
    k: int = 10


@dataclass
class FairnessReport:
    exposure: pd.DataFrame
    quality: pd.DataFrame
    tradeoff: pd.DataFrame
    summary: dict = field(default_factory=dict)


def item_groups(items: pd.DataFrame, as_of, new_item_days: float = 60.0, tiers: int = 3) -> pd.DataFrame:
    """`items`: item_id, brand, category_l2, price, launch_date (or first_event_time).
    An item is new when it launched (else first appeared) within `new_item_days` of `as_of`."""
    launched = pd.to_datetime(items.get("launch_date"), errors="coerce") if "launch_date" in items else None
    first = pd.to_datetime(items.get("first_event_time"), errors="coerce") if "first_event_time" in items else None
    start = launched if launched is not None else first
    if launched is not None and first is not None:
        start = launched.fillna(first)
    age_days = (pd.Timestamp(as_of) - start).dt.total_seconds() / 86_400.0 if start is not None else None
    age = (np.where(age_days.isna(), "unknown", np.where(age_days <= new_item_days, "new", "established"))
           if age_days is not None else "unknown")
    return pd.DataFrame({"item_id": items["item_id"].to_numpy(),
                         "brand": items["brand"].fillna("unknown").to_numpy(),
                         "category": items["category_l2"].fillna("unknown").to_numpy(),
                         "price_tier": price_tiers(items["price"].reset_index(drop=True), tiers).to_numpy(),
                         "item_age": age}).set_index("item_id")


def user_groups(users: pd.DataFrame, train_interactions: pd.Series, returning: pd.Series) -> pd.DataFrame:
    """`users`: user_id, segment, preferred_language; `train_interactions`: user_id -> items
    interacted with before the cutoff; `returning`: user_id -> bool (known before the cutoff).
    Activity is the tertile of training interactions among returning shoppers ("new" for
    the rest)."""
    users = users.drop_duplicates("user_id").set_index("user_id")
    counts = train_interactions.reindex(users.index).fillna(0)
    known = returning.reindex(users.index).astype("boolean").fillna(False).astype(bool)
    activity = pd.Series("new", index=users.index, dtype=object)
    if known.sum() >= 3:
        ranks = counts[known].rank(method="first")
        activity[known] = pd.qcut(ranks, 3, labels=["light", "medium", "heavy"]).astype(str)
    return pd.DataFrame({"activity": activity, "segment": users["segment"].fillna("unknown"),
                         "language": users["preferred_language"].fillna("unknown"),
                         "tenure": np.where(known, "returning", "new")}, index=users.index)


def exposure_report(lists: pd.DataFrame, groups: pd.DataFrame, k: int = 10) -> tuple[pd.DataFrame, float]:
    """Per item dimension and group: exposure, its share, the catalogue share and their
    ratio; and the item exposure Gini over the whole catalogue."""
    frames = [group_exposure(lists, groups[d], k).assign(dimension=d) for d in ITEM_DIMENSIONS if d in groups]
    table = pd.concat(frames, ignore_index=True)[["dimension", "group", "items", "exposure", "exposure_share",
                                                   "catalogue_share", "exposure_ratio"]]
    return table, exposure_gini(lists, groups.index, k)


def quality_report(lists: pd.DataFrame, truth: pd.DataFrame, groups: pd.DataFrame, k: int = 10,
                   bootstraps: int = 500, seed: int = 0) -> pd.DataFrame:
    """Per shopper dimension and group: NDCG@k over the shoppers with held-out items, a
    bootstrap interval and the relative gap to the best group of the dimension."""
    ndcg = per_user_ndcg(lists, truth, k)
    frames = []
    for d in USER_DIMENSIONS:
        if d in groups:
            q = group_quality(ndcg, groups[d], bootstraps=bootstraps, seed=seed).assign(dimension=d)
            best = q["mean"].max() if len(q) else 0.0
            q["relative_gap"] = (best - q["mean"]) / best if best > 0 else 0.0
            frames.append(q)
    columns = ["dimension", "group", "users", "mean", "ci_low", "ci_high", "gap_to_best", "relative_gap"]
    return pd.concat(frames, ignore_index=True)[columns].rename(columns={"mean": f"ndcg_{k}"}) if frames else \
        pd.DataFrame(columns=columns)


def tradeoff(candidates: pd.DataFrame, truth: pd.DataFrame, groups: pd.DataFrame,
             levels: TradeoffLevels = TradeoffLevels()) -> pd.DataFrame:
    """`candidates`: user_id, item_id, score (a list longer than k). Every combination of
    a floor for new items and a cap on any brand's places, re-ranked into the top k."""
    frame = candidates.assign(group=groups["item_age"].reindex(candidates["item_id"]).fillna("unknown").to_numpy(),
                              cap_value=groups["brand"].reindex(candidates["item_id"]).fillna("unknown").to_numpy())
    # The floor names "new" at every level (a share of 0 owes no places), so each row
    # reports new items' share of exposure.
    constraints = [ExposureConstraint(k=levels.k, floor_group="new", floor_share=f, cap_share=c)
                   for f in levels.new_item_floors for c in levels.brand_caps]
    curve = tradeoff_curve(frame, truth, groups.index, constraints, groups["item_age"])
    return curve.drop(columns=["floor_group"]).rename(columns={"ndcg": f"ndcg_{levels.k}",
                                                               "group_exposure_share": "new_item_exposure_share"})


def concerns(report: FairnessReport, bounds: FairnessBounds) -> list[str]:
    """One sentence per bound the report crosses."""
    out = []
    gini = report.summary.get("exposure_gini")
    if gini is not None and gini > bounds.max_exposure_gini:
        out.append(f"item exposure Gini {gini:.3f} > {bounds.max_exposure_gini}")
    brands = report.exposure[report.exposure["dimension"] == "brand"]
    if len(brands):
        top = brands.sort_values("exposure_share", ascending=False).iloc[0]
        if top["exposure_share"] > bounds.max_brand_share:
            out.append(f"brand {top['group']} takes {top['exposure_share']:.1%} of exposure > {bounds.max_brand_share:.0%}")
    q = report.quality[report.quality["users"] >= bounds.min_group_users]
    for dimension, part in q.groupby("dimension"):
        best = part.sort_values(_metric(part), ascending=False).iloc[0]
        for row in part.itertuples():
            if row.relative_gap > bounds.max_quality_gap and row.ci_high < best["ci_low"]:
                out.append(f"{dimension} {row.group}: NDCG {row.relative_gap:.0%} below {best['group']} "
                           f"(intervals apart) > {bounds.max_quality_gap:.0%}")
    return out


def bars_svg(labels: list[str], values: list[float], title: str, width: int = 520, bar: int = 18) -> str:
    top = max([v for v in values if v == v] + [1e-12])
    rows = []
    for i, (label, value) in enumerate(zip(labels, values)):
        w = 0 if value != value else int((width - 220) * value / top)
        y = 24 + i * (bar + 4)
        rows.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(str(label))[:28]}</text>'
                    f'<rect x="180" y="{y}" width="{w}" height="{bar}" fill="#4c78a8"/>'
                    f'<text x="{185 + w}" y="{y + 13}" font-size="11">{value:.3f}</text>')
    height = 30 + len(labels) * (bar + 4)
    return (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>{"".join(rows)}</svg>')


def scatter_svg(x: list[float], y: list[float], labels: list[str], title: str, x_name: str, y_name: str,
                 width: int = 520, height: int = 320) -> str:
    pad = 50
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    x0, x1 = float(np.nanmin(xs)), float(np.nanmax(xs))
    y0, y1 = float(np.nanmin(ys)), float(np.nanmax(ys))
    x1, y1 = (x1 if x1 > x0 else x0 + 1e-6), (y1 if y1 > y0 else y0 + 1e-6)

    def px(v):
        return pad + (width - 2 * pad) * (v - x0) / (x1 - x0)

    def py(v):
        return height - pad - (height - 2 * pad) * (v - y0) / (y1 - y0)

    points = "".join(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="4" fill="#e45756"><title>{html.escape(t)}: '
                     f'{x_name} {a:.4f}, {y_name} {b:.4f}</title></circle>'
                     f'<text x="{px(a) + 6:.1f}" y="{py(b) - 4:.1f}" font-size="9">{html.escape(t)}</text>'
                     for a, b, t in zip(xs, ys, labels))
    return (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>'
            f'<text x="{width / 2 - 40}" y="{height - 12}" font-size="11">{html.escape(x_name)} '
            f'({x0:.3f} to {x1:.3f})</text>'
            f'<text x="2" y="{pad - 8}" font-size="11">{html.escape(y_name)} ({y0:.4f} to {y1:.4f})</text>{points}</svg>')


def level_label(row) -> str:
    floor = f"new>={row['floor_share']:.0%}" if row["floor_share"] else "no floor"
    cap = f"brand<={row['cap_share']:.0%}" if row["cap_share"] is not None and row["cap_share"] == row["cap_share"] \
        else "no cap"
    return f"{floor}, {cap}"


def render_html(report: FairnessReport, title: str = "Fairness report") -> str:
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
             f"<body style='font-family: sans-serif; max-width: 1100px'><h1>{html.escape(title)}</h1>",
             "<h2>Summary</h2>" + pd.Series(report.summary, dtype=object).to_frame("value").to_html()]
    parts.append("<h2>Exposure of the served lists (position-discounted, Singh and Joachims 2018)</h2>")
    for d, part in report.exposure.groupby("dimension", sort=False):
        part = part.head(15)
        parts.append(bars_svg(part["group"].tolist(), part["exposure_ratio"].tolist(),
                               f"{d}: exposure share / catalogue share (1 = in proportion)"))
    parts.append(report.exposure.round(4).to_html(index=False))
    parts.append("<h2>Quality by shopper group (test window, bootstrap 95% intervals)</h2>")
    metric = _metric(report.quality)
    for d, part in report.quality.groupby("dimension", sort=False):
        parts.append(bars_svg([f"{g} ({n})" for g, n in zip(part["group"], part["users"])], part[metric].tolist(),
                               f"{d}: {metric}"))
    parts.append(report.quality.round(4).to_html(index=False))
    if len(report.tradeoff):
        t = report.tradeoff
        metric = next(c for c in t.columns if c.startswith("ndcg_"))
        parts.append("<h2>Trade-off: quality against exposure concentration</h2>")
        parts.append(scatter_svg(t["exposure_gini"].tolist(), t[metric].tolist(),
                                  [level_label(r) for _, r in t.iterrows()], "Each constraint level",
                                  "item exposure Gini", metric))
        parts.append(t.round(4).to_html(index=False))
    return "".join(parts) + "</body></html>"


def _metric(table: pd.DataFrame) -> str:
    return next((c for c in table.columns if c.startswith("ndcg_")), "ndcg_10")

