"""The one Definitions object: assets, checks, jobs, sensors and resources.

Cross-cutting policy (owners, tags) is applied here by selection, not on each asset.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import (
    AssetSpec,
    DefaultScheduleStatus,
    Definitions,
    FreshnessPolicy,
    build_schedule_from_partitioned_job,
    define_asset_job,
    map_asset_specs,
)

from ecom_assets.assets.automation import (
    MODEL_CHAIN,
    automation_condition_for,
    daily_events_schedule_for,
    retrain_on_drift_or_growth,
)
from ecom_assets.assets.copy import copy_assets, copy_checks
from ecom_assets.assets.fairness import fairness_assets
from ecom_assets.assets.features import dbt_features
from ecom_assets.assets.ingest import (
    inbox_job,
    inbox_sensor,
    ingest_assets,
    ingest_checks,
    raw_events,
    refresh_after_retraction,
    retract_load_job,
    retraction_follow_up,
)
from ecom_assets.assets.loop import loop_assets, loop_checks
from ecom_assets.assets.monitoring import monitoring_assets, monitoring_checks, monitoring_jobs, monitoring_sensors
from ecom_assets.assets.preview import preview_assets
from ecom_assets.assets.privacy import privacy_assets
from ecom_assets.assets.recommend import recommend_assets, recommend_checks
from ecom_assets.assets.service import service_assets, service_checks
from ecom_assets.assets.text import text_assets, text_checks
from ecom_assets.dbt_project import dbt_resource
from ecom_assets.deployment import executor as deployment_executor
from ecom_assets.jobs import PARTITIONED_STAGES, STAGE_DESCRIPTIONS, STAGES
from ecom_assets.resources import (
    BatchComputeResource,
    ModelStoreResource,
    PrivacyResource,
    ShopDataSource,
    WarehouseResource,
)

OWNERS = {"ingest": ["team:data-platform"], "features": ["team:data-platform"], "text": ["team:ml"], "recommend": ["team:recsys"],
          "copy": ["team:marketing-ml"], "monitoring": ["team:data-platform"], "loop": ["team:marketing-ml"],
          "preview": ["team:marketing-ml"],
          "service": ["team:customer-service-ml"], "privacy": ["team:data-platform"]}
# Serving tables are stale (warn) after a day without a refresh and failing after two:
# the UI shows it on the asset.
SERVING_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=2), warn_window=timedelta(days=1))


def _with_policy(spec: AssetSpec) -> AssetSpec:
    owners = OWNERS.get(spec.group_name or "", [])
    spec = spec.replace_attributes(owners=owners or spec.owners).merge_attributes(tags={"layer": spec.group_name or "other"})
    if spec.key.path[0] == "serving":
        spec = spec.replace_attributes(freshness_policy=SERVING_FRESHNESS)
    return spec


def build_resources(**overrides) -> dict:
    resources = {
        "warehouse": WarehouseResource(),
        "model_store": ModelStoreResource(),
        "privacy": PrivacyResource(),
        "source": ShopDataSource(),
        "dbt": dbt_resource(),
        "batch": BatchComputeResource(),
    }
    resources.update(overrides)
    return resources


_ASSETS = [*ingest_assets, dbt_features, *text_assets, *recommend_assets, *privacy_assets, *copy_assets,
           *service_assets, *monitoring_assets, *fairness_assets, *loop_assets,
           *preview_assets]
_CHAIN_KEYS = MODEL_CHAIN.resolve(_ASSETS)


def _with_automation(spec: AssetSpec) -> AssetSpec:
    condition = automation_condition_for(spec.key, _CHAIN_KEYS)
    return spec if condition is None else spec.replace_attributes(automation_condition=condition)


ALL_ASSETS = list(map_asset_specs(lambda s: _with_automation(_with_policy(s)), _ASSETS))
ALL_CHECKS = [*ingest_checks, *text_checks, *recommend_checks, *copy_checks, *service_checks, *monitoring_checks,
              *loop_checks]

# One job per stage, as the demo runs them (the inbox stage is inbox_job, which also
# refreshes what is downstream of the files).
STAGE_JOBS = [define_asset_job(f"{name}_job", selection=selection, description=STAGE_DESCRIPTIONS[name],
                               partitions_def=raw_events.partitions_def if name in PARTITIONED_STAGES else None)
              for name, selection in STAGES.items() if name != "inbox"]

# The loop turns once a day after the events (stopped by default, like the events schedule):
# yesterday's impressions under the policy that served, the policy updated and gated.
DAILY_LOOP = build_schedule_from_partitioned_job(next(j for j in STAGE_JOBS if j.name == "loop_job"), hour_of_day=2,
                                                 minute_of_hour=0, default_status=DefaultScheduleStatus.STOPPED)

defs = Definitions(
    assets=ALL_ASSETS,
    executor=deployment_executor(),  # ECOM_DEPLOYMENT: local (multiprocess) or k8s (a Kubernetes Job per step)
    asset_checks=ALL_CHECKS,
    jobs=[inbox_job, *STAGE_JOBS, *monitoring_jobs, retract_load_job, refresh_after_retraction],
    schedules=[daily_events_schedule_for(raw_events, dbt_features)[0], DAILY_LOOP],
    sensors=[inbox_sensor, *monitoring_sensors, retrain_on_drift_or_growth, retraction_follow_up],
    resources=build_resources(),
)
