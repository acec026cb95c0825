"""Teaching an English encoder the catalogue's Chinese characters.

The packaged encoder's WordPiece vocabulary holds few CJK characters: most of a Chinese
title becomes [UNK], so every Chinese title looks alike to it. `extend_vocabulary` adds
the characters the catalogue uses that the vocabulary lacks, first into the vocabulary's
unused slots ("[unused0]".. in BERT vocabularies: no resizing, WordPiece reads them as
ordinary entries), then appended (the embedding matrix grows), and gives each new
character an input embedding that means something:

    from pairs      where the catalogue has texts in both languages (a product's Chinese
                    and English title), the new characters' embeddings are the ridge
                    solution of "the mean input embedding of a Chinese text equals the mean
                    input embedding of its English text", the characters already known
                    held fixed: a character that keeps appearing with "shoe" lands near
                    "shoe"
    otherwise       the mean embedding of the CJK characters the vocabulary has

This is initialisation only; knowledge distillation from the English model (the next step
of the bilingual encoder) trains on top of it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_UNUSED = re.compile(r"^\[unused\d+\]$")


@dataclass
class VocabularyExtension:
    added: list[str] = field(default_factory=list)
    into_unused_slots: int = 0
    appended: int = 0
    initialised_from_pairs: int = 0
    unknown_share_before: float = 0.0
    unknown_share_after: float = 0.0

    def as_metadata(self) -> dict:
        return {"characters_added": len(self.added), "into_unused_slots": self.into_unused_slots,
                "appended": self.appended, "initialised_from_pairs": self.initialised_from_pairs,
                "unknown_share_before": round(self.unknown_share_before, 4),
                "unknown_share_after": round(self.unknown_share_after, 4)}


def cjk_characters(texts) -> list[str]:
    """The distinct CJK characters of `texts`, in order of first appearance."""
    return list(dict.fromkeys(c for t in texts for c in _CJK.findall(t or "")))


def missing_characters(tokenizer, texts) -> list[str]:
    """The CJK characters of `texts` that the tokenizer's vocabulary lacks."""
    vocab = tokenizer.get_vocab()
    return [c for c in cjk_characters(texts) if c not in vocab]


def _vocab_lines(tokenizer) -> list[str]:
    vocab = tokenizer.get_vocab()
    lines = [""] * len(vocab)
    for token, index in vocab.items():
        if index < len(lines):
            lines[index] = token
    return lines


def _pair_initialisation(embeddings: np.ndarray, tokenizer, new_ids: dict[str, int],
                         pairs: list[tuple[str, str]], ridge: float) -> dict[str, np.ndarray]:
    """Embeddings for the new characters met in `pairs` (Chinese text, English text): the
    ridge solution of A E = B, A the new characters' share of each Chinese text's tokens,
    B each English text's mean input embedding minus the known tokens' part of the
    Chinese text's mean."""
    chars = list(new_ids)
    column = {c: j for j, c in enumerate(chars)}
    rows, targets = [], []
    for zh, en in pairs:
        zh_ids = tokenizer(zh, add_special_tokens=False)["input_ids"]
        en_ids = tokenizer(en, add_special_tokens=False)["input_ids"]
        if not zh_ids or not en_ids:
            continue
        share = np.zeros(len(chars))
        known = np.zeros(embeddings.shape[1])
        for token_id in zh_ids:
            token = tokenizer.convert_ids_to_tokens(token_id)
            if token in column:
                share[column[token]] += 1.0 / len(zh_ids)
            else:
                known += embeddings[token_id] / len(zh_ids)
        if share.any():
            rows.append(share)
            targets.append(embeddings[en_ids].mean(axis=0) - known)
    if not rows:
        return {}
    a, b = np.asarray(rows), np.asarray(targets)
    seen = a.sum(axis=0) > 0
    a = a[:, seen]
    solution = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    return {c: solution[k] for k, c in enumerate(np.asarray(chars)[seen])}


def extend_vocabulary(encoder, texts, pairs: list[tuple[str, str]] | None = None, ridge: float = 0.05
                      ) -> VocabularyExtension:
    """Add to `encoder` (a TorchEncoder: tokenizer and transformer, changed in place) the CJK
    characters of `texts` its vocabulary lacks, initialised from `pairs` where they occur
    there. Saving the encoder afterwards saves the new vocabulary with it."""
    from transformers import AutoTokenizer

    before = encoder.unknown_token_share(texts)
    missing = missing_characters(encoder.tokenizer, texts)
    result = VocabularyExtension(unknown_share_before=before, unknown_share_after=before)
    if not missing:
        return result
    lines = _vocab_lines(encoder.tokenizer)
    unused = [i for i, token in enumerate(lines) if _UNUSED.match(token)]
    slots = unused[:len(missing)]
    for i, char in zip(slots, missing):
        lines[i] = char
    extra = missing[len(slots):]
    lines += extra
    folder = Path(tempfile.mkdtemp(prefix="vocab_"))
    try:
        encoder.tokenizer.save_pretrained(folder)
        (folder / "tokenizer.json").unlink(missing_ok=True)  # rebuilt from vocab.txt
        (folder / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    transformer = encoder.encoder.transformer
    if len(lines) > transformer.get_input_embeddings().weight.shape[0]:
        transformer.resize_token_embeddings(len(lines))
    weight = transformer.get_input_embeddings().weight
    embeddings = weight.detach().cpu().numpy().astype(np.float64)
    vocab = tokenizer.get_vocab()
    new_ids = {c: vocab[c] for c in missing}
    known_cjk = [i for token, i in vocab.items() if _CJK.fullmatch(token) and token not in new_ids]
    fallback = embeddings[known_cjk].mean(axis=0) if known_cjk else embeddings.mean(axis=0)
    from_pairs = _pair_initialisation(embeddings, tokenizer, new_ids, pairs or [], ridge)
    import torch

    with torch.no_grad():
        for char, index in new_ids.items():
            weight[index] = torch.as_tensor(from_pairs.get(char, fallback), dtype=weight.dtype)
    encoder.tokenizer = tokenizer
    result.added = missing
    result.into_unused_slots, result.appended = len(slots), len(extra)
    result.initialised_from_pairs = len(from_pairs)
    result.unknown_share_after = encoder.unknown_token_share(texts)
    return result


def cross_lingual_retrieval(encoder, queries: list[str], targets: list[str]) -> dict[str, float]:
    """Each query (a Chinese title) ranks every target (the English titles, the i-th being
    its own): Recall@1 and MRR of its own target."""
    q = encoder.encode(queries, batch_size=128)
    t = encoder.encode(targets, batch_size=128)
    scores = q @ t.T
    own = np.diag(scores)
    ranks = (scores > own[:, None]).sum(axis=1)
    return {"recall_at_1": float((ranks == 0).mean()), "mrr": float((1.0 / (ranks + 1)).mean()), "pairs": len(queries)}
