"""Asset groups, one module each: ingest (raw tables, inbox), features (dbt)."""
