"""Ad copy: the corpus with fact slots, the GPT-2 generator and its decoding, the review of every candidate."""
