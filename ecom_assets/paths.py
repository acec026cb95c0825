"""Where the project's files live. Relative paths resolve against the project root, so
the same configuration works from `make`, `dagster dev` and the tests."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("ECOM_HOME") or Path(__file__).resolve().parents[1])

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_MODEL_DIR = "models"
DEFAULT_INBOX_DIR = "data/inbox"
DEFAULT_KEY_FILE = ".secrets/pseudonym.key"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"


def resolve(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p
