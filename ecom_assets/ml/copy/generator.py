"""The ad-copy language model: a GPT-2 trained (or fine-tuned) on the copy corpus, its
ONNX export with past key values, and a decoding loop on onnxruntime.

- `train_tokenizer`: byte-level BPE (the `tokenizers` library) trained on the corpus, so
  Chinese and English are both covered without unknown tokens.
- `train_generator`: a small `GPT2LMHeadModel` from a config (or a given checkpoint) trained
  with AdamW on prompt + copy sequences, the loss on the copy tokens only; held-out
  perplexity reported.
- `export_decoder`: one ONNX graph that takes and returns the key/value cache as flat
  tensors (a `DynamicCache` rebuilt inside), dynamic batch, sequence and past axes; the
  first step feeds an empty past.
- `OnnxDecoder.generate`: greedy or sampling (temperature, top-k, top-p, repetition
  penalty, seed), stopping at end-of-text; `torch_generate` is the torch reference the
  parity check compares against token for token.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ecom_assets.ml.common.devices import autocast_for, resolve_device

BOS, EOS, PAD, COPY = "<|prompt|>", "<|endoftext|>", "<|pad|>", "<|copy|>"
SPECIAL_TOKENS = [EOS, PAD, BOS, COPY]


def train_tokenizer(texts: list[str], vocab_size: int = 4000, min_frequency: int = 2):
    """A byte-level BPE tokenizer over the corpus, wrapped as a transformers tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, pad_token=PAD, bos_token=BOS,
                                   additional_special_tokens=[COPY])


@dataclass
class GeneratorConfig:
    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    n_positions: int = 128
    vocab_size: int = 4000
    steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    max_seconds: float = 300.0
    eval_every: int = 250
    # Keep the weights of the evaluation with the lowest held-out perplexity (a few hundred
    # rows of real copy are memorised within a few epochs); False keeps the last step's.
    keep_best: bool = True
    # Dropout of a GPT-2 trained from scratch (embeddings, attention, residuals; GPT-2's own
    # 0.1). On CPU its random masks cost about as much as the tiny model's arithmetic, and a
    # run of a few hundred steps underfits rather than overfits: on the demo shop's corpus,
    # 30 s with 0.0 took 192 steps to a held-out perplexity of 70.0, with 0.1 137 steps to
    # 114.6 (45 s with 0.1: 192 steps, 78.0). A base checkpoint keeps its own.
    dropout: float = 0.1
    seed: int = 0
    device: str = "auto"


@dataclass
class TrainedGenerator:
    model: object
    tokenizer: object
    held_out_perplexity: float
    train_perplexity: float
    steps: int
    seconds: float
    tokens_per_second: float
    device: str
    history: list[dict] = field(default_factory=list)
    best_step: int = 0  # the step whose weights were kept


def encode_examples(tokenizer, prompts: list[str], copies: list[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, labels), right-padded; labels are -100 outside the copy (and its end token),
    so the model learns to write copy for a prompt, not to reproduce prompts."""
    ids = np.full((len(prompts), max_length), tokenizer.pad_token_id, dtype=np.int64)
    labels = np.full((len(prompts), max_length), -100, dtype=np.int64)
    p_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(list(copies), add_special_tokens=False)["input_ids"]
    for r, (p, c) in enumerate(zip(p_ids, c_ids)):
        seq = (p + c + [tokenizer.eos_token_id])[:max_length]
        ids[r, :len(seq)] = seq
        labels[r, len(p):len(seq)] = seq[len(p):]
    return ids, labels


@torch.no_grad()
def perplexity(model, ids: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int = 64) -> float:
    """exp(mean cross-entropy over labelled tokens). Padding sits after the text (right
    padding, causal attention) and is never labelled, so it changes nothing."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(ids), batch_size):
        x = torch.from_numpy(ids[start:start + batch_size]).to(device)
        y = torch.from_numpy(labels[start:start + batch_size]).to(device)
        logits = model(input_ids=x).logits[:, :-1].float()
        target = y[:, 1:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                                           reduction="sum")
        total += float(loss)
        count += int((target != -100).sum())
    return math.exp(total / max(count, 1))


def checkpoint_perplexity(folder: str | Path, prompts: list[str], copies: list[str], device: str = "auto") -> float:
    """Perplexity of a saved generator (its own tokenizer) on (prompts, copies): how an
    earlier model does on a later corpus's held-out lines. Per token of that model's
    tokenizer; tokenizers trained on the same families split alike, so close enough to
    compare versions, not to compare unrelated checkpoints."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    target = resolve_device(device)
    model.to(target)
    ids, labels = encode_examples(tokenizer, prompts, copies, max_length=model.config.n_positions)
    width = max(int((ids != tokenizer.pad_token_id).sum(axis=1).max()), 2)
    return perplexity(model, ids[:, :width], labels[:, :width], target)


def train_generator(train: tuple[list[str], list[str]], held_out: tuple[list[str], list[str]],
                    config: GeneratorConfig = GeneratorConfig(), base_checkpoint: str | None = None,
                    log: Callable[[str], None] = print) -> TrainedGenerator:
    """Train on (prompts, copies); a base checkpoint folder (or hub id) is fine-tuned with
    its own tokenizer, else a GPT-2 of `config`'s size starts from scratch with a tokenizer
    trained on the corpus."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    if base_checkpoint:
        tokenizer = AutoTokenizer.from_pretrained(base_checkpoint)
        tokenizer.add_special_tokens({"pad_token": PAD, "bos_token": BOS, "additional_special_tokens": [COPY]})
        model = AutoModelForCausalLM.from_pretrained(base_checkpoint)
        model.resize_token_embeddings(len(tokenizer))
    else:
        tokenizer = train_tokenizer([p + c for p, c in zip(*train)], config.vocab_size)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=config.n_positions, n_embd=config.n_embd,
                                           n_layer=config.n_layer, n_head=config.n_head, bos_token_id=tokenizer.bos_token_id,
                                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                           resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                                           attn_pdrop=config.dropout))
    max_length = model.config.n_positions
    x_train, y_train = encode_examples(tokenizer, *train, max_length=max_length)
    x_held, y_held = encode_examples(tokenizer, *held_out, max_length=max_length)
    # Trim the padding every example shares.
    width = int(max((x_train != tokenizer.pad_token_id).sum(axis=1).max(), (x_held != tokenizer.pad_token_id).sum(axis=1).max()))
    x_train, y_train, x_held, y_held = x_train[:, :width], y_train[:, :width], x_held[:, :width], y_held[:, :width]
    model.to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / max(config.warmup_steps, 1)) * max(0.05, 1 - s / max(config.steps, 1)))
    autocast = autocast_for(device)
    history, tokens, t0, step = [], 0, time.perf_counter(), 0
    held, held_at = math.nan, -1  # the newest held-out perplexity and the step it was measured at
    best = (math.inf, 0, None)  # (held-out perplexity, step, weights)
    # Batches of similar length (the rows nearest each other in a jittered length order),
    # each cut to its own longest row: real copy runs to a few hundred tokens, the shop's
    # lines to a few dozen, and padding every batch to the longest row would spend most of
    # the time on padding.
    lengths = (x_train != tokenizer.pad_token_id).sum(axis=1)
    batch = min(config.batch_size, len(x_train))
    for step in range(1, config.steps + 1):
        if step % 50 == 1:
            order = np.argsort(lengths + rng.uniform(0, 8, len(lengths)), kind="stable")
        start = int(rng.integers(0, len(x_train) - batch + 1))
        rows = order[start:start + batch]
        cut = max(int(lengths[rows].max()), 2)
        x = torch.from_numpy(x_train[rows, :cut]).to(device)
        y = torch.from_numpy(y_train[rows, :cut]).to(device)
        with autocast:
            loss = model(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long(), labels=y).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        tokens += int((x != tokenizer.pad_token_id).sum())
        out_of_time = time.perf_counter() - t0 > config.max_seconds
        if step % config.eval_every == 0 or step == config.steps or out_of_time:
            held = perplexity(model, x_held, y_held, device)
            held_at = step
            model.train()
            history.append({"step": step, "loss": round(loss.item(), 4), "held_out_perplexity": round(held, 3)})
            log(f"step {step}: loss {loss.item():.3f}, held-out perplexity {held:.2f}")
            if config.keep_best and len(x_held) and held < best[0]:
                best = (held, step, copy.deepcopy(model.state_dict()))
        if out_of_time:
            log(f"time budget of {config.max_seconds:.0f} s reached at step {step}")
            break
    seconds = time.perf_counter() - t0
    if best[2] is not None and best[1] != step:
        log(f"kept step {best[1]} (held-out perplexity {best[0]:.2f})")
        model.load_state_dict(best[2])
        held = best[0]  # measured on exactly these weights
    elif held_at != step:
        held = perplexity(model, x_held, y_held, device)
    sample = rng.integers(0, len(x_train), min(len(x_train), 512))
    train_ppl = perplexity(model, x_train[sample], y_train[sample], device)
    model.eval().cpu()
    return TrainedGenerator(model, tokenizer, held, train_ppl, step, seconds, tokens / max(seconds, 1e-9), device.type, history,
                            best[1] if best[2] is not None else step)


class _FlatCacheGPT2(nn.Module):
    """(input_ids, attention_mask, position_ids, k0, v0, k1, v1, ...) -> (logits, k0', v0', ...), the
    logits of the last position only (B, 1, V): decoding reads no other, and each batch's first
    step would put every prompt position through the output layer (B x prompt x vocabulary
    floats; 256 prompts of 80 tokens decoded in 0.73 s instead of 0.80 s on 2 cores)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.n_layer = model.config.n_layer

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        cache = DynamicCache()
        for layer in range(self.n_layer):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        flat = []
        for layer in out.past_key_values.layers:
            flat += [layer.keys, layer.values]
        return (out.logits, *flat)


def _past_shape(model, batch: int, length: int) -> tuple[int, int, int, int]:
    c = model.config
    return batch, c.n_head, length, c.n_embd // c.n_head


def export_decoder(model, path: Path, opset: int = 17) -> Path:
    """ONNX decoder with past key values (flat tensors), dynamic batch/sequence/past axes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    n_layer = model.config.n_layer
    batch, seq, past_len = 2, 3, 4
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    mask = torch.ones(batch, past_len + seq, dtype=torch.long)
    positions = torch.arange(past_len, past_len + seq).unsqueeze(0).repeat(batch, 1)
    past = [torch.randn(*_past_shape(model, batch, past_len)) for _ in range(2 * n_layer)]
    past_names = [f"past_{kind}_{i}" for i in range(n_layer) for kind in ("key", "value")]
    present_names = [f"present_{kind}_{i}" for i in range(n_layer) for kind in ("key", "value")]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total"},
            "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    axes.update({n: {0: "batch", 2: "past"} for n in past_names})
    axes.update({n: {0: "batch", 2: "total"} for n in present_names})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # An eval-mode wrapper: the exporter restores the wrapper's mode afterwards, recursively.
        torch.onnx.export(_FlatCacheGPT2(model).eval(), (ids, mask, positions, *past), str(path),
                          input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names], dynamic_axes=axes, opset_version=opset, dynamo=False)
    return path


# The share of a batch's rows done writing at which they leave the batch (generate_ids).
DROP_DONE_ROWS_AT = 0.5


@dataclass
class Sampling:
    max_new_tokens: int = 48
    greedy: bool = True
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0
    stop_at_eos: bool = True  # False: always max_new_tokens (benchmarks)


def _next_tokens(logits: np.ndarray, seen: np.ndarray, s: Sampling, rng: np.random.Generator,
                 blocked: np.ndarray | None = None) -> np.ndarray:
    """One token per row from last-position logits (B, V); `seen` (B, V) marks the tokens
    each row has already written, `blocked` (B, V) the tokens it may never write."""
    # float32 over the whole vocabulary (the masks and the top-k are O(B x V) per step);
    # float64 only for the few candidates the draw reads.
    logits = np.array(logits, dtype=np.float32)
    if blocked is not None:
        logits[blocked] = -np.inf
    if s.repetition_penalty != 1.0:  # CTRL-style (Keskar et al., 2019): push down tokens already written
        up, down = seen & (logits > 0), seen & (logits <= 0)
        logits[up] /= s.repetition_penalty
        logits[down] *= s.repetition_penalty
    if s.greedy:
        return logits.argmax(axis=1)
    logits /= max(s.temperature, 1e-6)
    candidates = None
    if 0 < s.top_k < logits.shape[1]:
        import torch

        # The k best tokens of each row (torch's top-k: a partial selection, not a sort of
        # the whole vocabulary, and several times faster than numpy's argpartition here),
        # kept in token order so that the draw below picks what a full-vocabulary draw would.
        candidates = np.sort(torch.topk(torch.from_numpy(logits), s.top_k, dim=1, sorted=False).indices.numpy(), axis=1)
        logits = np.take_along_axis(logits, candidates, axis=1)
    logits = logits.astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if s.top_p < 1.0:
        order = np.argsort(-probs, axis=1)
        sorted_p = np.take_along_axis(probs, order, axis=1)
        keep_sorted = np.cumsum(sorted_p, axis=1) - sorted_p < s.top_p  # the smallest set reaching top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    draws = rng.random(len(probs))[:, None]  # inverse-CDF sampling, one uniform per row
    picked = np.minimum((np.cumsum(probs, axis=1) < draws).sum(axis=1), probs.shape[1] - 1)
    return picked if candidates is None else candidates[np.arange(len(picked)), picked]


class OnnxDecoder:
    def __init__(self, path: Path, tokenizer, n_layer: int, n_head: int, head_dim: int, threads: int | None = None):
        from ecom_assets.ml.common.onnx_session import cpu_session

        self.session = cpu_session(path, threads)
        self.tokenizer, self.n_layer, self.n_head, self.head_dim = tokenizer, n_layer, n_head, head_dim

    @classmethod
    def for_model(cls, path: Path, tokenizer, model_config, threads: int | None = None) -> "OnnxDecoder":
        return cls(path, tokenizer, model_config.n_layer, model_config.n_head,
                   model_config.n_embd // model_config.n_head, threads)

    def generate(self, prompts: list[str], sampling: Sampling = Sampling(), use_cache: bool = True,
                 blocked: list | None = None) -> list[list[int]]:
        """New token ids per prompt (end-of-text not included). Prompts are left-padded so
        every row's next token sits in the last position. `blocked`: per prompt, token ids
        it may not write (constrained decoding: a colour the product does not have)."""
        return self.generate_ids(self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"], sampling, use_cache,
                                 blocked)

    def generate_ids(self, encoded: list[list[int]], sampling: Sampling = Sampling(), use_cache: bool = True,
                     blocked: list | None = None) -> list[list[int]]:
        tok = self.tokenizer
        width = max(len(e) for e in encoded)
        batch = len(encoded)
        ids = np.full((batch, width), tok.pad_token_id, dtype=np.int64)
        mask = np.zeros((batch, width), dtype=np.int64)
        for r, e in enumerate(encoded):
            ids[r, width - len(e):], mask[r, width - len(e):] = e, 1
        rng = np.random.default_rng(sampling.seed)
        generated: list[list[int]] = [[] for _ in range(batch)]
        seen = mask_blocked = None
        # The batch's rows (their index in `encoded`) and which of them wrote end-of-text.
        # Once half the rows are done they leave the batch with their cache, so later steps
        # compute only the rows still writing (halving at most log2(B) times: each drop
        # copies the cache, which costs more than a step does when only a few rows finish).
        rows, done = np.arange(batch), np.zeros(batch, dtype=bool)
        past = [np.zeros((batch, self.n_head, 0, self.head_dim), dtype=np.float32) for _ in range(2 * self.n_layer)]
        step_ids, full_ids = ids, ids
        for _ in range(sampling.max_new_tokens):
            positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
            if use_cache:
                feeds = {"input_ids": step_ids, "attention_mask": mask, "position_ids": positions[:, -step_ids.shape[1]:]}
            else:  # recompute the whole sequence every step (the no-cache reference)
                past = [np.zeros((len(rows), self.n_head, 0, self.head_dim), dtype=np.float32)
                        for _ in range(2 * self.n_layer)]
                feeds = {"input_ids": full_ids, "attention_mask": mask, "position_ids": positions}
            feeds.update({f"past_{kind}_{i}": past[2 * i + j] for i in range(self.n_layer)
                          for j, kind in enumerate(("key", "value"))})
            logits, *past = self.session.run(None, feeds)
            if seen is None:
                seen = np.zeros((batch, logits.shape[-1]), dtype=bool)
                if blocked is not None:
                    mask_blocked = np.zeros_like(seen)
                    for r, ids_r in enumerate(blocked):
                        mask_blocked[r, np.asarray(list(ids_r), dtype=np.int64)] = True
            nxt = _next_tokens(logits[:, -1], seen, sampling, rng, mask_blocked)
            seen[np.arange(len(rows)), nxt] = True
            nxt = np.where(done, tok.pad_token_id, nxt)
            finished = ~done & (nxt == tok.eos_token_id) if sampling.stop_at_eos else np.zeros_like(done)
            writing = ~done & ~finished
            for r, token in zip(rows[writing], nxt[writing]):
                generated[r].append(int(token))
            done |= finished
            if done.all():
                break
            if done.sum() >= DROP_DONE_ROWS_AT * len(rows):
                keep = ~done
                rows, done, nxt, mask, full_ids, seen = rows[keep], done[keep], nxt[keep], mask[keep], full_ids[keep], seen[keep]
                past = [p[keep] for p in past]
                mask_blocked = mask_blocked[keep] if mask_blocked is not None else None
            step_ids = nxt[:, None].astype(np.int64)
            full_ids = np.concatenate([full_ids, step_ids], axis=1)
            mask = np.concatenate([mask, np.ones((len(rows), 1), dtype=np.int64)], axis=1)
        return generated


@torch.no_grad()
def torch_generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 48) -> list[list[int]]:
    """Greedy reference with transformers' own `generate`, one prompt at a time (no padding)."""
    out = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        seq = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)[0, ids.shape[1]:]
        toks = seq.tolist()
        out.append(toks[:toks.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in toks else toks)
    return out
