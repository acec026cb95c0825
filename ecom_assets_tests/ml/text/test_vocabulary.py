"""Extending the encoder's vocabulary with the catalogue's Chinese characters."""

import numpy as np
import pytest

from ecom_assets.ml.text.encoder import TorchEncoder
from ecom_assets.ml.text.vocabulary import (
    cjk_characters,
    cross_lingual_retrieval,
    extend_vocabulary,
    missing_characters,
)

TITLES = ["耐瑞轻量帆布鞋 蓝色", "贝洛豪华托特包 绿色"]


def _embedding(enc, token: str) -> np.ndarray:
    index = enc.tokenizer.convert_tokens_to_ids(token)
    return enc.encoder.transformer.get_input_embeddings().weight[index].detach().numpy()


def test_missing_characters_go_into_unused_slots_and_stop_being_unknown(tiny_checkpoint, tmp_path):
    enc = TorchEncoder.load(str(tiny_checkpoint))
    missing = missing_characters(enc.tokenizer, TITLES)
    assert missing and set(missing) <= set(cjk_characters(TITLES))
    size = enc.encoder.transformer.get_input_embeddings().weight.shape[0]
    ext = extend_vocabulary(enc, TITLES)
    assert ext.unknown_share_before > 0.5 and ext.unknown_share_after == 0.0
    assert ext.into_unused_slots == len(missing) and ext.appended == 0
    assert enc.encoder.transformer.get_input_embeddings().weight.shape[0] == size, "no resizing: unused slots"
    assert missing_characters(enc.tokenizer, TITLES) == []
    # Saved and loaded, the vocabulary and the embeddings come back the same.
    ids = enc.tokenize(TITLES)["input_ids"]
    enc.save(tmp_path / "extended")
    loaded = TorchEncoder.load(str(tmp_path / "extended"))
    np.testing.assert_array_equal(loaded.tokenize(TITLES)["input_ids"], ids)
    np.testing.assert_allclose(loaded.encode(TITLES), enc.encode(TITLES), atol=1e-5)


def test_more_characters_than_unused_slots_grow_the_embedding_matrix(tiny_checkpoint):
    enc = TorchEncoder.load(str(tiny_checkpoint))
    vocab = enc.tokenizer.get_vocab()
    slots = sum(token.startswith("[unused") for token in vocab)
    many = "".join([chr(c) for c in range(0x4E00, 0x9FFF) if chr(c) not in vocab][:slots + 30])
    ext = extend_vocabulary(enc, [many])
    assert ext.into_unused_slots == slots and ext.appended == 30
    assert enc.encoder.transformer.get_input_embeddings().weight.shape[0] == len(vocab) + 30
    assert ext.unknown_share_after == 0.0 and enc.encode([many]).shape == (1, enc.dimension)


def test_characters_seen_in_pairs_land_near_their_english_words(tiny_checkpoint):
    enc = TorchEncoder.load(str(tiny_checkpoint))
    # Three characters, each always beside one English word, in varied combinations.
    words = {"鞋": "shoe", "包": "bag", "锅": "pot"}
    combos = [("鞋",), ("包",), ("锅",), ("鞋", "包"), ("包", "锅"), ("鞋", "锅")]
    pairs = [("".join(c), " ".join(words[x] for x in c)) for c in combos]
    ext = extend_vocabulary(enc, [p[0] for p in pairs], pairs, ridge=1e-3)
    assert ext.initialised_from_pairs == len([c for c in words if c in ext.added])
    for char, word in words.items():
        if char not in ext.added:
            continue
        a, b = _embedding(enc, char), _embedding(enc, word)
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.95, char
    # Characters in no pair get the mean of the known CJK characters, not a random row.
    other = TorchEncoder.load(str(tiny_checkpoint))
    extend_vocabulary(other, ["鞋"])
    assert np.isfinite(_embedding(other, "鞋")).all()


def test_cross_lingual_retrieval_scores_each_query_against_its_own_target():
    class Identity:
        def encode(self, texts, batch_size=128):
            table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "A": [1.0, 0.1], "B": [0.9, 0.3]}
            x = np.array([table[t] for t in texts])
            return x / np.linalg.norm(x, axis=1, keepdims=True)

    out = cross_lingual_retrieval(Identity(), ["a", "b"], ["A", "B"])
    # "a" finds "A" first; "b" is closer to "B" than to "A" (rank 1).
    assert out["recall_at_1"] == pytest.approx(1.0) and out["mrr"] == pytest.approx(1.0)
    out = cross_lingual_retrieval(Identity(), ["a", "b"], ["B", "A"])
    assert out["recall_at_1"] == 0.0
