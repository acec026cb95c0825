"""The copy group in the graph: a registered generator with its card, ONNX parity, and
serving.ad_copy in both languages where every published row passes the fact check and
every rejected row says why; the blocking check catches a wrong number."""

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import AssetSelection, materialize

from ecom_assets.assets.copy import published_copy_passes_fact_check
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets.ml.copy.copywriting import product_facts
from ecom_assets.ml.copy.review import banned_claims, fact_check
from ecom_assets_tests.conftest import make_resources, query

COLUMNS = ["item_id", "segment", "variant", "language", "text", "template_id", "passed", "reasons", "facts_stated",
           "score", "generator_version", "generated_at"]


def test_the_generator_is_registered_with_its_card_and_onnx_parity(built):
    from ecom_assets.ml.common.model_files import sha256_file, verify_manifest

    row = query(built, "SELECT * FROM ml.model_registry WHERE name = 'ad_copy_generator' AND status = 'champion'").iloc[0]
    folder = Path(row["artifact_path"])
    card = json.loads((folder / "card.json").read_text())
    assert sha256_file(folder / "MANIFEST.json") == row["sha256"] == card["sha256"]
    assert "model.safetensors" in verify_manifest(folder, row["sha256"])
    assert card["metrics"]["held_out_perplexity"] > 1 and card["data"]["languages"] == ["en", "zh"]
    parity = json.loads((folder / "onnx" / "parity.json").read_text())
    assert parity["passed"] and parity["identical"] == parity["probes"] > 0


def test_published_copy_is_in_both_languages_and_states_only_catalogue_facts(built):
    copy = query(built, "SELECT * FROM serving.ad_copy")
    assert list(copy.columns) == COLUMNS
    published = copy[copy["passed"]]
    assert set(published["language"]) == {"en", "zh"}
    assert (published["reasons"].apply(len) == 0).all() and (copy.loc[~copy["passed"], "reasons"].apply(len) > 0).all()
    products = query(built, """SELECT i.*, p.currency FROM marts.item_features i
                               LEFT JOIN staging.stg_products p USING (item_id)""").set_index("item_id")
    for item, language, text in published[["item_id", "language", "text"]].itertuples(index=False):
        facts = product_facts(products.loc[item].to_dict(), language)
        assert fact_check(text, facts) == [] and banned_claims(text, language) == [], text
    assert not published["text"].str.contains(r"[{}]").any(), "no unfilled slot is ever published"
    # Each published line lists the catalogue facts it states; a line with a price names it.
    priced = published[published["facts_stated"].apply(lambda f: any(x.startswith("price ") for x in f))]
    assert len(priced) and (copy.loc[~copy["passed"], "facts_stated"].apply(len) == 0).all()
    for item, language, stated in priced[["item_id", "language", "facts_stated"]].head(20).itertuples(index=False):
        price = next(x for x in stated if x.startswith("price ")).split(" ", 1)[1]
        assert float(price) == pytest.approx(float(product_facts(products.loc[item].to_dict(), language)["price"]))
    assert published.groupby(["item_id", "segment", "language"]).size().max() >= 2, "several variants per audience"


def test_the_blocking_check_fails_when_a_published_row_states_a_wrong_number(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("UPDATE serving.ad_copy SET text = 'Now 97% off everything!' "
                "WHERE rowid = (SELECT min(rowid) FROM serving.ad_copy WHERE passed)")
    con.close()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.checks(published_copy_passes_fact_check),
                         resources=make_resources(tmp_path), raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.metadata["failures"].value == 1



def test_inbox_copy_examples_reach_the_corpus_and_published_variants_never_repeat(built):
    examples = query(built, "SELECT * FROM marts.copy_examples")
    assert len(examples) == 5 and set(examples["source"]) == {"advertisegen"}, "the malformed row is quarantined"
    quarantined = query(built, "SELECT reason FROM raw.quarantine WHERE target_table = 'raw.inbox_copy_examples'")
    assert quarantined["reason"].str.startswith("attributes: malformed value").all() and len(quarantined) == 1
    corpus = query(built, "SELECT * FROM ml.copy_corpus")
    real = corpus[corpus["family"] == "example"]
    assert sorted(real["copy"]) == sorted(examples["copy"]) and real["prompt"].str.contains("attributes=类型#").all()
    copy = query(built, "SELECT * FROM serving.ad_copy")
    published = copy[copy["passed"]]
    assert not published.duplicated(["item_id", "segment", "language", "text"]).any()
    assert copy["reasons"].apply(lambda r: all(not x.startswith("duplicate:") for x in r) or len(r) == 1).all()


def test_the_blocking_check_fails_when_a_published_row_states_a_colour_the_product_does_not_have(built, tmp_path):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    row = con.execute("""SELECT a.rowid, c.title_zh FROM serving.ad_copy a JOIN marts.catalogue c USING (item_id)
                         WHERE a.passed AND a.language = 'zh' AND c.title_zh NOT LIKE '%紫色%'
                           AND coalesce(c.description_zh, '') NOT LIKE '%紫色%' LIMIT 1""").fetchone()
    con.execute("UPDATE serving.ad_copy SET text = '紫色款，舒适百搭。' WHERE rowid = ?", [row[0]])
    con.close()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.checks(published_copy_passes_fact_check),
                         resources=make_resources(tmp_path), raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.metadata["failures"].value == 1
    assert "states 颜色 '紫色'" in evaluation.metadata["examples"].value
