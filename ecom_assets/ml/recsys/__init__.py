"""Recommendation: candidate strategies (one save/load contract), the blend, training, evaluation, top-K lists, reasons."""
