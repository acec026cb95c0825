"""Deployment profiles: the same definitions under ECOM_DEPLOYMENT=local and =k8s, with the
k8s executor and every heavy asset's resource requests and pool on Kubernetes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecom_assets import deployment

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import json
from ecom_assets.definitions import defs
from ecom_assets.deployment import HEAVY
graph = defs.resolve_asset_graph()
ops = {}
for node in graph.asset_nodes:
    assets_def = node.assets_def
    names = {node.key.to_user_string(), assets_def.node_def.name}
    for name in names & set(HEAVY):
        ops[name] = {"tags": dict(assets_def.op.tags), "pool": assets_def.op.pool}
print(json.dumps({"executor": defs.resolve_job_def("recommend_job").executor_def.name, "ops": ops}))
"""


def _load(profile: str) -> dict:
    env = {**os.environ, deployment.DEPLOYMENT_ENV: profile}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_unknown_profile_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(deployment.DEPLOYMENT_ENV, "nomad")
    with pytest.raises(ValueError, match="ECOM_DEPLOYMENT='nomad'.*local, k8s"):
        deployment.profile()


def test_compute_settings_per_profile(monkeypatch):
    monkeypatch.delenv(deployment.DEPLOYMENT_ENV, raising=False)
    assert deployment.compute_for("ml/product_text_encoder") == {"pool": "warehouse"}
    monkeypatch.setenv(deployment.DEPLOYMENT_ENV, "k8s")
    gpu = deployment.compute_for("ml/product_text_encoder")
    resources = gpu["op_tags"]["dagster-k8s/config"]["container_config"]["resources"]
    assert gpu["pool"] == "gpu" and resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"] == {"cpu": "4", "memory": "16Gi"}
    cpu = deployment.compute_for("serving/recommendations")
    assert cpu["pool"] == "cpu-large" and "nvidia.com/gpu" not in str(cpu["op_tags"])
    assert deployment.compute_for("serving/similar_items") == {"pool": "warehouse"}  # light: as locally


def test_the_k8s_profile_runs_steps_as_jobs_with_each_heavy_asset_s_requests():
    local, k8s = _load("local"), _load("k8s")
    assert "multi" in local["executor"]
    assert k8s["executor"] == "k8s"
    assert set(k8s["ops"]) == set(deployment.HEAVY), sorted(set(deployment.HEAVY) - set(k8s["ops"]))
    for name, op in k8s["ops"].items():
        wanted = deployment.HEAVY[name]
        config = json.loads(op["tags"]["dagster-k8s/config"]) if isinstance(op["tags"]["dagster-k8s/config"], str) \
            else op["tags"]["dagster-k8s/config"]
        resources = config["container_config"]["resources"]
        assert resources["requests"] == {"cpu": wanted.cpu, "memory": wanted.memory}, name
        assert (resources["limits"].get("nvidia.com/gpu") == "1") == bool(wanted.gpu), name
        assert op["pool"] == wanted.kind, name
    for name, op in local["ops"].items():  # locally: today's behaviour
        assert "dagster-k8s/config" not in op["tags"] and op["pool"] == "warehouse", name
    gpu = {n for n, c in deployment.HEAVY.items() if c.gpu}
    assert {"ml/product_text_encoder", "recommender", "ml/ad_copy_generator", "copy_loop"} <= gpu


@pytest.mark.parametrize("profile", ["local", "k8s"])
def test_dagster_definitions_validate_passes(profile):
    env = {**os.environ, deployment.DEPLOYMENT_ENV: profile}
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "ecom_assets.definitions"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_the_batch_backend_comes_from_the_environment_and_an_unknown_one_is_refused(monkeypatch):
    from ecom_assets.ml.common.parallel import LocalRunner, RayRunner
    from ecom_assets.resources import BatchComputeResource

    monkeypatch.delenv("ECOM_BATCH_BACKEND", raising=False)
    assert isinstance(BatchComputeResource().runner(), LocalRunner)
    monkeypatch.setenv("ECOM_BATCH_BACKEND", "ray")
    monkeypatch.setenv("ECOM_RAY_ADDRESS", "ray://head:10001")
    runner = BatchComputeResource().runner()  # not connected until it first maps
    assert isinstance(runner, RayRunner) and runner.address == "ray://head:10001"
    assert isinstance(BatchComputeResource(backend="local").runner(), LocalRunner)
    monkeypatch.setenv("ECOM_BATCH_BACKEND", "spark")
    with pytest.raises(ValueError, match="ECOM_BATCH_BACKEND"):
        BatchComputeResource().runner()


def test_the_batch_steps_take_the_batch_resource():
    from dagster import AssetKey

    from ecom_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in (["ml", "item_embeddings"], ["serving", "recommendations"], ["serving", "ad_copy"]):
        node = graph.get(AssetKey(key))
        assert "batch" in node.assets_def.required_resource_keys, key
