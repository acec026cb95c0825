"""The dbt project handle, apart from the assets so that preparing the manifest does not
need the manifest."""

from __future__ import annotations

import shutil
import sys
from functools import cached_property
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from ecom_assets import paths

DBT_PROJECT = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """dbt from this interpreter's environment (works without an activated venv)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


class ShopDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, told the dbt version instead of asking for it: it runs
    `dbt --version` in a subprocess before every command (about 2 s on 2 cores, twice per
    demo run). When the executable is the one beside this interpreter, it is the dbt-core
    this environment has installed; any other executable is still asked."""

    @cached_property
    def _cli_version(self):
        beside = Path(sys.executable).parent / "dbt"
        if Path(self.dbt_executable) == beside:
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as installed

            from packaging import version

            try:
                return version.parse(installed("dbt-core"))
            except PackageNotFoundError:
                pass
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    return ShopDbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


class PreparerBesideInterpreter(DagsterDbtProjectPreparer):
    """dagster-dbt's own preparer runs the `dbt` on PATH, which a virtualenv started by its
    path (`.venv/bin/dagster dev`, no activated venv) does not have: the code location then
    fails to load and the UI shows every asset as external. This one runs ours, keeping
    dagster-dbt's guard against two processes parsing at once."""

    def _prepare_packages(self, project: DbtProject) -> None:
        dbt_resource().cli(["deps", "--quiet"], target_path=project.target_path).wait()

    def _prepare_manifest(self, project: DbtProject) -> None:
        dbt_resource().cli(self._prepare_project_cli_args, target_path=project.target_path).wait()
        self._invalidate_seeds_in_partial_parse(project)


def prepare_if_dev() -> None:
    """Under `dagster dev` only: re-parse the project so that SQL edits show without a
    separate `make prepare` (elsewhere the prepared manifest is read as it is)."""
    PreparerBesideInterpreter().prepare_if_dev(DBT_PROJECT)


def prepare_manifest() -> Path:
    """`dbt parse` into target/manifest.json (what @dbt_assets reads at import)."""
    dbt_resource().cli(["parse", "--quiet"], target_path=Path("target")).wait()
    return DBT_PROJECT.manifest_path
