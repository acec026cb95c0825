"""`make run`'s set-up step: the dbt manifest is parsed again only when it would change."""

import json
import os
from importlib.metadata import version

from ecom_assets import cli, paths


def test_the_manifest_is_parsed_again_only_when_a_project_file_or_dbt_changed(tmp_path, monkeypatch):
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model = project / "models" / "a.sql"
    model.write_text("select 1")
    monkeypatch.setattr(paths, "DBT_PROJECT_DIR", project)
    assert not cli.manifest_is_current(), "no manifest yet"
    manifest = project / "target" / "manifest.json"
    manifest.write_text(json.dumps({"metadata": {"dbt_version": version("dbt-core")}}))
    os.utime(model, (manifest.stat().st_mtime - 10,) * 2)
    assert cli.manifest_is_current()
    (project / "target" / "run_results.json").write_text("{}")  # dbt's own outputs do not count
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("")
    assert cli.manifest_is_current()
    os.utime(model, (manifest.stat().st_mtime + 10,) * 2)
    assert not cli.manifest_is_current(), "a model edited after the parse"
    os.utime(model, (manifest.stat().st_mtime - 10,) * 2)
    manifest.write_text(json.dumps({"metadata": {"dbt_version": "0.0.1"}}))
    os.utime(model, (manifest.stat().st_mtime - 10,) * 2)
    assert not cli.manifest_is_current(), "parsed by another dbt"


def test_the_dbt_resource_knows_its_version_without_running_dbt():
    import subprocess

    from dagster_dbt import DbtCliResource

    from ecom_assets.dbt_project import DBT_PROJECT, dbt_executable, dbt_resource

    told = dbt_resource()._cli_version
    asked = DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())._cli_version  # runs dbt --version
    assert told == asked
    printed = subprocess.check_output([dbt_executable(), "--version"], text=True)
    assert str(told) in printed
