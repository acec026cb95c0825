"""Monitoring: drift of data, embeddings and predictions (Evidently), summarised as rows."""
