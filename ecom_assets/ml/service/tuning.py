"""Contrastive fine-tuning of the encoder on question -> answer pairs.

InfoNCE (scale 20) of each question against its answer, the batch's other answers and
one hard negative per question: a near miss whose text differs from its own answer, as
the caller mines it (`lexical_hard_negatives`: from BM25's top answers, the recipe of
dense passage retrieval, which costs seconds where mining with the encoder costs an
embedding pass). Batches never hold the same text twice (question, answer or negative),
so no question is pushed away from its own answer text. Every transformer layer trains
(AdamW, linear warm-up and decay) while the token embedding matrix stays frozen (most of
the parameters, little of the gain, and most of an optimiser step's time on a CPU); the
validation MRR is read a few times per epoch and the best weights are kept, the
zero-shot weights included, so the result is never worse on validation than where it
started. A time budget ends training early.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ecom_assets.ml.common.devices import autocast_for, resolve_device
from ecom_assets.ml.text.encoder import TorchEncoder


@dataclass
class PairTuneConfig:
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0
    freeze_embeddings: bool = True
    max_length: int = 64
    """Tokens per text while training (the long tail of answers costs more than it teaches)."""
    evaluations_per_epoch: int = 2
    max_seconds: float = 420.0
    seed: int = 0
    device: str = "auto"


@dataclass
class PairTuneResult:
    zero_shot: float
    best: float
    best_step: int
    steps: int
    seconds: float
    pairs: int
    history: list[dict]


def batches_without_repeats(keys: list[tuple[str, ...]], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of example indices where no text (any of an example's `keys`)
    appears twice; an example that clashes waits for a later batch."""
    pending = list(rng.permutation(len(keys)))
    out = []
    while pending:
        batch, seen, rest = [], set(), []
        for i in pending:
            if len(batch) < batch_size and not (set(keys[i]) & seen):
                batch.append(i)
                seen.update(keys[i])
            else:
                rest.append(i)
        out.append(np.asarray(batch))
        pending = rest
    return out


def lexical_hard_negatives(scores: np.ndarray, positives: np.ndarray, answer_keys: list[str], pool: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Per question (a row of `scores` over the distinct answers), one answer drawn from its
    `pool` best-scored ones whose text differs from its own answer's; -1 when none has a
    positive score (a question sharing no word with any other answer gets no negative)."""
    keys = np.asarray(answer_keys)
    out = np.full(len(scores), -1, dtype=np.int64)
    nearest = np.argsort(-scores, axis=1)[:, :pool + 1]
    for q, row in enumerate(nearest):
        own = keys[positives[q]]
        choices = [j for j in row if keys[j] != own and scores[q, j] > 0]
        if choices:
            out[q] = choices[rng.integers(min(len(choices), pool))]
    return out


def finetune_pairs(encoder: TorchEncoder, questions: list[str], answers: list[str],
                   evaluate: Callable[[TorchEncoder], float], config: PairTuneConfig = PairTuneConfig(),
                   negatives: list[str | None] | None = None, zero_shot: float | None = None,
                   log: Callable[[str], None] = print) -> PairTuneResult:
    """Fine-tune `encoder` in place on (questions[i], answers[i]), with `negatives[i]` (a
    text or None) as question i's hard negative; `evaluate(encoder)` is the validation MRR
    (higher is better); `zero_shot`, when known, saves evaluating the untouched encoder."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    model = encoder.encoder.to(device)
    autocast = autocast_for(device)
    t0 = time.perf_counter()

    negatives = list(negatives) if negatives is not None else [None] * len(questions)
    if len(negatives) != len(questions):
        raise ValueError(f"{len(negatives)} negatives for {len(questions)} questions")
    model.eval()
    zero_shot = evaluate(encoder) if zero_shot is None else zero_shot
    # An answer text is one key whether it is a positive or a negative in the batch.
    keys = [("q:" + questions[i], "a:" + answers[i], *(("a:" + negatives[i],) if negatives[i] else ()))
            for i in range(len(questions))]
    if config.freeze_embeddings:
        for p in model.transformer.get_input_embeddings().parameters():
            p.requires_grad_(False)

    steps_per_epoch = max(1, int(np.ceil(len(questions) / config.batch_size)))
    total_steps = max(1, int(round(config.epochs * steps_per_epoch)))
    eval_every = max(1, steps_per_epoch // max(1, config.evaluations_per_epoch))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    best, best_step, best_state = zero_shot, 0, copy.deepcopy(model.state_dict())
    history = [{"step": 0, "validation_mrr": round(zero_shot, 5)}]
    log(f"pair fine-tune ({device.type}): {len(questions):,} pairs, {sum(n is not None for n in negatives):,} hard "
        f"negatives, {total_steps} steps; zero-shot validation MRR {zero_shot:.4f}")

    length = min(config.max_length, encoder.max_length)

    def embed(texts: list[str]) -> torch.Tensor:
        batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
        return model(batch["input_ids"].to(device), batch["attention_mask"].to(device))

    step, out_of_time = 0, False
    while step < total_steps and not out_of_time:
        for batch in batches_without_repeats(keys, config.batch_size, rng):
            if step >= total_steps:
                break
            model.train()
            negs = [negatives[i] for i in batch if negatives[i]]
            with autocast:
                q = embed([questions[i] for i in batch])
                a = embed([answers[i] for i in batch] + negs)
                logits = config.scale * (q @ a.T).float()
            loss = F.cross_entropy(logits, torch.arange(len(batch), device=device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            out_of_time = time.perf_counter() - t0 > config.max_seconds
            if step % eval_every == 0 or step == total_steps or out_of_time:
                model.eval()
                score = evaluate(encoder)
                history.append({"step": step, "loss": round(float(loss.detach()), 4), "validation_mrr": round(score, 5)})
                log(f"step {step}/{total_steps}: loss {float(loss.detach()):.4f}, validation MRR {score:.4f}")
                if score > best:
                    best, best_step, best_state = score, step, copy.deepcopy(model.state_dict())
            if out_of_time:
                log(f"time budget of {config.max_seconds:.0f} s reached at step {step}")
                break
    model.load_state_dict(best_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return PairTuneResult(zero_shot, best, best_step, step, time.perf_counter() - t0, len(questions), history)
