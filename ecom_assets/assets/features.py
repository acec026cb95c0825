"""Features group: the dbt project (staging -> intermediate -> marts) as Dagster assets.

dbt tests become asset checks. dbt runs as its own process against the same DuckDB file,
so it shares the "warehouse" pool with every other writer; the manifest is parsed by
`make prepare` (or by `dagster dev`), never at import in production.
"""


import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from dagster import AssetExecutionContext, AssetKey, Config, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ecom_assets.assets.metadata import preview
from ecom_assets.dbt_project import DBT_PROJECT, prepare_if_dev
from ecom_assets.deployment import compute_for
from ecom_assets.resources import WarehouseResource

prepare_if_dev()  # only under `dagster dev`: re-parse when the SQL changes (with dbt beside the interpreter)


class FeatureConfig(Config):
    """dbt vars exposed in the launchpad."""

    test_days: int = 7
    """The last `test_days` days of events form the test window of the temporal split."""
    half_life_days: float = 14.0
    """Interaction weights halve every `half_life_days` before the reference time."""
    session_gap_minutes: int = 30
    """Events of a user further apart than this start a new session."""
    drift_reference_days: int = 0
    """Drift checks compare the current window with this many days before the test cutoff; 0 = as long as the
    current window."""

    def dbt_vars(self) -> dict[str, Any]:
        return self.model_dump()


def dbt_build_args(config: FeatureConfig) -> list[str]:
    return ["build", "--vars", json.dumps(config.dbt_vars())]


class ShopDbtTranslator(DagsterDbtTranslator):
    """Keys as <schema>/<model> (staging/stg_events, marts/user_features), one group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "features"


@contextmanager
def _warehouse_env(path: Path) -> Iterator[None]:
    """dbt reads the warehouse path from ECOM_WAREHOUSE (profiles.yml)."""
    previous = os.environ.get("ECOM_WAREHOUSE")
    os.environ["ECOM_WAREHOUSE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ECOM_WAREHOUSE", None)
        else:
            os.environ["ECOM_WAREHOUSE"] = previous


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=ShopDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    name="dbt_features",
    **compute_for("dbt_features"),
)
def dbt_features(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                 config: FeatureConfig):
    warehouse.resolved_path.parent.mkdir(parents=True, exist_ok=True)
    with _warehouse_env(warehouse.resolved_path):
        # Buffered: row counts and previews are read once dbt has released the file.
        events = list(dbt.cli(dbt_build_args(config), context=context).stream())
    keys = [context.asset_key_for_output(e.output_name) for e in events if isinstance(e, Output)]
    stats = _table_stats(warehouse, keys)
    for event in events:
        if isinstance(event, Output):
            key = context.asset_key_for_output(event.output_name)
            yield event.with_metadata({**event.metadata, **stats.get(key, {})})
        else:
            yield event


def _table_stats(warehouse: WarehouseResource, keys: list[AssetKey]) -> dict[AssetKey, dict]:
    """Row count of every built model and a preview of the marts, in one connection."""
    stats = {}
    with warehouse.connect(read_only=True) as con:
        for key in keys:
            table = ".".join(key.path)
            meta = {"dagster/row_count": int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])}
            if key.path[0] == "marts":
                meta["preview"] = preview(con.execute(f"SELECT * FROM {table} LIMIT 5").df())
            stats[key] = meta
    return stats
