"""Ranking known answers for a question: BM25, a dense encoder, and their fusion.

Every question is ranked against the answers of its own (detected) language only; the
score matrices are (questions, answers) with -inf where the languages differ. The fusion
standardises each retriever's scores per question over the answers it may return and
adds them with weight `dense_weight` on the encoder, chosen on validation
(`choose_fusion`, once per language where the replies serve several: an English encoder
reads Chinese worse than jieba's words do); weight 1 is the encoder alone, 0 BM25 alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecom_assets.ml.service.language import detect_language, words

FUSION_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


def normalise_answer(text: str) -> str:
    """The key that makes two answers the same answer ("Yes." and "yes")."""
    return " ".join((text or "").lower().replace("。", " ").replace(".", " ").split())


def language_mask(question_languages, answer_languages) -> np.ndarray:
    """(Q, N) True where the answer is in the question's language."""
    return np.asarray(question_languages)[:, None] == np.asarray(answer_languages)[None, :]


@dataclass
class LexicalRetriever:
    """BM25 (bm25s, Lucene's variant: idf log(1 + (N - df + 0.5) / (df + 0.5)), term weight
    tf / (tf + k1 (1 - b + b dl / avgdl)), k1 1.5, b 0.75) over each language's answers."""

    k1: float = 1.5
    b: float = 0.75
    _indexes: dict = field(default_factory=dict, repr=False)

    def build(self, texts: list[str], languages: list[str]) -> "LexicalRetriever":
        import bm25s

        self.n_answers = len(texts)
        self.languages = np.asarray(languages)
        self._indexes = {}
        for language in sorted(set(languages)):
            positions = np.flatnonzero(self.languages == language)
            index = bm25s.BM25(k1=self.k1, b=self.b)
            index.index([words(texts[i], language) for i in positions], show_progress=False)
            self._indexes[language] = (positions, index)
        return self

    def scores(self, questions: list[str], languages: list[str] | None = None) -> np.ndarray:
        languages = languages or [detect_language(q) for q in questions]
        out = np.full((len(questions), self.n_answers), -np.inf, dtype=np.float32)
        for row, (question, language) in enumerate(zip(questions, languages)):
            if language not in self._indexes:
                continue
            positions, index = self._indexes[language]
            query = words(question, language)  # words the index never saw score 0
            out[row, positions] = index.get_scores(query) if query else 0.0
        return out


@dataclass
class QuestionBank:
    """Questions already answered, each with the index of its answer: the FAQ's own
    phrasing and the answered tickets of the training window. A new question that reads
    like one of them most likely wants its answer, so retrieval also matches question to
    question (BM25: each answer's document is expanded with its questions; the encoder: an
    answer scores the larger of its own cosine and its best question's)."""

    questions: list[str] = field(default_factory=list)
    answer_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def expand(self, texts: list[str]) -> list[str]:
        extra = [[] for _ in texts]
        for q, a in zip(self.questions, self.answer_index):
            extra[int(a)].append(q)
        return [t if not e else t + "\n" + "\n".join(e) for t, e in zip(texts, extra)]


@dataclass
class DenseRetriever:
    """Cosine similarity of unit-length question and answer embeddings (any encoder with
    `encode(texts) -> (n, d)` unit rows, torch or ONNX); with a `QuestionBank`, an answer
    scores the larger of its own cosine and that of its best-matching answered question."""

    encoder: object

    def build(self, texts: list[str], languages: list[str], bank: QuestionBank | None = None) -> "DenseRetriever":
        self.answer_embeddings = np.asarray(self.encoder.encode(list(texts)), dtype=np.float32)
        self.languages = np.asarray(languages)
        self.use_bank(bank)
        return self

    def use_bank(self, bank: QuestionBank | None, embeddings: np.ndarray | None = None) -> "DenseRetriever":
        self.bank = bank if bank is not None and len(bank.questions) else None
        if self.bank is not None:
            self.bank_embeddings = (embeddings if embeddings is not None
                                    else np.asarray(self.encoder.encode(list(self.bank.questions)), dtype=np.float32))
        return self

    def scores(self, questions: list[str], languages: list[str] | None = None,
               question_embeddings: np.ndarray | None = None) -> np.ndarray:
        languages = languages or [detect_language(q) for q in questions]
        q = question_embeddings if question_embeddings is not None else np.asarray(self.encoder.encode(list(questions)),
                                                                                    dtype=np.float32)
        out = q @ self.answer_embeddings.T
        if getattr(self, "bank", None) is not None:
            to_bank = q @ self.bank_embeddings.T  # (Q, bank)
            best = np.full_like(out, -np.inf)
            for a in np.unique(self.bank.answer_index):
                best[:, a] = to_bank[:, self.bank.answer_index == a].max(axis=1)
            out = np.maximum(out, best)
        return np.where(language_mask(languages, self.languages), out, -np.inf).astype(np.float32)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per row, (s - mean) / std over the finite entries; -inf stays -inf, a constant row 0."""
    finite = np.isfinite(scores)
    count = finite.sum(axis=1, keepdims=True).clip(min=1)
    values = np.where(finite, scores, 0.0)
    mean = values.sum(axis=1, keepdims=True) / count
    var = (np.where(finite, (values - mean) ** 2, 0.0)).sum(axis=1, keepdims=True) / count
    z = (values - mean) / np.sqrt(var).clip(min=1e-9)
    return np.where(finite, z, -np.inf).astype(np.float32)


def _weighted(zd: np.ndarray, zl: np.ndarray, w: np.ndarray | float) -> np.ndarray:
    """w * zd + (1 - w) * zl where both are finite (w per row or one for all), -inf elsewhere."""
    w = np.asarray(w, dtype=np.float32).reshape(-1, 1) if np.ndim(w) else np.float32(w)
    finite = np.isfinite(zd) & np.isfinite(zl)
    out = np.full(zd.shape, -np.inf, dtype=np.float32)
    mixed = w * np.where(finite, zd, 0.0) + (1.0 - w) * np.where(finite, zl, 0.0)
    out[finite] = np.broadcast_to(mixed, zd.shape)[finite]
    return out


def row_weights(weights: dict[str, float] | float, languages: list[str], default: float = 0.5) -> np.ndarray | float:
    """Each question's fusion weight from its language (a single weight stays one)."""
    if not isinstance(weights, dict):
        return weights
    return np.array([weights.get(lang, default) for lang in languages], dtype=np.float32)


def fuse(dense: np.ndarray | None, lexical: np.ndarray | None, dense_weight: float | np.ndarray) -> np.ndarray:
    """The fused scores; `dense_weight` one weight, or one per question (row)."""
    if dense is None:
        return standardise(lexical)
    if lexical is None:
        return standardise(dense)
    return _weighted(standardise(dense), standardise(lexical), dense_weight)


def ranks_of(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of each row's best relevant answer (`relevant`: (Q, N) bool), ties with
    irrelevant answers broken at random in expectation (rank + half the ties), so an
    all-zero BM25 row is not counted as a hit; rows with no relevant answer get n + 1."""
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    above = ((scores > best) & ~relevant).sum(axis=1)
    tied = ((scores == best) & ~relevant & np.isfinite(scores)).sum(axis=1)
    ranks = 1.0 + above + 0.5 * tied
    return np.where(relevant.any(axis=1), ranks, scores.shape[1] + 1.0)


def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray, ks=(1, 10)) -> dict[str, float]:
    ranks = ranks_of(scores, relevant)
    out = {"MRR": float(np.mean(1.0 / ranks))}
    out.update({f"Recall@{k}": float(np.mean(ranks <= k)) for k in ks})
    out["questions"] = int(len(ranks))
    return out


def choose_fusion(dense: np.ndarray | None, lexical: np.ndarray | None, relevant: np.ndarray,
                  grid=FUSION_GRID) -> tuple[float, list[dict]]:
    """The dense weight with the best MRR on these (validation) questions, and the trace."""
    if dense is None or lexical is None:
        return (1.0 if lexical is None else 0.0), []
    zd, zl = standardise(dense), standardise(lexical)
    trace = []
    for w in grid:
        fused = _weighted(zd, zl, w)
        trace.append({"dense_weight": float(w), "MRR": round(retrieval_metrics(fused, relevant)["MRR"], 5)})
    best = max(trace, key=lambda t: (t["MRR"], t["dense_weight"]))
    return best["dense_weight"], trace
