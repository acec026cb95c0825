"""What the domains share: devices, model files and their hashes, model cards, champion re-scoring, neighbour search."""
