"""The data-parallel batch steps on a local Ray cluster give what the single-process path
gives: item embedding, recommendation scoring and copy generation, each on the built
demo's champion models, cut into several shards."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.common.parallel import LocalRunner, RayRunner, shard_bounds


def test_shards_cover_the_input_in_order_and_align_to_batches():
    assert shard_bounds(0, 10) == []
    assert shard_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_bounds(10, 5, align=4) == [(0, 8), (8, 10)]  # rounded up to whole batches
    assert shard_bounds(3, 100, align=4) == [(0, 3)]


def _square_plus(shard, offset):
    return [x * x + offset for x in shard]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    runner = RayRunner(num_cpus=2)
    runner.map(_square_plus, [[1]], 0)  # starts the cluster
    yield runner
    ray.shutdown()


def test_a_ray_runner_maps_in_shard_order_with_shared_values(ray_cluster):
    assert ray_cluster.map(_square_plus, [[1, 2], [3], [4, 5]], 10) == [[11, 14], [19], [26, 35]]
    assert ray_cluster.workers == 2


def test_item_embeddings_on_ray_are_the_single_process_vectors(built, ray_cluster):
    from ecom_assets.assets.gates import champion_folder
    from ecom_assets.assets.shop_tables import read_catalogue
    from ecom_assets.assets.text import MODEL_NAME
    from ecom_assets.ml.common.model_card import read_card
    from ecom_assets.ml.text.embedding import EncoderFiles, embed_texts
    from ecom_assets.ml.text.product_text import product_texts

    _, folder = champion_folder(built["warehouse"], MODEL_NAME, "test")
    card = read_card(folder)
    catalogue = read_catalogue(built["warehouse"])
    texts = list(product_texts(catalogue, card["language"]))
    files = EncoderFiles(str(folder), card["max_length"], "onnx_fp32", onnx_folder=str(folder / "onnx"))
    local = embed_texts(texts, files, batch_size=16, runner=LocalRunner(), chunk_batches=2)
    on_ray = embed_texts(texts, files, batch_size=16, runner=ray_cluster, chunk_batches=2)
    assert len(texts) > 16 * 2 * 2, "the test needs several shards"
    assert local.shape == (len(texts), local.shape[1]) and np.array_equal(local, on_ray)


def test_recommendation_lists_on_ray_are_the_single_process_lists(built, ray_cluster, monkeypatch):
    from ecom_assets.assets.gates import current_champion
    from ecom_assets.assets.recommend import MODEL_NAME
    from ecom_assets.assets.shop_tables import read_catalogue, read_history
    from ecom_assets.ml.recsys import lists
    from ecom_assets.ml.recsys.strategy import load_strategy

    champ = current_champion(built["warehouse"], MODEL_NAME, "test")
    model, extras = load_strategy(Path(champ["artifact_path"]), expected_sha256=champ["sha256"])
    events, _, _ = read_history(built["warehouse"])
    catalogue = read_catalogue(built["warehouse"])
    users, items = pd.Index(extras["user_ids"]), pd.Index(extras["item_ids"])
    local = lists.recommendation_lists(model, users, items, events, catalogue, 10)
    # Shards far smaller than the single-process path's chunks: a shard's users score the
    # same whichever others share their chunk.
    monkeypatch.setattr(lists, "SHARD_USERS", 64)
    monkeypatch.setattr(lists, "SHARD_ALIGN", 64)
    on_ray = lists.recommendation_lists(model, users, items, events, catalogue, 10, runner=ray_cluster,
                                        model_file=lists.StrategyFile(champ["artifact_path"], champ["sha256"]))
    assert len(users) > 3 * 64, "the test needs several shards"
    pd.testing.assert_frame_equal(local, on_ray)
    assert local.attrs["strategy_shares"] == on_ray.attrs["strategy_shares"]
    with pytest.raises(ValueError, match="model_file"):
        lists.recommendation_lists(model, users, items, events, catalogue, 10, runner=ray_cluster)


def test_ad_copy_on_ray_draws_the_single_process_candidates_with_the_same_seeds(built, ray_cluster, monkeypatch):
    from transformers import AutoConfig, AutoTokenizer

    from ecom_assets.assets.copy import MODEL_NAME, _copy_examples, _products
    from ecom_assets.assets.gates import champion_folder
    from ecom_assets.assets.privacy import read_segment_interests
    from ecom_assets.ml.copy import copywriting
    from ecom_assets.ml.copy.generator import OnnxDecoder, Sampling

    _, folder = champion_folder(built["warehouse"], MODEL_NAME, "test")
    decoder = OnnxDecoder.for_model(folder / "onnx" / "decoder.onnx", AutoTokenizer.from_pretrained(folder),
                                    AutoConfig.from_pretrained(folder))
    products = _products(built["warehouse"]).head(4)
    interests = dict(list(read_segment_interests(built["warehouse"]).items())[:2])
    vocabulary = copywriting.attribute_vocabulary(_copy_examples(built["warehouse"]))
    sampling = Sampling(max_new_tokens=16, greedy=False, temperature=0.8, top_k=40, top_p=0.95, seed=3)

    def write(**kwargs):
        return copywriting.write_copy(products, interests, copywriting.DEFAULT_TEMPLATES, ["en", "zh"], 2, decoder,
                                      sampling, batch_size=4, log=lambda _: None, vocabulary=vocabulary, **kwargs)

    local = write()
    monkeypatch.setattr(copywriting, "SHARD_BATCHES", 2)
    on_ray = write(runner=ray_cluster, decoder_files=copywriting.DecoderFiles(str(folder)))
    assert len(local) == 4 * 2 * 2 * 2 and len(local) > 3 * 4 * 2, "the test needs several shards"
    pd.testing.assert_frame_equal(local, on_ray)
    assert local["text"].nunique() > 1


def test_the_three_assets_on_the_ray_backend_write_the_tables_the_local_backend_writes(built, ray_cluster, tmp_path):
    # What the UI does with ECOM_BATCH_BACKEND=ray (here in-process, on the cluster above).
    import shutil

    from dagster import AssetKey, AssetSelection, materialize

    from ecom_assets.definitions import ALL_ASSETS
    from ecom_assets.resources import BatchComputeResource
    from ecom_assets_tests.conftest import make_resources, query

    keys = [AssetKey(["ml", "item_embeddings"]), AssetKey(["serving", "recommendations"]), AssetKey(["serving", "ad_copy"])]
    tables = {"ml.item_embeddings": "item_id", "serving.recommendations": "user_id, rank",
              "serving.ad_copy": "item_id, segment, language, variant"}
    written = {}
    for backend in ("local", "ray"):
        root = tmp_path / backend
        root.mkdir()
        shutil.copy(built["warehouse"].resolved_path, root / "warehouse.duckdb")
        res = {**make_resources(root), "batch": BatchComputeResource(backend=backend, ray_num_cpus=2)}
        with res["warehouse"].connect() as con:  # else every vector is reused and nothing is embedded
            con.execute("DELETE FROM ml.item_embeddings")
        result = materialize(ALL_ASSETS, selection=AssetSelection.assets(*keys), resources=res,
                             run_config={"ops": {"serving__ad_copy": {"config": {"max_products": 6}},
                                                 "ml__item_embeddings": {"config": {"batch_size": 4}}}})
        assert result.success
        backends = {m.asset_key: m.metadata["batch_backend"].value for m in
                    (e.event_specific_data.materialization for e in result.get_asset_materialization_events())}
        assert backends == {key: backend for key in keys}
        embedded = next(m.metadata["embedded"].value for m in (e.event_specific_data.materialization
                        for e in result.get_asset_materialization_events()) if m.asset_key == keys[0])
        assert embedded > 4 * 20, "the embedding ran in more than one shard"
        written[backend] = {t: query(res, f"SELECT * EXCLUDE (generated_at) FROM {t} ORDER BY {order}"
                                     if t != "ml.item_embeddings" else f"SELECT * FROM {t} ORDER BY {order}")
                            for t, order in tables.items()}
    for table in tables:
        pd.testing.assert_frame_equal(written["local"][table], written["ray"][table], obj=table)
