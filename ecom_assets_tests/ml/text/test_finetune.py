"""Contrastive fine-tuning of the text encoder: pair mining, learning what the shop
treats as similar, saving and reloading the fine-tuned checkpoint, ONNX parity with the
trained head, and product text in both languages."""

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ml.recsys.sequences import Split
from ecom_assets.ml.text.encoder import OnnxEncoder, TorchEncoder, max_abs_diff
from ecom_assets.ml.text.finetune import FinetuneConfig, finetune, mine_pairs, validation_ndcg
from ecom_assets.ml.text.product_text import product_texts, text_hash


def test_pairs_come_from_nearby_steps_once_each_and_never_pair_an_item_with_itself():
    pairs = mine_pairs([np.array([1, 2, 1, 3]), np.array([2, 1]), np.array([5])], window=2)
    assert pairs.tolist() == [[1, 2], [1, 3], [2, 3]]  # (1, 1) two steps apart is no pair
    assert mine_pairs([np.array([1, 2, 3, 4])], window=1).tolist() == [[1, 2], [2, 3], [3, 4]]
    assert mine_pairs([], window=2).shape == (0, 2)


def _grouped_shop(n_groups=12, per_group=5, n_users=400, seed=0):
    """Items in groups that users browse within; item texts are unrelated random words,
    so only the interactions say which items belong together."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(n_groups * per_group)]
    histories = []
    for _ in range(n_users):
        g = rng.integers(n_groups)
        histories.append(rng.choice(np.arange(g * per_group, (g + 1) * per_group), 4, replace=False))
    train = [h[:-1] for h in histories]
    valid = Split([h[:-1] for h in histories[:200]], np.array([h[-1] for h in histories[:200]]), np.arange(200))
    return texts, train[200:], valid


def test_fine_tuning_learns_co_interaction_similarity_the_base_model_cannot_see(tiny_checkpoint):
    texts, train, valid = _grouped_shop()
    encoder = TorchEncoder.load(str(tiny_checkpoint))
    zero_shot = validation_ndcg(encoder.encode(texts), valid)
    result = finetune(encoder, texts, train, valid, FinetuneConfig(epochs=30, learning_rate=3e-3, head_hidden=128,
                                                                     extra_negatives=16, batch_size=64, patience=30),
                      log=lambda _: None)
    assert result.zero_shot_ndcg == pytest.approx(zero_shot, abs=1e-6), "epoch 0 is the untouched base model"
    assert result.pairs > 0 and result.best_epoch > 0
    assert result.best_ndcg > 2 * zero_shot + 0.1
    after = validation_ndcg(encoder.encode(texts), valid)
    assert after == pytest.approx(result.best_ndcg, abs=1e-4), "the best epoch's weights are the ones kept"


def test_a_fine_tuned_checkpoint_reloads_and_exports_with_its_head(tiny_checkpoint, tmp_path):
    texts, train, valid = _grouped_shop(n_users=260)
    encoder = TorchEncoder.load(str(tiny_checkpoint))
    finetune(encoder, texts, train, valid, FinetuneConfig(epochs=3, head_hidden=64, patience=10, keep_best=False),
             log=lambda _: None)
    encoder.save(tmp_path / "ft")
    reloaded = TorchEncoder.load(str(tmp_path / "ft"))
    assert reloaded.encoder.head is not None
    np.testing.assert_allclose(reloaded.encode(texts), encoder.encode(texts), atol=1e-6)
    onnx_path = reloaded.export_onnx(tmp_path / "ft.onnx")
    assert max_abs_diff(OnnxEncoder(onnx_path, reloaded.tokenizer).encode(texts), reloaded.encode(texts)) <= 1e-4
    assert validation_ndcg(reloaded.encode(texts), valid) != validation_ndcg(TorchEncoder.load(str(tiny_checkpoint)).encode(texts), valid)


def test_product_text_reads_the_configured_language_with_category_brand_and_attributes():
    items = pd.DataFrame({"item_id": ["a", "b"], "title_en": ["Canvas Sneakers", None], "title_zh": ["帆布鞋", "绿茶"],
                          "category_path": ["Shoes > Sneakers", "Food > Tea"], "brand": ["Nexvi", "Belton"],
                          "price_band": [2, None], "description_en": ["Light.", None], "description_zh": ["轻便。", "清香。"]})
    en = product_texts(items, "auto")
    assert en[0] == "Canvas Sneakers. Shoes > Sneakers. Nexvi. price band 2 of 5. Light."
    assert en[1].startswith("绿茶. Food > Tea. Belton"), "no English title: the Chinese one"
    assert product_texts(items, "zh")[0].startswith("帆布鞋. Shoes > Sneakers")
    assert product_texts(items, "both")[0].startswith("Canvas Sneakers / 帆布鞋")
    assert text_hash(en[0]) != text_hash(en[1]) and len(text_hash(en[0])) == 16


def test_the_default_english_model_reports_how_little_of_a_chinese_catalogue_it_can_read():
    """all-MiniLM-L6-v2's vocabulary lacks most Chinese characters: the share of unknown
    tokens is what tells a user to switch to a multilingual base checkpoint."""
    encoder = TorchEncoder.load()
    chinese = ["耐维轻量帆布鞋 白色", "贝顿经典绿茶 1千克", "儿童益智积木玩具套装"]
    english = ["Nexvi Lightweight Canvas Sneakers - White", "Belton Classic Green Tea - 1 kg"]
    assert encoder.unknown_token_share(english) == 0.0
    assert encoder.unknown_token_share(chinese) > 0.5


def test_full_fine_tuning_trains_every_layer_end_to_end(tiny_checkpoint):
    """The GPU recipe's code path, on the tiny model and CPU: the transformer's own
    weights change, not only the head."""
    import torch

    texts, train, valid = _grouped_shop(n_users=260)
    encoder = TorchEncoder.load(str(tiny_checkpoint))
    before = {k: v.clone() for k, v in encoder.encoder.transformer.state_dict().items()}
    result = finetune(encoder, texts, train, valid, FinetuneConfig(mode="full", epochs=2, learning_rate=1e-3, batch_size=64,
                                                                     extra_negatives=8, keep_best=False),
                      log=lambda _: None)
    after = encoder.encoder.transformer.state_dict()
    assert result.steps > 0 and result.examples > 0
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
