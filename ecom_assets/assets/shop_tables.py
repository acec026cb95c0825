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
