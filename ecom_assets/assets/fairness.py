"""Fairness report (monitoring group): exposure of the served lists, quality by shopper
group on the test window, and the cost of an exposure constraint.

    monitoring/fairness_report   monitoring.fairness_exposure, monitoring.fairness_quality,
                                 monitoring.fairness_tradeoff and an HTML report (linked);
                                 a warning check when concentration or a group's quality
                                 gap crosses the configured bounds

Exposure is read from what serves (serving.recommendations, top 10); quality from the
served strategy's lists for the users of the test window (ml.recommendation_test_lists,
made by the model fit up to the cutoff), against what each user took there that they
had not taken before; the trade-off re-ranks those same lists (top 20) into a top 10.
"""

import base64

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ecom_assets.assets.shop_tables import read_served_test_lists
from ecom_assets.resources import WarehouseResource

GROUP = "monitoring"
POOL = "warehouse"
FAIRNESS_KEY = AssetKey(["monitoring", "fairness_report"])
CHECK = "fairness_within_bounds"
REPORTS_KEPT = 30


class FairnessConfig(Config):
    k: int = 10
    """List length judged (exposure and NDCG)."""
    new_item_days: float = 60.0
    """An item launched (else first seen) within this many days of the test cutoff is new."""
    max_exposure_gini: float = 0.9
    max_brand_share: float = 0.3
    max_quality_gap: float = 0.5
    min_group_users: int = 30
    bootstraps: int = 500
    seed: int = 0


def _svg_md(svg: str, title: str) -> MetadataValue:
    return MetadataValue.md(f"![{title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})")


@asset(key=FAIRNESS_KEY, deps=[AssetKey(["serving", "recommendations"]), AssetKey(["ml", "recommendation_metrics"]),
                               AssetKey(["marts", "item_features"]), AssetKey(["marts", "user_features"]),
                               AssetKey(["marts", "test_interactions"]), AssetKey(["marts", "train_interactions"])],
       group_name=GROUP, kinds={"duckdb", "html"}, pool=POOL,
       check_specs=[AssetCheckSpec(CHECK, asset=FAIRNESS_KEY, blocking=False,
                                   description="Warns when item exposure concentration (Gini), one brand's share of "
                                               "exposure or a shopper group's NDCG gap to the best group of its "
                                               "dimension crosses the configured bound.")],
       description="Position-discounted exposure of the served lists by brand, category, price tier and new vs "
                   "established items; NDCG@10 by activity, segment, language and new vs returning shoppers with "
                   "bootstrap intervals; NDCG@10 against exposure Gini under floors for new items and caps per brand.")
def fairness_report(context: AssetExecutionContext, config: FairnessConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.fairness.report import (
        FairnessBounds,
        FairnessReport,
        TradeoffLevels,
        bars_svg,
        concerns,
        exposure_report,
        item_groups,
        level_label,
        quality_report,
        render_html,
        scatter_svg,
        tradeoff,
        user_groups,
    )

    with warehouse.connect(read_only=True) as con:
        served = con.execute("SELECT user_id, item_id, rank FROM serving.recommendations WHERE rank <= ?",
                             [config.k]).df()
        items = con.execute("SELECT item_id, brand, category_l2, price, launch_date FROM marts.item_features").df()
        users = con.execute("SELECT user_id, segment, preferred_language FROM marts.user_features").df()
        train = con.execute("SELECT user_id, count(*) AS n FROM marts.train_interactions GROUP BY user_id").df()
    if not len(served):
        raise Failure("serving.recommendations is empty: materialise serving/recommendations")
    strategy, mine, truth = read_served_test_lists(warehouse)
    cutoff = pd.Timestamp(mine["cutoff"].iloc[0]) if len(mine) else pd.Timestamp.now()
    groups = item_groups(items, cutoff, config.new_item_days)
    shoppers = user_groups(users, train.set_index("user_id")["n"], train.set_index("user_id")["n"] > 0)
    exposure, gini = exposure_report(served, groups, config.k)
    quality = quality_report(mine, truth, shoppers, config.k, config.bootstraps, config.seed) if len(mine) else \
        pd.DataFrame(columns=["dimension", "group", "users", f"ndcg_{config.k}", "ci_low", "ci_high"])
    # Scores fall with the rank: the re-ranking keeps the model's order where it can.
    candidates = mine.assign(score=-mine["rank"].astype(float))[["user_id", "item_id", "score"]]
    curve = tradeoff(candidates, truth, groups, TradeoffLevels(k=config.k)) if len(mine) else pd.DataFrame()
    summary = {"served_users": int(served["user_id"].nunique()), "exposure_gini": round(gini, 4),
               "quality_from": f"{strategy} lists for {mine['user_id'].nunique()} test users",
               "new_item_days": config.new_item_days, "test_cutoff": str(cutoff)}
    report = FairnessReport(exposure, quality, curve, summary)
    found = concerns(report, FairnessBounds(config.max_exposure_gini, config.max_brand_share, config.max_quality_gap,
                                            config.min_group_users))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    warehouse.replace_table("monitoring.fairness_exposure", exposure.assign(measured_at=now))
    warehouse.replace_table("monitoring.fairness_quality", quality.assign(strategy=strategy, measured_at=now))
    warehouse.replace_table("monitoring.fairness_tradeoff", curve.assign(strategy=strategy, measured_at=now))
    folder = warehouse.resolved_path.parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("fairness_*.html"))[:-(REPORTS_KEPT - 1)]:
        old.unlink(missing_ok=True)
    page = folder / f"fairness_{now:%Y%m%dT%H%M%S}.html"
    page.write_text(render_html(report, "Fairness report: exposure, quality by group, trade-off"), encoding="utf-8")

    metric = f"ndcg_{config.k}"
    tiers = exposure[exposure["dimension"].isin(["item_age", "price_tier"])]
    plots = {}
    if len(curve):
        plots["tradeoff_plot"] = _svg_md(scatter_svg(curve["exposure_gini"].tolist(), curve[metric].tolist(),
                                                      [level_label(r) for _, r in curve.iterrows()],
                                                      f"{metric} against exposure Gini", "exposure Gini", metric),
                                         "trade-off")
    if len(quality):
        by = quality[quality["dimension"].isin(["activity", "tenure"])]
        plots["quality_plot"] = _svg_md(bars_svg([f"{d}: {g}" for d, g in zip(by["dimension"], by["group"])],
                                                  by[metric].tolist(), f"{metric} by shopper group"), "quality")
    return MaterializeResult(
        metadata={"report": MetadataValue.path(str(page)), "exposure_gini": round(gini, 4), "strategy": strategy,
                  "concerns": MetadataValue.json(found),
                  "exposure_by_age_and_price": MetadataValue.md(tiers.round(4).to_markdown(index=False)),
                  "top_brands": MetadataValue.md(exposure[exposure["dimension"] == "brand"].head(8).round(4)
                                                 .to_markdown(index=False)),
                  "quality_by_group": MetadataValue.md(quality.round(4).to_markdown(index=False)
                                                       if len(quality) else "_(no test users)_"),
                  "tradeoff": MetadataValue.md(curve.round(4).to_markdown(index=False) if len(curve) else "_(none)_"),
                  **plots},
        check_results=[AssetCheckResult(check_name=CHECK, passed=not found, severity=AssetCheckSeverity.WARN,
                                        description="; ".join(found) or "within bounds",
                                        metadata={"concerns": MetadataValue.json(found), "exposure_gini": round(gini, 4)})])


fairness_assets = [fairness_report]
