"""The product text encoder runtime: loading with clear errors, pooled and normalised
embeddings, ONNX export with parity, int8 quantisation, Chinese and English text."""

import json

import numpy as np
import pytest

from ecom_assets.ml.text.encoder import (
    EncoderLoadError,
    OnnxEncoder,
    TorchEncoder,
    default_base_model,
    max_abs_diff,
    quantize_int8,
    resolve_base_model,
    row_cosines,
)

TEXTS = ["Nexvi Lightweight Canvas Sneakers - White", "Belton Classic Green Tea - 1 kg",
         "耐维轻量帆布鞋 白色", "贝顿经典绿茶 1千克", "a much longer description of a product that goes on " * 3]


def test_embeddings_are_unit_length_and_padding_does_not_change_them(tiny_checkpoint):
    enc = TorchEncoder.load(str(tiny_checkpoint))
    together = enc.encode(TEXTS, batch_size=8)
    alone = np.concatenate([enc.encode([t]) for t in TEXTS])
    assert together.shape == (5, 32)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5), "mean pooling ignores padding"


def test_onnx_export_matches_torch_and_int8_stays_close(tiny_checkpoint, tmp_path):
    enc = TorchEncoder.load(str(tiny_checkpoint))
    fp32 = enc.export_onnx(tmp_path / "model.onnx")
    int8 = quantize_int8(fp32, tmp_path / "model.int8.onnx")
    torch_emb = enc.encode(TEXTS)
    onnx_emb = OnnxEncoder(fp32, enc.tokenizer).encode(TEXTS, batch_size=2)  # other batch sizes: dynamic axes
    assert max_abs_diff(torch_emb, onnx_emb) <= 1e-4
    int8_emb = OnnxEncoder(int8, enc.tokenizer).encode(TEXTS)
    assert row_cosines(onnx_emb, int8_emb).min() > 0.9
    assert int8.stat().st_size < fp32.stat().st_size


def test_the_packaged_minilm_separates_products_within_each_language():
    """all-MiniLM-L6-v2 is an English model: Chinese titles of one kind still sit closer
    together than to another kind, but matching across languages needs a multilingual
    base checkpoint (a configuration choice)."""
    enc = TorchEncoder.load()
    e = enc.encode(["Nexvi Lightweight Canvas Sneakers - White", "Nexmo Classic Running Shoes - Blue",
                    "Belton Classic Green Tea - 1 kg", "耐维轻量帆布鞋 白色", "耐维经典帆布鞋 蓝色", "贝顿经典绿茶 1千克"])
    assert e.shape == (6, 384)
    assert e[0] @ e[1] > e[0] @ e[2], "sneakers closer to running shoes than to tea"
    assert e[3] @ e[4] > e[3] @ e[5], "the same holds for the Chinese titles"


def test_bad_base_models_fail_before_any_work(tmp_path):
    with pytest.raises(EncoderLoadError, match="config.json missing"):
        resolve_base_model(str(tmp_path / "nowhere"))
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(EncoderLoadError, match="not a BERT-family text encoder"):
        resolve_base_model(str(tmp_path / "gpt"))
    assert resolve_base_model(None) == default_base_model()


def test_the_calibration_times_every_backend_and_chooses_the_fastest_within_parity(tiny_checkpoint, tmp_path,
                                                                                   monkeypatch):
    from ecom_assets.ml.text import export
    from ecom_assets.ml.text.embedding import EncoderFiles, embed_texts

    enc = TorchEncoder.load(str(tiny_checkpoint))
    fp32 = enc.export_onnx(tmp_path / "model.onnx")
    int8 = quantize_int8(fp32, tmp_path / "model_int8.onnx")
    texts = TEXTS * 8
    figures = export.calibrate_backends(enc, fp32, int8, texts, repeats=1, batch_size=8, screen_margin=float("inf"))
    assert set(figures["backends"]) == set(export.BACKENDS)
    assert not any(r["screened_out"] for r in figures["backends"].values())
    assert figures["backends"]["torch_fp32"]["speedup_vs_torch_fp32"] == 1.0
    assert figures["backends"]["onnx_fp32"]["passed"], "fp32 ONNX is within parity of torch"
    passing = {n: r["seconds"] for n, r in figures["backends"].items() if r["passed"]}
    assert figures["chosen"] == min(passing, key=passing.get)
    # A backend whose vectors drift is never chosen, however fast.
    monkeypatch.setattr(export, "MIN_INT8_COSINE", 1.01)
    strict = export.calibrate_backends(enc, fp32, int8, texts, repeats=1, batch_size=8, screen_margin=float("inf"))
    assert strict["chosen"] in ("torch_fp32", "onnx_fp32")
    assert not strict["backends"]["torch_bf16"]["passed"] and not strict["backends"]["onnx_int8"]["passed"]
    # Each backend serves the embedding step with vectors close to torch fp32's.
    for backend in ("onnx_fp32", "onnx_int8", "torch_fp32", "torch_bf16"):
        vectors = embed_texts(texts, EncoderFiles(str(tiny_checkpoint), 64, backend, onnx_folder=str(tmp_path)), 8)
        assert row_cosines(enc.encode(texts), vectors).mean() > 0.9, backend
    with pytest.raises(ValueError, match="torch_bf16"):
        EncoderFiles(str(tiny_checkpoint), 64, "tensorrt")


def test_a_backend_far_slower_on_the_screening_texts_is_not_timed_further_nor_chosen():
    import time

    from ecom_assets.ml.text import export

    calls = {"fast": [], "slow": [], "reference": []}
    vectors = lambda texts: np.tile(np.eye(1, 4, dtype=np.float32), (len(texts), 1))  # noqa: E731

    def backend(name: str, seconds_per_text: float):
        def run(texts):
            calls[name].append(len(texts))
            time.sleep(seconds_per_text * len(texts))
            return vectors(texts)
        return run

    texts = [f"text {i}" for i in range(40)]
    runs = {"torch_fp32": backend("reference", 0.002), "onnx_int8": backend("fast", 0.001),
            "torch_bf16": backend("slow", 0.01)}
    timings = export.time_backends(runs, texts, screen_texts=4, screen_margin=2.0)
    # Warm-up, screen, then every text; the slow one stops after its screen.
    assert calls["fast"] == [export.WARMUP_TEXTS, 4, 40] and calls["slow"] == [export.WARMUP_TEXTS, 4]
    assert timings["torch_bf16"].screened_out and timings["torch_bf16"].texts == 4
    assert not timings["onnx_int8"].screened_out and timings["onnx_int8"].texts == 40
    figures = export.summarise_calibration(timings, vectors(texts))
    assert figures["backends"]["torch_bf16"]["passed"] and figures["backends"]["torch_bf16"]["screened_out"]
    assert figures["chosen"] == "onnx_int8"
    # A required backend is timed in full however slow: its vectors are needed on every text.
    calls.update(slow=[])
    timings = export.time_backends(runs, texts, screen_texts=4, required=("torch_fp32", "torch_bf16"))
    assert calls["slow"] == [export.WARMUP_TEXTS, 4, 40] and not timings["torch_bf16"].screened_out
