"""The Dagster UI in a real browser, as a person uses it: Chromium (Playwright) against a
live `dagster dev` over the session's built warehouse (see conftest.py). Each test saves
a screenshot under ui-artifacts/ (or $UI_ARTIFACTS).

Runs launched here go through the instance's queued run coordinator and the default run
launcher: each run in its own process, each step in its own process (the multiprocess
executor), which the in-process tests never exercise.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ecom_assets_tests.ui.conftest import graphql, screenshot

pytestmark = pytest.mark.browser

RUNS = """query Runs($limit: Int) { runsOrError(limit: $limit) { ... on Runs { results {
  runId status jobName tags { key value } } } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN_STATUS = """query Run($id: ID!) { runOrError(runId: $id) { ... on Run { runId status } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def _open(page, ui, path: str):
    page.goto(ui["base"] + path)
    page.wait_for_load_state("networkidle")
    # A fresh browser's first page shows a "Join the Dagster community" dialog: Skip it, as a person would.
    try:
        page.get_by_text("Join the Dagster community").wait_for(timeout=3000)
        page.get_by_role("button", name="Skip").click()
    except PlaywrightTimeout:
        pass
    return page


def _wait_for_run(ui, run_id: str, timeout_s: float = 420) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = graphql(ui["base"], RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in DONE:
            return status
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s:.0f} s")


def _defs():
    from ecom_assets.definitions import defs

    return defs


def test_the_code_location_loads_from_the_venv_s_dagster_without_the_venv_on_path(ui):
    # Started by its path with the venv off PATH, dbt must still be found (beside the
    # interpreter); otherwise the location fails to load and every asset shows as external.
    assert ui["location"]["locationOrLoadError"]["__typename"] == "RepositoryLocation", ui["location"]
    venv_bin = Path(sys.executable).parent.resolve()
    assert all(Path(entry).resolve() != venv_bin for entry in ui["env"]["PATH"].split(os.pathsep) if entry), \
        ui["env"]["PATH"]
    nodes = graphql(ui["base"], "{ assetNodes { assetKey { path } isMaterializable groupName } }")["assetNodes"]
    ours = {tuple(n["assetKey"]["path"]) for n in nodes if n["isMaterializable"]}
    expected = {tuple(k.path) for k in _defs().resolve_asset_graph().materializable_asset_keys}
    assert expected <= ours, sorted(expected - ours)[:10]


def test_the_asset_graph_shows_every_group(ui, page):
    _open(page, ui, "/asset-groups")
    groups = sorted({n.group_name for n in _defs().resolve_asset_graph().asset_nodes if n.group_name})
    assert len(groups) >= 10
    for group in groups:
        page.get_by_text(group, exact=True).first.wait_for()
    screenshot(page, "lineage_groups")


def _upstream_path(graph, start, goal) -> list:
    """The shortest chain of asset keys from `start` up to its ancestor `goal`, start first
    (breadth-first over parents)."""
    child_on_path, frontier = {start: None}, [start]
    while frontier and goal not in child_on_path:
        reached = []
        for key in frontier:
            for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.path):
                if parent not in child_on_path:
                    child_on_path[parent] = key
                    reached.append(parent)
        frontier = reached
    assert goal in child_on_path, f"{goal.to_user_string()} is not upstream of {start.to_user_string()}"
    chain, key = [], goal
    while key is not None:
        chain.append(key)
        key = child_on_path[key]
    return chain[::-1]


def test_the_lineage_runs_from_the_raw_tables_to_the_serving_tables(ui, page):
    from dagster import AssetKey

    graph = _defs().resolve_asset_graph()
    chain = _upstream_path(graph, AssetKey(["serving", "recommendations"]), AssetKey(["raw", "events"]))
    assert len(chain) >= 4  # serving <- marts <- ... <- raw
    # A person follows the asset page's upstream links from the served table to the raw one.
    _open(page, ui, f"/assets/{chain[0].to_user_string()}")
    for parent in chain[1:]:
        page.locator(f"a[href='/assets/{parent.to_user_string()}']").first.click()
        page.wait_for_url(f"**/assets/{parent.to_user_string()}")
        page.wait_for_load_state("networkidle")
    _open(page, ui, "/assets/serving/recommendations?view=lineage&lineageScope=upstream&lineageDepth=2")
    page.get_by_text("positive_events", exact=True).first.wait_for()
    screenshot(page, "lineage_recommendations_upstream")


def test_an_asset_page_shows_its_row_count_and_metadata_and_its_plots_render(ui, page):
    from ecom_assets.resources import WarehouseResource

    rows = int(WarehouseResource(path=str(ui["warehouse"])).query("SELECT count(*) AS n FROM serving.recommendations")["n"][0])
    _open(page, ui, "/assets/serving/recommendations")
    page.get_by_text("Row count").first.wait_for()
    page.get_by_text(f"{rows:,}", exact=True).first.wait_for()
    for key in ("model_version", "strategy_mix", "reason_mix"):
        page.get_by_text(key, exact=True).first.wait_for()
    screenshot(page, "asset_recommendations")
    # An image plot in the metadata: the recommenders' offline metrics.
    _open(page, ui, "/assets/ml/recommendation_metrics")
    page.locator("tr").filter(has_text="ndcg_plot").first.get_by_text("Show Markdown").click()
    image = page.locator("img[src^='data:image/svg+xml']").first
    image.wait_for()
    assert image.evaluate("e => e.complete && e.naturalWidth > 0"), "the plot did not render"
    screenshot(page, "asset_plot")


def test_the_checks_tab_shows_the_blocking_checks(ui, page):
    from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS

    by_asset: dict[tuple, list[str]] = {}
    for spec in (s for d in [*ALL_ASSETS, *ALL_CHECKS] for s in getattr(d, "check_specs", [])):
        if spec.blocking and spec.asset_key.path[0] == "serving":
            by_asset.setdefault(tuple(spec.asset_key.path), []).append(spec.name)
    assert {("serving", "ad_copy"), ("serving", "recommendations")} <= set(by_asset), by_asset
    for asset, names in sorted(by_asset.items()):
        _open(page, ui, f"/assets/{'/'.join(asset)}?view=checks")
        for name in names:
            page.locator(f"[title='{name}']").first.click()  # the list shows long names middle-truncated, titled
            page.get_by_text("This is a blocking asset check.").first.wait_for()
            page.get_by_text(name, exact=True).filter(visible=True).first.wait_for()
        screenshot(page, f"checks_{asset[-1]}")


def test_the_automation_page_lists_sensors_and_schedules_with_their_default_states(ui, page):
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    defs = _defs()
    expected = {s.name: s.default_status == DefaultScheduleStatus.RUNNING for s in defs.schedules}
    expected.update({s.name: s.default_status == DefaultSensorStatus.RUNNING for s in defs.sensors})
    _open(page, ui, "/automation")
    for name, running in expected.items():
        row = page.locator("div[class*='ListItem_listItem']").filter(has=page.get_by_text(name, exact=True)).first
        row.wait_for()
        toggle = row.locator("input[type=checkbox]").last  # the first is the row's selection box
        assert toggle.is_checked() == running, f"{name}: shown {'on' if toggle.is_checked() else 'off'}"
    screenshot(page, "automation")


def test_materialising_serving_recommendations_from_the_ui_succeeds(ui, page):
    before = {r["runId"] for r in graphql(ui["base"], RUNS, {"limit": 50})["runsOrError"]["results"]}
    _open(page, ui, "/assets/serving/recommendations")
    page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$")).first.click()
    deadline = time.monotonic() + 60
    new = []
    while not new and time.monotonic() < deadline:
        new = [r for r in graphql(ui["base"], RUNS, {"limit": 50})["runsOrError"]["results"] if r["runId"] not in before]
        time.sleep(1)
    assert new, "clicking Materialize launched no run"
    run_id = new[0]["runId"]
    status = _wait_for_run(ui, run_id)
    _open(page, ui, f"/runs/{run_id}")
    page.get_by_text("Success", exact=False).first.wait_for()
    screenshot(page, "run_recommendations")
    assert status == "SUCCESS", f"run {run_id} ended {status}; see {ui['log']}"


def test_a_failed_run_appears_in_monitoring_alerts(ui, page):
    from ecom_assets.resources import WarehouseResource

    location = ui["location"]["name"]
    params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                           "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["serving", "recommendations"]}]},
              "runConfigData": {"ops": {"serving__recommendations": {"config": {"new_item_floor": 2.0}}}},
              "mode": "default"}
    launched = graphql(ui["base"], LAUNCH, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert _wait_for_run(ui, run_id) == "FAILURE"
    warehouse = WarehouseResource(path=str(ui["warehouse"]))
    deadline, alerts = time.monotonic() + 240, None
    while time.monotonic() < deadline:  # the run-failure sensor ticks, then its record_alert run writes the row
        try:
            alerts = warehouse.query("SELECT kind, job_name, message FROM monitoring.alerts WHERE run_id = ?", [run_id])
        except Exception:  # noqa: BLE001 - the warehouse is briefly locked while the alert run writes it
            alerts = None
        if alerts is not None and len(alerts):
            break
        time.sleep(3)
    assert alerts is not None and len(alerts), f"no row in monitoring.alerts for failed run {run_id}"
    assert alerts["kind"][0] == "run_failure" and alerts["job_name"][0] == "__ASSET_JOB"
    assert "new_item_floor" in alerts["message"][0], alerts["message"][0]  # the step's own error, not only its name
    _open(page, ui, "/runs")
    page.get_by_text(run_id[:8]).first.wait_for()
    screenshot(page, "runs_with_failure")


def _fonts_with_chinese() -> set[str]:
    import subprocess

    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


def test_the_storefront_preview_renders_chinese_and_shows_only_served_items(built, browser):
    from ecom_assets.resources import WarehouseResource

    pages = sorted((built["warehouse"].resolved_path.parent / "reports").glob("storefront_*.html"))
    assert pages, "no storefront preview was rendered"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(pages[-1].as_uri())
    cards = page.locator("section.shopper .card")
    assert cards.count() > 0
    # Every card shown is an item the serving table holds for that shopper.
    shown = page.evaluate("""() => [...document.querySelectorAll('section.shopper')].flatMap(s =>
        [...s.querySelectorAll('.card')].map(c => [s.dataset.user, c.dataset.item, s.dataset.language]))""")
    served = WarehouseResource(path=str(built["warehouse"].resolved_path)).query(
        "SELECT user_id, item_id FROM serving.recommendations")
    served = set(zip(served["user_id"], served["item_id"]))
    assert {(u, i) for u, i, _ in shown} <= served
    assert {lang for _, _, lang in shown} == {"zh", "en"}
    # No missing glyphs: the Chinese characters of each Chinese card are drawn by a font
    # that has Chinese (Chromium's own account of the fonts it used, over DevTools).
    chinese_fonts = _fonts_with_chinese()
    assert chinese_fonts, "no font with Chinese glyphs is installed (apt-get install fonts-wqy-microhei)"
    client = context.new_cdp_session(page)
    client.send("DOM.enable")
    client.send("CSS.enable")
    root = client.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = client.send("DOM.querySelectorAll", {"nodeId": root, "selector": "section[lang=zh] .card"})["nodeIds"]
    texts = page.locator("section[lang=zh] .card").all_inner_texts()
    assert len(nodes) == len(texts) > 0
    for node, text in zip(nodes, texts):
        cjk = len(re.findall(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", text))
        fonts = client.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        drawn = sum(f["glyphCount"] for f in fonts if f["familyName"] in chinese_fonts)
        assert drawn >= cjk, f"{cjk} Chinese characters but {drawn} drawn by a Chinese font ({fonts}): {text[:60]}"
    screenshot(page, "storefront_preview")
    context.close()
