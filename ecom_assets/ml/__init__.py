"""Algorithms with no Dagster imports: arrays in, arrays out, unit-tested alone."""
