"""Shared fixtures: a tiny demo shop, isolated warehouse/inbox/key per test, and one
fully built warehouse per session for the tests that only read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["ECOM_PSEUDONYM_KEY"] = "test-pseudonym-key"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models load from local paths only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
# Public data samples live beside the project (../shared/data), never inside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_SHOP = dict(n_users=300, n_items=120, n_days=14, events_per_day=900, support_tickets=400, seed=11)


def pytest_configure(config):
    # @dbt_assets reads the manifest at import; make sure it exists before any test imports definitions.
    from ecom_assets.dbt_project import DBT_PROJECT, prepare_manifest

    if not DBT_PROJECT.manifest_path.exists():
        prepare_manifest()


def pytest_report_header(config):
    from ecom_assets_tests.ui.conftest import chromium_path

    found = chromium_path()
    return [f"browser tests: Chromium at {found}" if found else
            "browser tests: WILL BE SKIPPED, no Chromium (apt-get install chromium fonts-wqy-microhei)"]


def make_resources(root: Path, **source_overrides):
    from ecom_assets.definitions import build_resources
    from ecom_assets.resources import ModelStoreResource, PrivacyResource, ShopDataSource, WarehouseResource

    return build_resources(
        warehouse=WarehouseResource(path=str(root / "warehouse.duckdb")),
        model_store=ModelStoreResource(root=str(root / "models")),
        privacy=PrivacyResource(key_file=str(root / "secrets" / "key")),
        source=ShopDataSource(inbox_dir=str(root / "inbox"), **{**TINY_SHOP, **source_overrides}),
    )


@pytest.fixture
def resources(tmp_path):
    return make_resources(tmp_path)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The whole demo graph materialised once on the tiny shop (with the UCI-format
    fixture and a few attribute-written copy examples in the inbox); tests read the
    warehouse, never write it."""
    import shutil

    from ecom_assets.demo import run_pipeline

    reuse = os.environ.get("ECOM_TEST_REUSE_BUILT")
    if reuse:  # a developer iterating on read-only tests: a folder an earlier session built (--basetemp=DIR: DIR/built0)
        return {**make_resources(Path(reuse)), "instance_home": Path(reuse) / "dagster_home"}
    root = tmp_path_factory.mktemp("built")
    (root / "inbox" / "events").mkdir(parents=True)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", root / "inbox" / "events" / "uci.csv")
    (root / "inbox" / "copy_examples").mkdir(parents=True)
    shutil.copy(FIXTURES / "copy_examples_small.jsonl", root / "inbox" / "copy_examples" / "copy.jsonl")
    res = make_resources(root)
    # A persistent instance, so that the browser tests' UI shows this run's history and metadata.
    from dagster import DagsterInstance

    (root / "dagster_home").mkdir()
    instance = DagsterInstance.local_temp(tempdir=str(root / "dagster_home"))
    run_pipeline(res, instance=instance, log=lambda _: None, op_config={"ml__product_text_encoder": {"epochs": 8, "distill_seconds": 4},
                                                     "ml__ad_copy_generator": {"steps": 300},
                                                     "serving__ad_copy": {"variants": 2},
                                                     # a 14-day shop has few answered tickets before its cutoff
                                                     "ml__support_encoder": {"max_seconds": 15, "epochs": 1, "valid_days": 3,
                                                                             "target_precision": 0.8},
                                                     # the blend or ranker serves (never one strategy alone), so that
                                                     # the champion holds every component, the text one included
                                                     "recommender": {"serve_tolerance": 1.0}})
    instance.dispose()
    return {**res, "instance_home": root / "dagster_home"}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A 2-layer, 32-d BERT with the real tokenizer: every code path, a fraction of the cost."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ecom_assets.ml.text.encoder import default_base_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def query(resources, sql: str, params=None):
    return resources["warehouse"].query(sql, params)
