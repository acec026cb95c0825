"""Customer-service replies: retrieval over known answers, and a calibrated hand-off.

    language     the question's language (detected from its script, never configured) and
                 its words for the lexical index (jieba for Chinese)
    retrieval    BM25 (bm25s) and a dense BERT-family encoder over the answers of the
                 question's language, fused with a weight chosen on validation
    tuning       contrastive fine-tuning of the encoder on question -> answer pairs
                 (in-batch and mined hard negatives, no text twice in a batch)
    confidence   the probability that the top answer is right (logistic calibration on
                 held-out questions over the score, the margins and the retrievers'
                 agreement), the threshold for a target precision, risk-coverage and AURC

No Dagster here: the service assets read the warehouse, call these and write tables.
"""
