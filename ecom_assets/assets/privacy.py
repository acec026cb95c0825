"""Privacy group: the aggregates that leave the warehouse, released with differential privacy.

    privacy/segment_interests   released.segment_interests: each segment's top categories from
                                DP counts (buyers per segment; purchases per segment and
                                category with each buyer's purchases capped), a segment below
                                the minimum group size told the shop's instead; what the
                                ad-copy prompts and copy read
    privacy/popular_items       released.popular_items: the "popular in" lists (per segment,
                                country, category and the shop) cold-start lists read, from
                                DP counts of distinct shoppers
    privacy/segment_metrics     released.segment_metrics: NDCG@10 and hit rate per segment of
                                the served lists on the test window, from DP counts and sums
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
POPULAR_ITEMS_KEY = AssetKey(["privacy", "popular_items"])
POPULAR_ITEMS_TABLE = "released.popular_items"
SEGMENT_METRICS_KEY = AssetKey(["privacy", "segment_metrics"])
SEGMENT_METRICS_TABLE = "released.segment_metrics"
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
    from ecom_assets.ml.privacy.bounding import bounded_rows_sql
    from ecom_assets.ml.privacy.segments import SHOP, SegmentRelease, interests_of, private_segment_interests

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
    release_id, now, released = _release(context, warehouse, privacy, SEGMENT_INTERESTS_TABLE, table, releases,
                                         "privacy/segment_interests")
    table = table.assign(release_id=release_id, released_at=now)
    interests = interests_of(table)
    withheld = sorted(table.loc[~table["released"] & (table["segment"] != SHOP), "segment"].unique())
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), **released,
        "segments_withheld": MetadataValue.json(withheld), "interests": MetadataValue.json(interests),
        "preview": preview(table.drop(columns=["release_id", "released_at"]), rows=10)})


class PopularItemsConfig(Config):
    epsilon: float = 1.0
    """Spent by one release, shared by its four kinds of group (segment, country, category, shop)."""
    contribution_bound: int = 3
    """Distinct items per shopper counted in one release."""
    recent_days: float = 14.0
    """Window of events counted, back from the newest."""
    top: int = 100


def read_popular_items(warehouse: WarehouseResource) -> dict[tuple[str, str], list[str]]:
    """The released "popular in" lists, (kind, group) -> items, for cold-start lists."""
    from ecom_assets.ml.privacy.popular import popular_lists
    from ecom_assets.warehouse import table_exists

    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, POPULAR_ITEMS_TABLE):
            raise Failure(f"{POPULAR_ITEMS_TABLE} is missing: materialise privacy/popular_items first")
        table = con.execute(f"SELECT kind, \"group\", rank, item_id, released FROM {POPULAR_ITEMS_TABLE}").df()
    return popular_lists(table)


@asset(key=POPULAR_ITEMS_KEY, deps=SHOP_DEPS, group_name=GROUP, kinds={"duckdb"}, pool=POOL,
       description="released.popular_items: the items popular with each segment, in each country and category and in "
                   "the shop over the recent window, from differentially private counts of distinct shoppers (each "
                   "shopper's items capped); groups below the minimum group size withheld; what cold-start lists and "
                   "their 'popular in' reasons read. Recorded in the privacy ledger, refused over budget.")
def popular_items(context: AssetExecutionContext, config: PopularItemsConfig, warehouse: WarehouseResource,
                  privacy: PrivacyResource) -> MaterializeResult:
    from ecom_assets.ml.privacy.bounding import bounded_rows_sql
    from ecom_assets.ml.privacy.popular import PopularRelease, private_popular_items

    window_sql = f"""
        SELECT DISTINCT user_id, item_id FROM marts.positive_events
        WHERE event_time >= (SELECT max(event_time) FROM marts.positive_events) - INTERVAL {float(config.recent_days)} DAY"""
    with warehouse.connect(read_only=True) as con:
        bounded = bounded_rows_sql(window_sql, "user_id", config.contribution_bound, ["user_id", "item_id"])
        cells = con.execute(f"""
            WITH b AS ({bounded})
            SELECT 'segment' AS kind, u.segment AS "group", b.item_id, count(*) AS users
              FROM b JOIN marts.user_features u USING (user_id) WHERE u.segment IS NOT NULL GROUP BY ALL
            UNION ALL SELECT 'country', u.country, b.item_id, count(*)
              FROM b JOIN marts.user_features u USING (user_id) WHERE u.country IS NOT NULL GROUP BY ALL
            UNION ALL SELECT 'category', c.category_l2, b.item_id, count(*)
              FROM b JOIN marts.catalogue c USING (item_id) WHERE c.category_l2 IS NOT NULL GROUP BY ALL
            UNION ALL SELECT 'shop', '(shop)', b.item_id, count(*) FROM b GROUP BY ALL""").df()
        # Public keys: the merchant's segments and markets, the catalogue's categories and items.
        keys = {kind: [r[0] for r in con.execute(f"SELECT DISTINCT {col} FROM marts.user_features "
                                                 f"WHERE {col} IS NOT NULL ORDER BY 1").fetchall()]
                for kind, col in (("segment", "segment"), ("country", "country"))}
        catalogue = con.execute("SELECT item_id, category_l2 FROM marts.catalogue ORDER BY item_id").df()
    keys["category"] = sorted(catalogue["category_l2"].dropna().unique())
    items_of = {"*": catalogue["item_id"].tolist(),
                **{c: part["item_id"].tolist() for c, part in catalogue.dropna(subset=["category_l2"]).groupby("category_l2")}}
    settings = PopularRelease(config.epsilon, config.contribution_bound, privacy.group_minimum(), config.top)
    table, releases = private_popular_items(cells, keys, items_of, settings)
    _, _, released = _release(context, warehouse, privacy, POPULAR_ITEMS_TABLE, table, releases, "privacy/popular_items")
    withheld = table.loc[~table["released"].astype(bool), ["kind", "group"]]
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), **released,
        "groups_released": int(table.loc[table["released"].astype(bool), ["kind", "group"]].drop_duplicates().shape[0]),
        "groups_withheld": MetadataValue.json([f"{k}: {g}" for k, g in withheld.itertuples(index=False)]),
        "preview": preview(table[table["kind"] == "shop"].head(10), rows=10)})


def ledger_authoriser(context, privacy: PrivacyResource, releases: list):
    """(authorise, now, budget, release_id): `authorise(ledger)` refuses `releases` when the
    period's budget cannot afford them, else returns their ledger rows (for `release_table`
    or `record_releases`, which call it inside their transaction)."""
    from ecom_assets.ml.privacy.accountant import PrivacyAccountant

    now, budget, release_id = pd.Timestamp.now(tz="UTC").tz_localize(None), privacy.budget(), uuid.uuid4().hex[:12]

    def authorise(ledger: pd.DataFrame) -> pd.DataFrame:
        accountant = PrivacyAccountant(budget, ledger)
        accountant.authorise(releases, now)
        return accountant.entries(releases, now, context.run_id, release_id)

    return authorise, now, budget, release_id


class SegmentMetricsConfig(Config):
    epsilon: float = 0.5
    """Spent by one release (a third each on shoppers, NDCG sums and hit sums per segment)."""
    k: int = 10


@asset(key=SEGMENT_METRICS_KEY, deps=[AssetKey(["ml", "recommendation_metrics"]), AssetKey(["marts", "user_features"]),
                                      AssetKey(["marts", "test_interactions"]), AssetKey(["marts", "train_interactions"])],
       group_name=GROUP, kinds={"duckdb"}, pool=POOL,
       description="released.segment_metrics: NDCG@10 and hit rate of the served strategy per shopper segment on the "
                   "test window, from differentially private counts and sums; segments below the minimum group size "
                   "withheld; the per-segment report that may leave the data team (the fairness report's exact figures "
                   "stay in monitoring).")
def segment_metrics(context: AssetExecutionContext, config: SegmentMetricsConfig, warehouse: WarehouseResource,
                    privacy: PrivacyResource) -> MaterializeResult:
    from ecom_assets.assets.shop_tables import read_served_test_lists
    from ecom_assets.ml.fairness.exposure import per_user_hits, per_user_ndcg
    from ecom_assets.ml.privacy.group_metrics import GroupMetricsRelease, private_group_metrics

    strategy, lists, truth = read_served_test_lists(warehouse, config.k)
    users = warehouse.query("SELECT user_id, coalesce(segment, 'all') AS segment FROM marts.user_features")
    segments = sorted(users["segment"].unique())  # public keys: the merchant's segments
    per_user = pd.DataFrame({"ndcg": per_user_ndcg(lists, truth, config.k), "hit": per_user_hits(lists, truth, config.k)})
    per_user["group"] = users.set_index("user_id")["segment"].reindex(per_user.index).fillna("all").to_numpy()
    settings = GroupMetricsRelease(config.epsilon, privacy.group_minimum())
    table, releases = private_group_metrics(per_user, segments, settings)
    table = table.assign(strategy=strategy)
    _, _, released = _release(context, warehouse, privacy, SEGMENT_METRICS_TABLE, table, releases,
                              "privacy/segment_metrics")
    return MaterializeResult(metadata={
        "dagster/row_count": len(table), **released, "strategy": strategy,
        "segments_withheld": MetadataValue.json(table.loc[~table["released"], "group"].tolist()),
        "report": MetadataValue.md(table.drop(columns=["strategy"]).round(4).to_markdown(index=False))})


def _release(context, warehouse: WarehouseResource, privacy: PrivacyResource, table_name: str, table: pd.DataFrame,
             releases: list, asset_name: str) -> tuple[str, pd.Timestamp, dict]:
    """Write a DP release and its ledger rows in one transaction (refused over budget: the
    run fails, the last release stays). Returns (release id, release time, the metadata
    every release shows: its epsilon and noise scales, the period's spend and what is left)."""
    from ecom_assets.ml.privacy.accountant import BudgetExceeded
    from ecom_assets.warehouse import release_table

    authorise, now, budget, release_id = ledger_authoriser(context, privacy, releases)
    try:
        with warehouse.connect() as con:
            entries = release_table(con, table_name, table.assign(release_id=release_id, released_at=now), authorise)
            spent = float(con.execute("SELECT coalesce(sum(epsilon), 0) FROM privacy.ledger WHERE period = ?",
                                      [budget.period_of(now)]).fetchone()[0])
    except BudgetExceeded as exc:
        raise Failure(f"{asset_name} refused: {exc}") from exc
    return release_id, now, {
        "release_id": release_id, "epsilon": round(float(entries["epsilon"].sum()), 6),
        "noise_scales": MetadataValue.json({r.query: round(r.noise_scale, 4) for r in releases}),
        "budget_spent_this_period": round(spent, 6), "budget_left_this_period": round(max(0.0, budget.epsilon - spent), 6),
        "period": budget.period_of(now), "min_group_size": privacy.group_minimum()}


@asset(key=LEDGER_KEY, deps=[SEGMENT_INTERESTS_KEY, POPULAR_ITEMS_KEY, SEGMENT_METRICS_KEY], group_name=GROUP, kinds={"duckdb"}, pool=POOL,
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


privacy_assets = [segment_interests, popular_items, segment_metrics, privacy_ledger_report]
