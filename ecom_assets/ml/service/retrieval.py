"""Ranking known answers for a question: BM25, a dense encoder, a classifier over the
questions already answered, and their fusion.

Every question is ranked against the answers of its own (detected) language only; the
score matrices are (questions, answers) with -inf where the languages differ. The fusion
standardises each component's scores per question over the answers it may return and
adds them with weights that sum to one, chosen on validation (`choose_weights`, once per
language where the replies serve several: an English encoder reads Chinese worse than
jieba's words do). Two components (`fuse`, `choose_fusion`) take one number, the
encoder's weight: 1 is the encoder alone, 0 BM25 alone.

Components:
    dense       cosine of encoder embeddings (answer text, or its best answered question)
    lexical     BM25 over the answer text expanded with its answered questions
    classifier  a shop's answered tickets are labelled examples of which answer a question
                wants: character n-gram TF-IDF and a multinomial logistic regression
                (`QuestionClassifier`), the intent classifier of a help desk; only where
                a question bank exists (answers nobody has asked for yet get its floor)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ecom_assets.ml.service.language import detect_language, words

COMPONENTS = ("dense", "lexical", "classifier")


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


@dataclass
class QuestionClassifier:
    """P(answer | question) learned from the question bank: TF-IDF over character 1-3
    grams within words (no segmenter needed, so one model reads English and Chinese, and
    paraphrases that share word pieces stay close) and a multinomial logistic regression
    (L2, inverse strength `c`). Scores are log-probabilities over the answers it has seen,
    the row's lowest for those it has not; -inf outside the question's language."""

    c: float = 10.0

    def fit(self, bank: QuestionBank, answer_languages: list[str]) -> "QuestionClassifier":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(bank.answer_index, dtype=np.int64)
        if len(np.unique(labels)) < 2:
            raise ValueError("a question classifier needs answered questions for at least two answers")
        self.languages = np.asarray(answer_languages)
        self.vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, lowercase=True)
        features = self.vectoriser.fit_transform(list(bank.questions))
        self.model = LogisticRegression(C=self.c, max_iter=3000).fit(features, labels)
        return self

    def scores(self, questions: list[str], languages: list[str] | None = None) -> np.ndarray:
        languages = languages or [detect_language(q) for q in questions]
        known = self.model.predict_log_proba(self.vectoriser.transform(list(questions))).astype(np.float32)
        out = np.repeat(known.min(axis=1, keepdims=True), len(self.languages), axis=1)
        out[:, self.model.classes_] = known
        return np.where(language_mask(languages, self.languages), out, -np.inf).astype(np.float32)


def classifier_for(bank: QuestionBank | None, answer_languages: list[str], c: float = 10.0) -> QuestionClassifier | None:
    """The bank's classifier, or None when it holds questions for fewer than two answers."""
    if bank is None or len(np.unique(bank.answer_index)) < 2:
        return None
    return QuestionClassifier(c=c).fit(bank, answer_languages)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per row, (s - mean) / std over the finite entries; -inf stays -inf, a constant row 0."""
    finite = np.isfinite(scores)
    count = finite.sum(axis=1, keepdims=True).clip(min=1)
    values = np.where(finite, scores, 0.0)
    mean = values.sum(axis=1, keepdims=True) / count
    var = (np.where(finite, (values - mean) ** 2, 0.0)).sum(axis=1, keepdims=True) / count
    z = (values - mean) / np.sqrt(var).clip(min=1e-9)
    return np.where(finite, z, -np.inf).astype(np.float32)


def fuse_components(components: dict[str, np.ndarray | None], weights: dict[str, float | np.ndarray]) -> np.ndarray:
    """sum_k w_k * standardise(component_k), over the components with a matrix and a
    weight that is not zero everywhere (a weight is one number or one per question);
    -inf wherever a component in the sum is -inf (another language)."""
    used = [(name, m) for name, m in components.items()
            if m is not None and np.any(np.asarray(weights.get(name, 0.0)) != 0)]
    if not used:  # every weight zero: the first component alone
        used = [next((name, m) for name, m in components.items() if m is not None)]
        weights = {used[0][0]: 1.0}
    shape = used[0][1].shape
    finite = np.ones(shape, dtype=bool)
    total = np.zeros(shape, dtype=np.float32)
    for name, matrix in used:
        z = standardise(matrix)
        w = np.asarray(weights.get(name, 0.0), dtype=np.float32)
        w = w.reshape(-1, 1) if w.ndim else w
        finite &= np.isfinite(z)
        total += w * np.where(np.isfinite(z), z, 0.0)
    return np.where(finite, total, -np.inf).astype(np.float32)


def weight_grid(names: list[str], step: float = 0.1) -> list[dict[str, float]]:
    """Every weighting of `names` on a grid of `step` whose weights sum to one."""
    units = int(round(1.0 / step))
    out = []
    for combo in itertools.product(range(units + 1), repeat=len(names)):
        if sum(combo) == units:
            out.append({n: round(k * step, 4) for n, k in zip(names, combo)})
    return out


def choose_weights(components: dict[str, np.ndarray | None], relevant: np.ndarray, step: float = 0.1
                   ) -> tuple[dict[str, float], list[dict]]:
    """The weighting with the best MRR on these (validation) questions, and the trace.
    Ties (a small validation set often has a plateau) go to the most even weighting: the
    middle of a plateau moves least when the questions change."""
    names = [n for n, m in components.items() if m is not None]
    if len(names) < 2:
        return {n: 1.0 for n in names}, []
    standard = {n: standardise(components[n]) for n in names}
    trace = []
    for weights in weight_grid(names, step):
        fused = fuse_components(standard, weights)
        trace.append({**weights, "MRR": round(retrieval_metrics(fused, relevant)["MRR"], 5)})
    evenness = lambda t: -sum(t[n] ** 2 for n in names)  # noqa: E731
    best = max(trace, key=lambda t: (t["MRR"], evenness(t)))
    return {n: best[n] for n in names}, trace


def weights_by_row(per_language: dict[str, dict[str, float]], languages: list[str], names=COMPONENTS,
                   default: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Each component's weight per question, from the question's language."""
    default = default or {"dense": 0.5, "lexical": 0.5}
    return {n: np.array([per_language.get(lang, default).get(n, 0.0) for lang in languages], dtype=np.float32)
            for n in names}


def fuse(dense: np.ndarray | None, lexical: np.ndarray | None, dense_weight: float | np.ndarray) -> np.ndarray:
    """The encoder and BM25 fused; `dense_weight` one weight, or one per question (row)."""
    if dense is None:
        return standardise(lexical)
    if lexical is None:
        return standardise(dense)
    w = np.asarray(dense_weight, dtype=np.float32)
    return fuse_components({"dense": dense, "lexical": lexical}, {"dense": w, "lexical": 1.0 - w})


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
                  step: float = 0.1) -> tuple[float, list[dict]]:
    """The encoder's weight against BM25 with the best MRR on these (validation)
    questions, and the trace (dense_weight, MRR)."""
    if dense is None or lexical is None:
        return (1.0 if lexical is None else 0.0), []
    weights, trace = choose_weights({"dense": dense, "lexical": lexical}, relevant, step)
    return weights["dense"], [{"dense_weight": t["dense"], "MRR": t["MRR"]} for t in trace]
