"""A live Dagster UI over the session's built warehouse, and Chromium to drive it.

`dagster dev` is started as people often start it: the virtualenv's own `dagster` script,
the virtualenv NOT on PATH (dbt must be found beside the interpreter). The instance is a
copy of the one the session's pipeline ran in, so assets show their history and metadata;
the warehouse is a copy too, so what the UI launches never touches the tables other tests
read. Screenshots go to $UI_ARTIFACTS (default: ui-artifacts/ in the project, ignored by
git) for a person or CI to look at.

Chromium: Debian's package (`apt-get install chromium fonts-wqy-microhei`); Playwright's
own browser download cannot work here. Without it every browser test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
ARTIFACTS = Path(os.environ.get("UI_ARTIFACTS", ROOT / "ui-artifacts"))
START_TIMEOUT_S = 240


def chromium_path() -> str | None:
    chosen = os.environ.get("CHROMIUM") or next((c for c in CHROMIUM_CANDIDATES if Path(c).exists()), None)
    return chosen if chosen and Path(chosen).exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise AssertionError(body["errors"])
    return body["data"]


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _wait_until_loaded(base: str, server: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster dev exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            entries = graphql(base, LOCATIONS, timeout=5)["workspaceOrError"]["locationEntries"]
        except (OSError, AssertionError):
            time.sleep(1)
            continue
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return entries[0]
        time.sleep(1)
    raise AssertionError(f"the code location did not load in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def chromium():
    path = chromium_path()
    if path is None:
        pytest.skip("browser tests skipped: no Chromium found (apt-get install chromium fonts-wqy-microhei, "
                    "or set CHROMIUM to its path)")
    return path


@pytest.fixture(scope="session")
def ui(built, chromium, tmp_path_factory):
    """{"base": URL, "warehouse": copy the UI's runs write, "location": the loaded entry}."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    shutil.copytree(built["instance_home"], home)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # the project's instance settings
    warehouse = root / "warehouse.duckdb"
    shutil.copy(built["warehouse"].resolved_path, warehouse)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    # As when the venv's dagster is started by its path: the venv is not on PATH.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if Path(p).resolve() != venv_bin.resolve()) or "/usr/bin:/bin"
    env.update(DAGSTER_HOME=str(home), ECOM_WAREHOUSE=str(warehouse), ECOM_MODEL_DIR=str(built["model_store"].resolved_root),
               ECOM_INBOX_DIR=str(root / "inbox"), DAGSTER_DISABLE_TELEMETRY="1")
    log = root / "dagster_dev.log"
    with open(log, "w") as sink:
        server = subprocess.Popen([str(venv_bin / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                                   "-p", str(port)], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        location = _wait_until_loaded(base, server, log)
        yield {"base": base, "warehouse": warehouse, "location": location, "log": log, "env": env}
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
