"""The storefront preview (preview group): what a shopper would see.

    reports/storefront_preview   an HTML page in the reports folder (linked from the
                                 metadata): for a sample of users per segment, their
                                 served items with title, price, the published ad line
                                 and the list's reason, in every copy language

The ad line on a card is the one the serving policy would show that product, segment and
shopper language (serving.copy_assignments, one arm drawn by its propensity with a fixed
seed); before the loop has run, the first published variant in that language.
"""

from datetime import datetime, timezone

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, Config, MaterializeResult, MetadataValue, asset

from ecom_assets.assets.shop_tables import read_catalogue
from ecom_assets.resources import WarehouseResource

GROUP = "preview"
POOL = "warehouse"
STOREFRONT_KEY = AssetKey(["reports", "storefront_preview"])
PAGES_KEPT = 10


class StorefrontConfig(Config):
    users_per_segment: int = 2
    """Shoppers shown per segment."""
    k: int = 8
    """Items shown per shopper."""
    languages: list[str] = ["zh", "en"]
    seed: int = 0


def copy_shown(warehouse: WarehouseResource, wanted: pd.DataFrame, languages: list[str], seed: int) -> tuple[pd.DataFrame, str]:
    """(item_id, segment, user_language, text): the line shown for each product and
    segment of `wanted` in each shopper language, and where it came from."""
    from ecom_assets.ml.copy.arms import draw_arm_per_context
    from ecom_assets.warehouse import table_exists

    key = ["item_id", "segment", "user_language"]
    with warehouse.connect(read_only=True) as con:
        con.register("wanted", wanted[["item_id", "segment"]].drop_duplicates())
        if table_exists(con, "serving.copy_assignments"):
            assigned = con.execute("""SELECT a.item_id, a.segment, a.user_language, a.arm, a.propensity, a.text
                                      FROM serving.copy_assignments a JOIN wanted USING (item_id, segment)
                                      WHERE a.serves_on = (SELECT max(serves_on) FROM serving.copy_assignments)
                                      ORDER BY a.item_id, a.segment, a.user_language, a.arm""").df()
        else:
            assigned = pd.DataFrame()
        published = con.execute("""SELECT a.item_id, a.segment, a.language AS user_language, a.text FROM serving.ad_copy a
                                   JOIN wanted USING (item_id, segment)
                                   WHERE a.passed ORDER BY a.item_id, a.segment, a.language, a.variant""").df()
    assigned = assigned[assigned["user_language"].isin(languages)] if len(assigned) else assigned
    if len(assigned):
        chosen = draw_arm_per_context(assigned, key, seed)
        return chosen[[*key, "text"]], "serving.copy_assignments (one arm drawn by its propensity)"
    first = published[published["user_language"].isin(languages)].groupby(key, sort=True).head(1)
    return first[[*key, "text"]], "serving.ad_copy (first published variant)"


@asset(key=STOREFRONT_KEY, deps=[AssetKey(["serving", "recommendations"]), AssetKey(["serving", "ad_copy"]),
                                 AssetKey(["serving", "copy_assignments"]), AssetKey(["marts", "catalogue"]),
                                 AssetKey(["marts", "user_features"])],
       group_name=GROUP, kinds={"html"}, pool=POOL,
       description="A storefront preview in the reports folder: for a sample of users per segment, the page a shopper "
                   "would see (recommended items with their reasons, prices and the ad line the policy shows), in "
                   "Chinese and English.")
def storefront_preview(context: AssetExecutionContext, config: StorefrontConfig, warehouse: WarehouseResource) -> MaterializeResult:
    from ecom_assets.ml.recsys.storefront import render_storefront, sample_users, storefront_cards

    with warehouse.connect(read_only=True) as con:
        served_users = con.execute("""SELECT DISTINCT r.user_id, u.segment FROM serving.recommendations r
                                      JOIN marts.user_features u USING (user_id)""").df()
        version = con.execute("SELECT max(model_version) FROM serving.recommendations").fetchone()[0]
    users = sample_users(served_users, config.users_per_segment, config.seed)
    with warehouse.connect(read_only=True) as con:
        con.register("sampled", users)
        lists = con.execute("""SELECT s.user_id, s.segment, r.rank, r.item_id, r.reason, r.anchor_item_id
                               FROM serving.recommendations r JOIN sampled s USING (user_id)
                               WHERE r.rank <= ? ORDER BY s.segment, s.user_id, r.rank""", [config.k]).df()
    lines, source = copy_shown(warehouse, lists, config.languages, config.seed)
    cards = storefront_cards(lists, read_catalogue(warehouse), lines, config.languages, config.k)
    now = datetime.now(timezone.utc)
    folder = warehouse.resolved_path.parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("storefront_*.html"))[:-(PAGES_KEPT - 1)]:
        old.unlink()
    page = folder / f"storefront_{now:%Y%m%dT%H%M%S}.html"
    page.write_text(render_storefront(cards, "Storefront preview", f"recommender {version} · ad lines from {source} · "
                                      f"{now:%Y-%m-%d %H:%M} UTC"), encoding="utf-8")
    with_copy = cards["copy"].notna()
    return MaterializeResult(metadata={
        "page": MetadataValue.path(str(page)), "url": MetadataValue.url(page.as_uri()),
        "shoppers": int(users["user_id"].nunique()), "segments": int(users["segment"].nunique()),
        "cards": len(cards), "languages": MetadataValue.json(config.languages),
        "cards_with_copy_share": round(float(with_copy.mean()), 4) if len(cards) else 0.0,
        "copy_source": source, "recommender_version": str(version)})


preview_assets = [storefront_preview]
