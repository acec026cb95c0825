"""Dagster resources: the DuckDB warehouse, the model store, the pseudonymisation key and
the data source. Paths default to project-local folders; env vars override them for a
deployment (`ECOM_WAREHOUSE`, `ECOM_MODEL_DIR`, `ECOM_INBOX_DIR`) and carry the one
secret (`ECOM_PSEUDONYM_KEY`)."""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal

import duckdb
import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field as PydanticField

from ecom_assets import paths
from ecom_assets.ml.common.parallel import LocalRunner, RayRunner, Runner
from ecom_assets.privacy import PseudonymKey, load_or_create_key
from ecom_assets.sources.public import PublicShop, read_recbole, read_s3rec
from ecom_assets.sources.synthetic import ShopConfig, SyntheticShop
from ecom_assets.warehouse import connect, replace_table
from ecom_assets.warehouse.raw_store import DuckDBRawStore


class WarehouseResource(ConfigurableResource):
    """One DuckDB file. Connections are opened per use and closed at once, so that dbt
    (a separate process) and the assets never hold the write lock across an asset."""

    path: str = PydanticField(default="", description="DuckDB file; default $ECOM_WAREHOUSE or data/warehouse.duckdb")
    lock_timeout_s: float = 120.0

    @property
    def resolved_path(self) -> Path:
        return paths.resolve(self.path or os.environ.get("ECOM_WAREHOUSE") or paths.DEFAULT_WAREHOUSE)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.resolved_path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as con:
            yield con

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def replace_table(self, qualified: str, frame: pd.DataFrame, select: str = "*", order_by: str | None = None) -> int:
        """`warehouse.replace_table` on a connection of its own: atomic, the old table stays on failure."""
        with self.connect() as con:
            return replace_table(con, qualified, frame, select, order_by)

    def raw_store(self) -> DuckDBRawStore:
        """Where the ingest assets write raw loads (ecom_assets.warehouse.raw_store.RawStore)."""
        return DuckDBRawStore(self.resolved_path, lock_timeout_s=self.lock_timeout_s)


BATCH_BACKENDS = ("local", "ray")


class BatchComputeResource(ConfigurableResource):
    """Where the data-parallel batch steps (item embedding, recommendation scoring, copy
    generation) run their shards: in the step's own process (`local`, the default), or as
    Ray tasks (`ray`): on the cluster at `ray_address` when set (a KubeRay head,
    "ray://head:10001"), else on a local Ray cluster the step starts (ray.init) with
    `ray_num_cpus` CPUs. Either way the results are the same (ml/common/parallel.py)."""

    backend: str = PydanticField(default="", description="local or ray; default $ECOM_BATCH_BACKEND or local")
    ray_address: str = PydanticField(default="", description="default $ECOM_RAY_ADDRESS; empty: a local cluster")
    ray_num_cpus: int = PydanticField(default=0, description="CPUs of a local Ray cluster (0: all of the machine's)")
    ray_cpus_per_task: float = 1.0

    @property
    def resolved_backend(self) -> str:
        backend = (self.backend or os.environ.get("ECOM_BATCH_BACKEND") or "local").strip().lower()
        if backend not in BATCH_BACKENDS:
            raise ValueError(f"batch backend {backend!r} (BatchComputeResource.backend or $ECOM_BATCH_BACKEND) is not "
                             f"one of {', '.join(BATCH_BACKENDS)}")
        return backend

    def runner(self) -> Runner:
        if self.resolved_backend == "local":
            return LocalRunner()
        return RayRunner(address=self.ray_address or os.environ.get("ECOM_RAY_ADDRESS", ""),
                         num_cpus=self.ray_num_cpus, cpus_per_task=self.ray_cpus_per_task)


class ModelStoreResource(ConfigurableResource):
    """Folder of trained models: <root>/<model_name>/<version>/."""

    root: str = PydanticField(default="", description="default $ECOM_MODEL_DIR or models/")

    @property
    def resolved_root(self) -> Path:
        return paths.resolve(self.root or os.environ.get("ECOM_MODEL_DIR") or paths.DEFAULT_MODEL_DIR)

    def version_dir(self, model_name: str, version: str) -> Path:
        path = self.resolved_root / model_name / version
        path.mkdir(parents=True, exist_ok=True)
        return path


class PrivacyResource(ConfigurableResource):
    """The keyed-hash secret for pseudonymising user ids ($ECOM_PSEUDONYM_KEY, else a
    generated local key file kept outside the warehouse), and the differential-privacy
    budget every released aggregate draws on."""

    key_file: str = paths.DEFAULT_KEY_FILE
    epsilon_per_period: float = PydanticField(default=8.0, description="Total epsilon of all DP releases per period")
    delta_per_period: float = 1e-6
    budget_period: str = PydanticField(default="W", description="Calendar period of the budget: D, W or M")
    min_group_size: int | None = PydanticField(
        default=None, description="Below this many (noisy) members a group's aggregate is not released; default "
                                  "$ECOM_MIN_GROUP_SIZE or 10")

    def group_minimum(self) -> int:
        return int(self.min_group_size or os.environ.get("ECOM_MIN_GROUP_SIZE") or 10)

    def budget(self):
        from ecom_assets.ml.privacy.accountant import PrivacyBudget

        return PrivacyBudget(self.epsilon_per_period, self.delta_per_period, self.budget_period)

    def key(self) -> PseudonymKey:
        return load_or_create_key(paths.resolve(self.key_file))


@lru_cache(maxsize=4)
def _shop(config: ShopConfig) -> SyntheticShop:
    return SyntheticShop(config)


@lru_cache(maxsize=2)
def _public_shop(kind: str, path: str, start: str, n_days: int) -> PublicShop:
    data = read_s3rec(path) if kind == "s3rec" else read_recbole(path)
    return PublicShop(data, start, n_days)


class ShopDataSource(ConfigurableResource):
    """Which data feeds the raw tables.

    kind="synthetic": the built-in demo shop generates products, users, tickets and each
    day's events (knobs below). kind="inbox_only": the synthetic tables stay empty and
    only files dropped in the inbox feed the pipeline. kind="s3rec" | "recbole": a public
    sequence dataset at `dataset_path` (e.g. ../shared/data/amazon-beauty/Beauty.txt)
    laid out over the `n_days` window from `start_date`; run the features with
    test_days=1 for the leave-one-out protocol.
    """

    kind: Literal["synthetic", "inbox_only", "s3rec", "recbole"] = "synthetic"
    dataset_path: str = ""
    seed: int = 7
    n_users: int = 2_000
    n_items: int = 600
    start_date: str = "2026-10-01"
    n_days: int = 30
    events_per_day: int = 4_000
    drift_date: str | None = None
    drift_strength: float = 0.6
    support_tickets: int = 1_500
    dirty_rate: float = 0.001
    inbox_dir: str = PydanticField(default="", description="default $ECOM_INBOX_DIR or data/inbox")

    @property
    def resolved_inbox_dir(self) -> Path:
        return paths.resolve(self.inbox_dir or os.environ.get("ECOM_INBOX_DIR") or paths.DEFAULT_INBOX_DIR)

    def shop_config(self) -> ShopConfig:
        # The knobs above mirror ShopConfig's fields (they are the launchpad's schema).
        return ShopConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ShopConfig)})

    @property
    def shop(self) -> SyntheticShop | PublicShop | None:
        """What feeds the raw tables (products(), users(), support_tickets(),
        events_for_day(day)), or None when only the inbox does."""
        if self.kind == "synthetic":
            return _shop(self.shop_config())
        if self.kind in ("s3rec", "recbole"):
            if not self.dataset_path:
                raise ValueError(f"source kind {self.kind!r} needs dataset_path")
            return _public_shop(self.kind, str(paths.resolve(self.dataset_path)), self.start_date, self.n_days)
        return None

    @property
    def demo_partitions(self) -> list[str]:
        return [d.isoformat() for d in self.shop_config().days]
