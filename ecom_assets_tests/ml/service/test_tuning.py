import numpy as np
import torch

from ecom_assets.ml.service.retrieval import DenseRetriever, retrieval_metrics
from ecom_assets.ml.service.tuning import PairTuneConfig, batches_without_repeats, finetune_pairs, lexical_hard_negatives
from ecom_assets.ml.text.encoder import TorchEncoder


def test_no_text_appears_twice_in_a_batch_and_every_example_is_used_once():
    keys = [("q:a", "a:x"), ("q:b", "a:x"), ("q:c", "a:y", "a:x"), ("q:d", "a:z"), ("q:a", "a:w")]
    batches = batches_without_repeats(keys, 3, np.random.default_rng(0))
    used = np.concatenate(batches)
    assert sorted(used.tolist()) == list(range(5))
    for batch in batches:
        texts = [t for i in batch for t in keys[i]]
        assert len(texts) == len(set(texts)), batch


def test_a_hard_negative_is_never_the_questions_own_answer_text():
    rng = np.random.default_rng(0)
    scores = np.array([[5.0, 1.0, 4.0, 3.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    keys = ["yes", "no", "yes", "maybe"]  # answers 0 and 2 read the same
    negatives = lexical_hard_negatives(scores, np.array([0, 1, 3]), keys, pool=2, rng=rng)
    assert negatives[0] in (3, 1) and keys[negatives[0]] != "yes"
    assert negatives[1] == -1, "no other answer shares a word with question 1"
    assert negatives[2] == -1


def test_pair_fine_tuning_keeps_the_best_validation_weights():
    torch.manual_seed(0)
    encoder = TorchEncoder.load(None, max_length=32)
    questions = ["how long is delivery", "can I return shoes", "do you ship abroad", "is the kettle dishwasher safe",
                 "what sizes are there", "how do I reset my password"] * 2
    answers = ["delivery takes three days", "returns are free for 30 days", "we ship to 40 countries",
               "hand wash the kettle only", "sizes run from XS to XL", "use the forgot password link"] * 2
    valid_q, valid_a = questions[:6], answers[:6]
    relevant = np.eye(6, dtype=bool)

    calls = []

    def mrr(enc):
        calls.append(retrieval_metrics(DenseRetriever(enc).build(valid_a, ["en"] * 6).scores(valid_q, ["en"] * 6),
                                       relevant)["MRR"])
        return calls[-1]

    negatives = [answers[(i + 1) % 6] for i in range(len(questions))]
    result = finetune_pairs(encoder, questions, answers, mrr,
                            PairTuneConfig(epochs=2, batch_size=4, learning_rate=5e-5, evaluations_per_epoch=1, device="cpu"),
                            negatives=negatives, log=lambda _: None)
    assert result.best >= result.zero_shot and result.steps >= 4
    assert mrr(encoder) == result.best, "the kept weights are the best validation step's"
    assert result.history[0]["step"] == 0 and len(result.history) >= 2
    # One history entry per evaluation, in order: train_responder reuses the best one's scores.
    assert [round(c, 5) for c in calls[:-1]] == [h["validation_mrr"] for h in result.history]
    best_index = [h["step"] for h in result.history].index(result.best_step)
    assert calls[best_index] == result.best
    assert all(p.requires_grad for p in encoder.encoder.parameters()), "the frozen embeddings are thawed again"
