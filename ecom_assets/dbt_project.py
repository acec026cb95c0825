"""The dbt project handle, apart from the assets so that preparing the manifest does not
need the manifest."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from ecom_assets import paths

DBT_PROJECT = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """dbt from this interpreter's environment (works without an activated venv)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def prepare_manifest() -> Path:
    """`dbt parse` into target/manifest.json (what @dbt_assets reads at import)."""
    dbt_resource().cli(["parse", "--quiet"], target_path=Path("target")).wait()
    return DBT_PROJECT.manifest_path
