"""Multilingual knowledge distillation: the English encoder teaches itself Chinese.

Reimers and Gurevych, "Making Monolingual Sentence Embeddings Multilingual using
Knowledge Distillation" (EMNLP 2020): a frozen teacher M embeds the English side of
translation pairs (s, t); a student M' is trained so that

    M'(s) ~ M(s)    and    M'(t) ~ M(s)      (mean squared error)

so the student keeps the teacher's English space and maps each translation onto it. Here
the pairs are the catalogue's own bilingual products (English text, Chinese text); the
teacher is the packaged English model, the student the same model with the Chinese
characters added to its vocabulary (ml.text.vocabulary initialises them). Held-out pairs
stop training early on their distillation error (reported with their Chinese -> English
retrieval: Recall@1 and MRR among every pair's English text), the best
epoch's weights are kept (epoch 0 is the untouched student), and a time budget bounds it.

The co-interaction objective (ml.text.finetune) then trains on top of the distilled
student: distillation makes the two languages share a space, co-interaction shapes that
space for recommendation.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ecom_assets.ml.common.devices import autocast_for, resolve_device


@dataclass
class DistillConfig:
    # all: every transformer weight (the paper's recipe); new_tokens: only the input
    # embeddings of the characters the vocabulary extension added move, so every text
    # without them (all English) embeds exactly as before.
    train: Literal["new_tokens", "all"] = "all"
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 5e-5
    patience: int = 3
    valid_share: float = 0.15
    min_valid_pairs: int = 20  # fewer held-out pairs than this: train all pairs, a fixed number of epochs
    max_seconds: float = 90.0
    seed: int = 0
    device: str = "auto"


@dataclass
class DistillResult:
    train_pairs: int
    valid_pairs: int
    before: dict  # held-out pairs before distillation: mse, recall_at_1, mrr (empty when none are held out)
    after: dict
    best_epoch: int
    epochs_run: int
    steps: int
    seconds: float
    device: str
    out_of_time: bool = False
    history: list[dict] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {"train_pairs": self.train_pairs, "valid_pairs": self.valid_pairs,
                "valid_mse_before": round(self.before.get("mse", 0.0), 6), "valid_mse_after": round(self.after.get("mse", 0.0), 6),
                "valid_recall_at_1_before": round(self.before.get("recall_at_1", 0.0), 4),
                "valid_recall_at_1_after": round(self.after.get("recall_at_1", 0.0), 4),
                "valid_mrr_before": round(self.before.get("mrr", 0.0), 4),
                "valid_mrr_after": round(self.after.get("mrr", 0.0), 4), "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "steps": self.steps, "seconds": round(self.seconds, 1),
                "device": self.device, "out_of_time": self.out_of_time}


def _split(n: int, config: DistillConfig) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(config.seed).permutation(n)
    n_valid = int(round(n * config.valid_share))
    if n_valid < config.min_valid_pairs:
        return order, order[:0]
    return order[n_valid:], order[:n_valid]


def distill(student, teacher, pairs: list[tuple[str, str]], config: DistillConfig = DistillConfig(),
            log: Callable[[str], None] = print, new_token_ids: list[int] | None = None) -> DistillResult:
    """Train `student` (a TorchEncoder, in place) so that it embeds both sides of each
    (English text, other-language text) pair where `teacher` embeds the English text.
    `new_token_ids`: the rows config.train == "new_tokens" trains."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    english = [en for en, _ in pairs]
    other = [xx for _, xx in pairs]
    train_rows, valid_rows = _split(len(pairs), config)
    targets = torch.from_numpy(teacher.encode(english, batch_size=128)).to(device)  # (P, d), the teacher's space
    model = student.encoder.to(device)
    transformer = model.transformer
    hook = None
    if config.train == "new_tokens":
        if not new_token_ids:
            raise ValueError("distillation of new tokens only needs the ids of the tokens the vocabulary extension added")
        for p in model.parameters():
            p.requires_grad_(False)
        weight = transformer.get_input_embeddings().weight
        weight.requires_grad_(True)
        trainable_rows = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
        trainable_rows[torch.as_tensor(new_token_ids or [], dtype=torch.long, device=weight.device)] = 1.0
        hook = weight.register_hook(lambda grad: grad * trainable_rows)  # every other row keeps its exact value
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    autocast = autocast_for(device)

    def held_out() -> dict:
        """The held-out pairs' distillation error (what early stopping reads: it keeps
        moving when retrieval is already perfect) and their retrieval among every pair's
        English text."""
        if not len(valid_rows):
            return {}
        model.eval()
        q = torch.from_numpy(student.encode([other[i] for i in valid_rows], batch_size=128)).to(device)
        model.train()
        goal = targets[torch.from_numpy(valid_rows).to(device)]
        everything = targets.float().cpu().numpy()
        own = np.zeros((len(valid_rows), len(pairs)), dtype=bool)
        own[np.arange(len(valid_rows)), valid_rows] = True
        scores = q.float().cpu().numpy() @ everything.T
        ranks = (scores > scores[own][:, None]).sum(axis=1)
        return {"mse": float(F.mse_loss(q.float(), goal.float())), "recall_at_1": float((ranks == 0).mean()),
                "mrr": float((1.0 / (ranks + 1)).mean())}

    before = held_out()
    best_error, best_epoch, best_state, stale = before.get("mse", np.inf), 0, copy.deepcopy(model.state_dict()), 0
    history = [{"epoch": 0, **{k: round(v, 6) for k, v in before.items()}}]
    log(f"distillation ({config.train}, {device.type}): {len(train_rows):,} pairs to train, {len(valid_rows):,} held out; "
        f"held-out MSE {before.get('mse', float('nan')):.6f}, MRR {before.get('mrr', float('nan')):.4f} before")
    steps, epochs_run, t0, out_of_time = 0, 0, time.perf_counter(), False
    model.train()
    for epoch in range(1, config.epochs + 1):
        if out_of_time or not len(train_rows):
            break
        losses = []
        order = train_rows[rng.permutation(len(train_rows))]
        for start in range(0, len(order), config.batch_size):
            rows = order[start:start + config.batch_size]
            texts = [english[i] for i in rows] + [other[i] for i in rows]
            batch = student.tokenize(texts)
            ids = torch.from_numpy(batch["input_ids"]).to(device)
            mask = torch.from_numpy(batch["attention_mask"]).to(device)
            goal = targets[torch.from_numpy(rows).to(device)]
            with autocast:
                z = model(ids, mask).float()
            loss = F.mse_loss(z, torch.cat([goal, goal]).float())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            steps += 1
            if time.perf_counter() - t0 > config.max_seconds:
                out_of_time = True
                break
        epochs_run = epoch
        scores = held_out()
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 6),
                        **{k: round(v, 6) for k, v in scores.items()}})
        log(f"distillation epoch {epoch}: mse {np.mean(losses):.6f}"
            + (f", held-out MSE {scores['mse']:.6f}, MRR {scores['mrr']:.4f}" if scores else ""))
        if not scores or scores["mse"] < best_error:
            best_error, best_epoch, best_state, stale = scores.get("mse", best_error), epoch, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    if hook is not None:
        hook.remove()
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval().cpu()
    after = held_out()
    model.eval()
    return DistillResult(len(train_rows), len(valid_rows), before, after, best_epoch, epochs_run, steps,
                         time.perf_counter() - t0, device.type, out_of_time, history)


@dataclass
class Bilingual:
    vocabulary: dict = field(default_factory=dict)  # VocabularyExtension.as_metadata() + the Chinese [UNK] share
    distillation: dict = field(default_factory=dict)  # DistillResult.as_metadata(); empty when it did not run


def make_bilingual(encoder, load_teacher: Callable[[], object], texts: list[str], chinese: list[str],
                   pairs: list[tuple[str, str]], ridge: float, config: DistillConfig | None,
                   log: Callable[[str], None] = print) -> Bilingual:
    """Teach `encoder` (in place) the Chinese characters of `texts` + `chinese` that its
    vocabulary lacks (ml.text.vocabulary, initialised from the (English, Chinese) `pairs`),
    then distil the teacher `load_teacher()` into it on those pairs (`config` None: no
    distillation). Nothing happens when every character is already known."""
    from ecom_assets.ml.text.vocabulary import extend_vocabulary

    if encoder.unknown_token_share(texts + chinese) == 0:
        return Bilingual()
    extension = extend_vocabulary(encoder, texts + chinese, [(zh, en) for en, zh in pairs], ridge=ridge)
    out = Bilingual({**extension.as_metadata(), "unknown_share_chinese": round(encoder.unknown_token_share(chinese), 4)})
    if extension.added:
        log(f"vocabulary: {len(extension.added)} characters added ({extension.initialised_from_pairs} initialised from "
            f"{len(pairs)} product pairs); unknown tokens {extension.unknown_share_before:.1%} -> "
            f"{extension.unknown_share_after:.1%}")
    if pairs and config is not None and config.max_seconds > 0 and (extension.added or config.train == "all"):
        run = distill(encoder, load_teacher(), pairs, config, log=log,
                      new_token_ids=encoder.tokenizer.convert_tokens_to_ids(extension.added))
        out.distillation = run.as_metadata()
    return out
