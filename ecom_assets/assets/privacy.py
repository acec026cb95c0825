"""Privacy group: the aggregates that leave the warehouse, released with differential privacy.

    privacy/segment_interests   released.segment_interests: each segment's top categories from
                                DP counts (buyers per segment; purchases per segment and
                                category with each buyer's purchases capped), a segment below
                                the minimum group size told the shop's instead; what the
                                ad-copy prompts and copy read
    monitoring/privacy_ledger   monitoring.privacy_ledger: epsilon spent and left per period
                                and release, from the ledger every release writes

A release is refused (the run fails, the last release stays in place) when the period's
budget (the `privacy` resource) would be overspent; the ledger row and the released table
are written in one transaction.
"""

import uuid

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, Config, Failure, MaterializeResult, MetadataValue, asset

from ecom_assets.assets.metadata import line_chart, preview
from ecom_assets.resources import PrivacyResource, WarehouseResource

GROUP = "privacy"
POOL = "warehouse"
SEGMENT_INTERESTS_KEY = AssetKey(["privacy", "segment_interests"])
LEDGER_KEY = AssetKey(["monitoring", "privacy_ledger"])
SEGMENT_INTERESTS_TABLE = "released.segment_interests"
SHOP_DEPS = [AssetKey(["marts", "catalogue"]), AssetKey(["marts", "user_features"]), AssetKey(["marts", "positive_events"])]


class SegmentInterestsConfig(Config):
    epsilon: float = 1.0
    """Spent by one release (half on buyers per segment, half on purchases per segment and category)."""
    contribution_bound: int = 5
    """Purchases per buyer counted in one release (the sensitivity of the purchase counts)."""
    top: int = 2


def read_segment_interests(warehouse: WarehouseResource) -> dict[str, list[str]]:
    """The released interests per segment, for prompts and copy ({'all': []} before any release)."""
    from ecom_assets.ml.privacy.segments import interests_of
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, SEGMENT_INTERESTS_TABLE):
            raise Failure(f"{SEGMENT_INTERESTS_TABLE} is missing: materialise privacy/segment_interests first")
        table = con.execute(f"SELECT segment, rank, category FROM {SEGMENT_INTERESTS_TABLE}").df()
    return interests_of(table)


@asset(key=SEGMENT_INTERESTS_KEY, deps=SHOP_DEPS, group_name=GROUP, kinds={"duckdb"}, pool=POOL,
       description="released.segment_interests: each segment's most-bought categories from differentially private "
                   "counts (OpenDP); a segment below the minimum group size gets the shop's; recorded in the privacy "
                   "ledger and refused once the period's budget is spent.")
def segment_interests(context: AssetExecutionContext, config: SegmentInterestsConfig, warehouse: WarehouseResource,
                      privacy: PrivacyResource) -> MaterializeResult:
    from ecom_assets.ml.privacy.accountant import BudgetExceeded, PrivacyAccountant
    from ecom_assets.ml.privacy.bounding import bounded_rows_sql
    from ecom_assets.ml.privacy.segments import SHOP, SegmentRelease, interests_of, private_segment_interests
    from ecom_assets.warehouse import release_table

    purchases_sql = """
        SELECT e.user_id, coalesce(u.segment, 'all') AS segment, i.category_l1 AS category, e.item_id, e.event_time
        FROM marts.positive_events e JOIN marts.user_features u USING (user_id) JOIN marts.catalogue i USING (item_id)
        WHERE e.event_type = 'purchase' AND i.category_l1 IS NOT NULL"""
    with warehouse.connect(read_only=True) as con:
        # Public keys: the merchant's segments and the catalogue's categories, not the purchases.
        segments = [r[0] for r in con.execute(
            "SELECT DISTINCT coalesce(segment, 'all') FROM marts.user_features").fetchall()]
        categories = [r[0] for r in con.execute(
            "SELECT DISTINCT category_l1 FROM marts.catalogue WHERE category_l1 IS NOT NULL").fetchall()]
        bounded = bounded_rows_sql(purchases_sql, "user_id", config.contribution_bound,
                                   ["user_id", "item_id", "event_time"])
        cells = con.execute(f"SELECT segment, category, count(*) AS n FROM ({bounded}) GROUP BY ALL").df()
        buyers = con.execute(f"SELECT segment, count(DISTINCT user_id) AS buyers FROM ({purchases_sql}) GROUP BY ALL").df()
    settings = SegmentRelease(epsilon=config.epsilon, contribution_bound=config.contribution_bound,
                              min_group_size=privacy.group_minimum(), top=config.top)
    table, releases = private_segment_interests(cells, buyers, segments, categories, settings)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    release_id = uuid.uuid4().hex[:12]
    budget = privacy.budget()

    def authorise(ledger: pd.DataFrame) -> pd.DataFrame:
        accountant = PrivacyAccountant(budget, ledger)
        accountant.authorise(releases, now)
        return accountant.entries(releases, now, context.run_id, release_id)

    table = table.assign(release_id=release_id, released_at=now)
    try:
        with warehouse.connect() as con:
            entries = release_table(con, SEGMENT_INTERESTS_TABLE, table, authorise)
            spent = float(con.execute("SELECT coalesce(sum(epsilon), 0) FROM privacy.ledger WHERE period = ?",
                                      [budget.period_of(now)]).fetchone()[0])
    except BudgetExceeded as exc:
        raise Failure(f"privacy/segment_interests refused: {exc}") from exc
    interests = interests_of(table)
    withheld = sorted(table.loc[~table["released"] & (table["segment"] != SHOP), "segment"].unique())
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), "release_id": release_id,
        "epsilon": round(float(entries["epsilon"].sum()), 6),
        "noise_scales": MetadataValue.json({r.query: round(r.noise_scale, 4) for r in releases}),
        "budget_spent_this_period": round(spent, 6), "budget_left_this_period": round(max(0.0, budget.epsilon - spent), 6),
        "period": budget.period_of(now), "min_group_size": settings.min_group_size,
        "segments_withheld": MetadataValue.json(withheld), "interests": MetadataValue.json(interests),
        "preview": preview(table.drop(columns=["release_id", "released_at"]), rows=10)})


@asset(key=LEDGER_KEY, deps=[SEGMENT_INTERESTS_KEY], group_name=GROUP, kinds={"duckdb"}, pool=POOL,
       description="monitoring.privacy_ledger: epsilon spent and left per budget period and release query, from the "
                   "ledger of every differentially private release.")
def privacy_ledger_report(context: AssetExecutionContext, warehouse: WarehouseResource,
                          privacy: PrivacyResource) -> MaterializeResult:
    from ecom_assets.ml.privacy.accountant import spend_report
    from ecom_assets.warehouse import privacy_ledger

    with warehouse.connect() as con:
        ledger = privacy_ledger(con)
    budget = privacy.budget()
    report = spend_report(ledger, budget)
    warehouse.replace_table("monitoring.privacy_ledger", report)
    by_period = report.groupby("period")["epsilon"].sum() if len(report) else pd.Series(dtype=float)
    return MaterializeResult(metadata={
        "dagster/row_count": len(report), "releases": int(ledger["release_id"].nunique()) if len(ledger) else 0,
        "budget": MetadataValue.json({"epsilon_per_period": budget.epsilon, "delta_per_period": budget.delta,
                                      "period": budget.period}),
        "spent_by_period": line_chart({"epsilon spent": [float(v) for v in by_period.values]},
                                      [str(p) for p in by_period.index], "Epsilon spent per period")
        if len(by_period) else "none",
        "report": MetadataValue.md(report.round(6).to_markdown(index=False) if len(report) else "_(no release yet)_")})


privacy_assets = [segment_interests, privacy_ledger_report]
