"""Copy quality against reference copy, under the common AdvertiseGen protocol.

    BLEU-4 on characters, NLTK's sentence BLEU with smoothing method 3
    ROUGE-1/2/L F on jieba words, as `rouge-chinese` computes them
    each the mean over rows, x 100

`retrieval_baseline` is the honest floor: for each row, the copy of the training row whose
attribute list overlaps it most (Jaccard on key#value pairs; ties go to the earliest row).
"""

from __future__ import annotations

import numpy as np


def _words(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(text) if w.strip()]


def bleu4_chars(hypothesis: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp, ref = list(hypothesis.replace(" ", "")), list(reference.replace(" ", ""))
    if not hyp or not ref:
        return 0.0
    return float(sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method3))


def rouge_words(hypothesis: str, reference: str) -> dict[str, float]:
    from rouge_chinese import Rouge

    hyp, ref = " ".join(_words(hypothesis)), " ".join(_words(reference))
    if not hyp.strip() or not ref.strip():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    scores = Rouge().get_scores(hyp, ref)[0]
    return {k: float(v["f"]) for k, v in scores.items()}


def score_rows(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Mean BLEU-4 and ROUGE-1/2/L F x 100 over rows."""
    if not hypotheses:
        return {"bleu_4": 0.0, "rouge_1": 0.0, "rouge_2": 0.0, "rouge_l": 0.0, "rows": 0}
    bleu = [bleu4_chars(h, r) for h, r in zip(hypotheses, references)]
    rouge = [rouge_words(h, r) for h, r in zip(hypotheses, references)]
    return {"bleu_4": round(100 * float(np.mean(bleu)), 2),
            "rouge_1": round(100 * float(np.mean([x["rouge-1"] for x in rouge])), 2),
            "rouge_2": round(100 * float(np.mean([x["rouge-2"] for x in rouge])), 2),
            "rouge_l": round(100 * float(np.mean([x["rouge-l"] for x in rouge])), 2), "rows": len(hypotheses)}


def distinct_2_chars(texts: list[str]) -> float:
    grams = [t[i:i + 2] for t in texts for i in range(len(t) - 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0


def nearest_copies(query_attributes: list[str], train_attributes: list[str], train_copy: list[str],
                   k: int = 1, leave_one_out: bool = False) -> list[list[str]]:
    """Per query, the copy of the `k` training rows whose attribute lists share the most
    key#value pairs with it (Jaccard; ties go to the earliest row). `leave_one_out`: the
    queries are the training rows themselves, and a row is never its own neighbour."""
    train_sets = [set(a.split("*")) for a in train_attributes]
    out = []
    for number, query in enumerate(query_attributes):
        q = set(query.split("*"))
        overlaps = np.array([len(q & t) / len(q | t) if q | t else 0.0 for t in train_sets])
        if leave_one_out:
            overlaps[number] = -1.0
        order = np.argsort(-overlaps, kind="stable")[:k]
        out.append([train_copy[int(i)] for i in order])
    return out


def retrieval_baseline(query_attributes: list[str], train_attributes: list[str], train_copy: list[str]) -> list[str]:
    """The copy of the training row whose attribute list shares the most key#value pairs
    with each query's (Jaccard)."""
    return [nearest[0] for nearest in nearest_copies(query_attributes, train_attributes, train_copy, k=1)]
