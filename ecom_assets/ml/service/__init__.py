"""Customer-service replies: retrieval over known answers, and a calibrated hand-off.

    language     the question's language (detected from its script, never configured) and
                 its words for the lexical index (jieba for Chinese)
    retrieval    BM25 (bm25s), a dense BERT-family encoder and, where tickets have been
                 answered before, a question classifier (character n-gram TF-IDF and
                 logistic regression) over the answers of the question's language, fused
                 with weights chosen on validation per language
    tuning       contrastive fine-tuning of the encoder on question -> answer pairs
                 (in-batch and mined hard negatives, no text twice in a batch)
    confidence   the probability that the top answer is right (logistic calibration on
                 held-out questions over the score, the margins and the retrievers'
                 agreement), the threshold for a target precision, risk-coverage and AURC,
                 and the replies judged against the agents' answers
    replies      a reply or a hand-off with its reason; account slots filled from the
                 warehouse's facts, never invented
    training     the responder from a shop's answered tickets: fine-tune before the
                 validation window, choose and calibrate on it

No Dagster here: the service assets read the warehouse, call these and write tables.
"""
