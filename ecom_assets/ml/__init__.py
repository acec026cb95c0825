"""Algorithms with no Dagster imports, one package per domain: arrays in, arrays out, unit-tested alone.

    common/       what the domains share: devices, model files (hashes, array files), model cards,
                  champion re-scoring, nearest-neighbour search
    recsys/       candidate strategies and their save/load contract, the blend, training and
                  evaluation, top-K lists and their reasons
    text/         product text, the sentence encoder, contrastive fine-tuning, ONNX export,
                  incremental embedding
    copy/         ad-copy corpus, GPT-2 generator and decoding, review (facts, claims, length)
    monitoring/   drift reports (Evidently)
    bandits/      off-policy estimators, policies with propensities, A/B read-outs
    service/      customer-service retrieval, reranking, confidence and hand-off, replies
    privacy/      differential privacy: mechanisms (OpenDP), the budget accountant, bounding
    fairness/     exposure with a position discount, quality by group, constrained re-ranking

A domain may import common/ and the domains it builds on (text/ evaluates with recsys/'s protocol); nothing here
imports Dagster (a test enforces it).
"""
