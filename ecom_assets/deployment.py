"""Deployment profiles: the same assets, another executor and other compute settings,
chosen by the environment (`ECOM_DEPLOYMENT=local|k8s`, read when the code location
loads; in the style of dagster-io/hooli-data-eng-pipelines' deployment switch).

local (default)  today's behaviour: the multiprocess executor, every warehouse writer in
                 the `warehouse` pool (limit 1: one DuckDB writer at a time)
k8s              dagster-k8s' `k8s_job_executor` (each step its own Kubernetes Job); every
                 heavy asset asks for its CPU and memory (and `nvidia.com/gpu` where it
                 trains a network) through its `dagster-k8s/config` op tag, and sits in the
                 pool of its resource kind (`gpu`, `cpu-large`) so that the instance's pool
                 limits (deploy/helm/values.yaml) match what the cluster can schedule

`compute_for(key)` gives an asset decorator its `pool` and `op_tags`; `executor()` the
Definitions' executor. Requests are sized from the 2-core measurements in the README
(peak memory of the demo shop's steps, times the headroom a 10x shop needs) and are meant
to be edited per cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEPLOYMENT_ENV = "ECOM_DEPLOYMENT"
PROFILES = ("local", "k8s")
WAREHOUSE_POOL = "warehouse"


@dataclass(frozen=True)
class Compute:
    cpu: str
    memory: str
    gpu: int = 0

    @property
    def kind(self) -> str:
        return "gpu" if self.gpu else "cpu-large"

    def k8s_config(self) -> dict:
        requests = {"cpu": self.cpu, "memory": self.memory}
        limits = {"memory": self.memory}
        if self.gpu:  # GPUs are requested through limits (Kubernetes' extended resources)
            limits["nvidia.com/gpu"] = str(self.gpu)
        return {"container_config": {"resources": {"requests": requests, "limits": limits}}}


# The steps that train a network (GPU) or hold a large part of the shop in memory. Keys are
# asset keys as the UI writes them, or a multi-asset's name (recommender, copy_loop,
# dbt_features).
HEAVY: dict[str, Compute] = {
    "ml/product_text_encoder": Compute("4", "16Gi", gpu=1),  # encoder distillation and fine-tune
    "recommender": Compute("8", "32Gi", gpu=1),  # SASRec, ALS, the LightGBM ranker
    "ml/ad_copy_generator": Compute("4", "16Gi", gpu=1),  # GPT-2 training
    "ml/support_encoder": Compute("4", "16Gi", gpu=1),  # encoder fine-tune
    "copy_loop": Compute("4", "16Gi", gpu=1),  # the bandit policy's training
    "ml/item_embeddings": Compute("8", "16Gi"),  # the catalogue through the encoder
    "serving/recommendations": Compute("8", "32Gi"),  # scoring every user
    "serving/ad_copy": Compute("8", "16Gi"),  # sampling and reviewing every variant
    "raw/events": Compute("4", "16Gi"),  # validated ingestion
    "dbt_features": Compute("4", "16Gi"),  # dbt through the marts
}


def profile() -> str:
    value = os.environ.get(DEPLOYMENT_ENV, "local").strip() or "local"
    if value not in PROFILES:
        raise ValueError(f"${DEPLOYMENT_ENV}={value!r}: expected one of {', '.join(PROFILES)}")
    return value


def compute_for(key: str, pool: str = WAREHOUSE_POOL) -> dict:
    """`pool` and `op_tags` for the asset decorator of `key` under the current profile."""
    heavy = HEAVY.get(key)
    if profile() != "k8s" or heavy is None:
        return {"pool": pool}
    return {"pool": heavy.kind, "op_tags": {"dagster-k8s/config": heavy.k8s_config(), "ecom/compute": heavy.kind}}


def executor():
    """The Definitions' executor: None (Dagster's default multiprocess executor) locally,
    dagster-k8s' job executor on Kubernetes."""
    if profile() != "k8s":
        return None
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor
