"""SASRec: a causal self-attention model over a user's item sequence (Kang & McAuley,
"Self-Attentive Sequential Recommendation", ICDM 2018), trained with full-softmax
cross-entropy over the whole catalogue (which beats the paper's sampled BCE under the
rank-all protocol; Petrov & Macdonald, 2022), item embeddings tied to the output layer.

All of it in this file: config, module, training loop, scoring. Runs on CPU, on CUDA
(bf16 autocast) when present. Training stops at `epochs`, at `max_seconds`, or when
validation NDCG@10 has not improved for `patience` evaluations; the best state is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ecom_assets.ml.common.devices import autocast_for, resolve_device
from ecom_assets.ml.recsys.strategy import Strategy


@dataclass
class SASRecConfig:
    max_len: int = 50  # items of history the model attends to
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss_positions: int = 10  # last positions of each sequence that carry a loss (all: max_len); fewer = cheaper on CPU
    max_seconds: float | None = None  # training time budget
    eval_every: int = 2  # epochs between validation checks
    patience: int = 3  # validation checks without improvement before stopping
    seed: int = 0
    device: str = "auto"  # "auto" = cuda when available


class SASRecModule(nn.Module):
    def __init__(self, n_items: int, c: SASRecConfig):
        super().__init__()
        self.c = c
        self.item_emb = nn.Embedding(n_items + 1, c.hidden, padding_idx=0)  # 0 = padding
        self.pos_emb = nn.Embedding(c.max_len, c.hidden)
        self.drop = nn.Dropout(c.dropout)
        layer = nn.TransformerEncoderLayer(c.hidden, c.heads, dim_feedforward=c.hidden, dropout=c.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.hidden)
        causal = torch.triu(torch.ones(c.max_len, c.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq (B, T) item ids + 1, left-padded with 0 -> hidden states (B, T, d)."""
        B, T = seq.shape
        pos = torch.arange(T, device=seq.device)
        x = self.item_emb(seq) * math.sqrt(self.c.hidden) + self.pos_emb(pos)  # (B, T, d)
        x = self.drop(x)
        pad = seq == 0  # (B, T)
        x = self.encoder(x, mask=self.causal[:T, :T], src_key_padding_mask=pad)  # (B, T, d)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (..., d) -> scores over real items (..., n_items), tied to the input embedding."""
        return hidden @ self.item_emb.weight[1:].T


def _left_pad(histories: list[np.ndarray], length: int) -> np.ndarray:
    """(B, length) of the last `length` items + 1, left-padded with 0."""
    out = np.zeros((len(histories), length), dtype=np.int64)
    for r, h in enumerate(histories):
        tail = h[-length:] + 1
        if len(tail):
            out[r, -len(tail):] = tail
    return out


@dataclass
class SASRec(Strategy):
    config: SASRecConfig = field(default_factory=SASRecConfig)
    name: str = "sasrec"
    supports_early_stopping = True  # fit(..., validation=split)


    def fit(self, histories, n_items, validation=None, log=None):
        """`validation`: optional (Split) for early stopping on NDCG@10."""
        c = self.config
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        self.n_items, self.device = n_items, resolve_device(self.config.device)
        self.model = SASRecModule(n_items, c).to(self.device)
        opt = torch.optim.AdamW(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        usable = [h for h in histories if len(h) >= 2]
        seqs = _left_pad(usable, c.max_len + 1)  # (N, T+1): inputs are [:, :-1], targets [:, 1:]
        inputs, targets = torch.from_numpy(seqs[:, :-1]), torch.from_numpy(seqs[:, 1:])
        autocast = autocast_for(self.device)
        start, best, best_state, waited = time.perf_counter(), -1.0, None, 0
        self.history: list[dict] = []
        for epoch in range(1, c.epochs + 1):
            self.model.train()
            order = rng.permutation(len(inputs))
            total, steps = 0.0, 0
            for b in range(0, len(order), c.batch_size):
                idx = torch.from_numpy(order[b:b + c.batch_size])
                x, y = inputs[idx].to(self.device), targets[idx].to(self.device)  # (B, T)
                with autocast:
                    h = self.model(x)[:, -c.loss_positions:]  # (B, L, d)
                    y = y[:, -c.loss_positions:]  # (B, L)
                    keep = y > 0
                    loss = F.cross_entropy(self.model.logits(h[keep]).float(), y[keep] - 1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, steps = total + loss.item(), steps + 1
            record = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": time.perf_counter() - start}
            out_of_time = c.max_seconds is not None and record["seconds"] > c.max_seconds
            if validation is not None and (epoch % c.eval_every == 0 or out_of_time or epoch == c.epochs):
                from ecom_assets.ml.recsys.evaluation import metrics_from_ranks, ranks_for

                record["valid_ndcg10"] = metrics_from_ranks(ranks_for(self.score, validation), (10,))["NDCG@10"]
                if record["valid_ndcg10"] > best:
                    best, waited = record["valid_ndcg10"], 0
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                else:
                    waited += 1
            self.history.append(record)
            if log:
                log(f"sasrec epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch"))
            if out_of_time or waited >= c.patience:
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.best_validation_ndcg10 = best if best >= 0 else None
        checked = [r for r in self.history if "valid_ndcg10" in r]
        self.best_epoch = max(checked, key=lambda r: r["valid_ndcg10"])["epoch"] if checked else len(self.history)
        return self

    # The save/load contract (strategy.py): the config as parameters, the network's weights as arrays.
    def get_params(self) -> dict:
        return {"config": asdict(self.config), "name": self.name}

    @classmethod
    def from_params(cls, params: dict) -> "SASRec":
        return cls(SASRecConfig(**params["config"]), name=params["name"])

    def state_arrays(self) -> dict[str, np.ndarray]:
        weights = {f"weights/{k}": v.detach().float().cpu().numpy() for k, v in self.model.state_dict().items()}
        return {"n_items": self.n_items, **weights}

    def load_state_arrays(self, arrays: dict) -> "SASRec":
        self.n_items, self.device = int(arrays["n_items"]), torch.device("cpu")
        self.model = SASRecModule(self.n_items, self.config)
        self.model.load_state_dict({k.removeprefix("weights/"): torch.from_numpy(np.asarray(v))
                                    for k, v in arrays.items() if k.startswith("weights/")})
        self.model.eval()
        return self

    @torch.no_grad()
    def score(self, users, histories):
        self.model.eval()
        x = torch.from_numpy(_left_pad(histories, self.config.max_len)).to(self.device)  # (B, T)
        empty = (x == 0).all(dim=1)
        x[empty, -1] = 1  # an empty history attends to something; its scores are zeroed below
        h = self.model(x)[:, -1]  # (B, d): the state after the latest item
        scores = self.model.logits(h).float()
        scores[empty] = 0.0
        return scores.cpu().numpy()
