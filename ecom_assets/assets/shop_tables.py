"""Reading the shop's modelled tables (dbt marts) the way every model asset needs them.

dbt owns their shape: `marts.catalogue` (one row per item with everything the text,
recommend and copy steps read, `is_offerable` included), `marts.positive_events` (the
events that say a user wanted an item: one definition, from the event weights),
`marts.split_cutoff` and `marts.user_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecom_assets.resources import WarehouseResource
from ecom_assets.warehouse import table_exists


def read_catalogue(warehouse: WarehouseResource) -> pd.DataFrame:
    return warehouse.query("SELECT * FROM marts.catalogue ORDER BY item_id")


def read_history(warehouse: WarehouseResource) -> tuple[pd.DataFrame, np.datetime64, pd.Index]:
    """(positive events: user_id, item_id, event_time, event_type; the test cutoff; every user id, sorted)."""
    with warehouse.connect(read_only=True) as con:
        events = con.execute("SELECT user_id, item_id, event_time, event_type FROM marts.positive_events").df()
        cutoff = np.datetime64(con.execute("SELECT cutoff FROM marts.split_cutoff").fetchone()[0])
        users = con.execute("SELECT user_id FROM marts.user_features ORDER BY user_id").df()["user_id"]
    return events, cutoff, pd.Index(users)


def read_item_embeddings(warehouse: WarehouseResource, item_ids: pd.Index) -> tuple[np.ndarray, str] | None:
    """Embeddings aligned to `item_ids` (zeros where an item has none) and their model
    version, or None when the table does not exist yet."""
    with warehouse.connect(read_only=True) as con:
        if not table_exists(con, "ml.item_embeddings"):
            return None
        table = con.execute("SELECT item_id, model_version, embedding FROM ml.item_embeddings").df()
    if table.empty:
        return None
    matrix = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    out = np.zeros((len(item_ids), matrix.shape[1]), dtype=np.float32)
    where = item_ids.get_indexer(table["item_id"])
    out[where[where >= 0]] = matrix[where >= 0]
    return out, str(table["model_version"].iloc[0])


USER_AS_OF_COLUMNS = ["n_events", "n_sessions", "n_clicks", "n_purchases", "n_distinct_items", "browse_seconds",
                      "click_depth", "session_conversion_rate", "purchase_frequency", "recency_days", "monetary_value",
                      "avg_price_viewed", "events_last_7_days"]
ITEM_AS_OF_COLUMNS = ["views", "clicks", "purchases", "n_users", "events_last_7_days", "decayed_weight", "ctr",
                      "conversion_rate", "age_days"]
ITEM_STATIC_COLUMNS = ["effective_price", "discount_pct"]


def read_feature_snapshots(warehouse: WarehouseResource, users: pd.Index, items: pd.Index):
    """The point-in-time features of the dbt marts `user_features_as_of` and
    `item_features_as_of` (with the catalogue's price and discount), as a function of a
    time: `features(as_of)` gives those of the newest snapshot taken at or before `as_of`
    (never one after: that would leak the window a model learns from), `features(None)`
    the serving snapshot; rows aligned to `users` and `items`, NaN where a user or item
    had no event yet. None when the marts do not exist (a warehouse built before them)."""
    from ecom_assets.ml.recsys.ranker import SideFeatures

    with warehouse.connect(read_only=True) as con:
        if not (table_exists(con, "marts.user_features_as_of") and table_exists(con, "marts.item_features_as_of")):
            return None
        times = con.execute("SELECT as_of, purpose FROM marts.feature_snapshot_times ORDER BY as_of").df()
        user_rows = con.execute(f"SELECT as_of, user_id, {', '.join(USER_AS_OF_COLUMNS)} FROM marts.user_features_as_of").df()
        item_rows = con.execute(f"SELECT as_of, item_id, {', '.join(ITEM_AS_OF_COLUMNS)} FROM marts.item_features_as_of").df()
        static = con.execute(f"SELECT item_id, {', '.join(ITEM_STATIC_COLUMNS)} FROM marts.catalogue").df()
    static = static.set_index("item_id").reindex(items).to_numpy(np.float32)
    history = times.loc[times["purpose"] == "history", "as_of"].to_numpy("datetime64[s]")
    serving = times.loc[times["purpose"] == "serving", "as_of"].to_numpy("datetime64[s]")
    cache: dict = {}

    def aligned(rows: pd.DataFrame, key: str, index: pd.Index, columns: list[str], when) -> np.ndarray:
        at = rows[rows["as_of"].to_numpy("datetime64[s]") == when]
        out = np.full((len(index), len(columns)), np.nan, np.float32)
        where = index.get_indexer(at[key])
        out[where[where >= 0]] = at.loc[where >= 0, columns].to_numpy(np.float32)
        return out

    def features(as_of) -> SideFeatures:
        if as_of is None:
            when = serving[-1] if len(serving) else None
        else:
            earlier = history[history <= np.datetime64(as_of, "s")]
            when = earlier[-1] if len(earlier) else None
        if when not in cache:
            if when is None:  # before the oldest snapshot: nothing is known yet
                user = np.full((len(users), len(USER_AS_OF_COLUMNS)), np.nan, np.float32)
                item = np.full((len(items), len(ITEM_AS_OF_COLUMNS)), np.nan, np.float32)
            else:
                user = aligned(user_rows, "user_id", users, USER_AS_OF_COLUMNS, when)
                item = aligned(item_rows, "item_id", items, ITEM_AS_OF_COLUMNS, when)
            cache[when] = SideFeatures(user, np.concatenate([item, static], axis=1), list(USER_AS_OF_COLUMNS),
                                       ITEM_AS_OF_COLUMNS + ITEM_STATIC_COLUMNS)
        return cache[when]

    return features


def read_item_attributes(warehouse: WarehouseResource, items: pd.Index):
    """Category, brand and price-band codes per item (aligned to `items`) for the ranker's
    user x item affinities."""
    from ecom_assets.ml.recsys.ranker import ItemAttributes

    frame = warehouse.query("SELECT item_id, category_l2, brand, price_band FROM marts.item_features")
    frame = frame.set_index("item_id").reindex(items)
    category = pd.factorize(frame["category_l2"])[0]
    brand = pd.factorize(frame["brand"])[0]
    band = frame["price_band"].fillna(-1).astype(int).to_numpy()
    return ItemAttributes(category=category.astype(np.int64), brand=brand.astype(np.int64), price_band=band)


def served_strategy(warehouse: WarehouseResource, listed: set[str]) -> str:
    """The strategy the recommender's champion serves, among those with test lists (else the hybrid)."""
    from ecom_assets.assets.gates import current_champion

    champ = current_champion(warehouse, "recommender", required_by="the test lists' reader")
    params = champ["params"] if isinstance(champ["params"], dict) else {}
    served = params.get("serves") or "hybrid"
    return served if served in listed else "hybrid"


def read_served_test_lists(warehouse: WarehouseResource, max_rank: int | None = None
                           ) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """(the served strategy, its lists for the test window's users from
    ml.recommendation_test_lists: user_id, item_id, rank, cutoff, up to `max_rank`; what
    each of those users took in the window that they had not taken before: user_id,
    item_id). The lists leave each user's history out, so an item they already had is no miss."""
    with warehouse.connect(read_only=True) as con:
        lists = con.execute("SELECT strategy, user_id, item_id, rank, cutoff FROM ml.recommendation_test_lists "
                            "WHERE rank <= ?", [max_rank if max_rank is not None else 2**31 - 1]).df()
        truth = con.execute("""SELECT t.user_id, t.item_id FROM marts.test_interactions t
                               ANTI JOIN marts.train_interactions r USING (user_id, item_id)""").df()
    strategy = served_strategy(warehouse, set(lists["strategy"]))
    mine = lists[lists["strategy"] == strategy].drop(columns=["strategy"])
    return strategy, mine, truth[truth["user_id"].isin(mine["user_id"])]
