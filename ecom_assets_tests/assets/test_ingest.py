"""Ingest assets through Dagster: metadata, checks, atomic partition replace, the inbox."""

import json
import shutil

from dagster import AssetKey, AssetSelection, RunRequest, SkipReason, build_sensor_context, materialize

from ecom_assets.assets.ingest import inbox, inbox_sensor
from ecom_assets.definitions import ALL_ASSETS, ALL_CHECKS
from ecom_assets_tests.conftest import FIXTURES, query

DAY = "2026-10-02"


def _materialize(resources, selection, **kwargs):
    return materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=resources, **kwargs)


def _failure_text(result) -> str:
    """The step failure's message with every cause in its chain."""
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def _events_of(resources, day):
    return query(resources, "SELECT count(*) AS n FROM raw.events WHERE CAST(event_time AS DATE) = ?", [day])["n"][0]


def test_snapshot_assets_report_counts_and_pass_their_checks(resources):
    result = _materialize(resources, AssetSelection.assets(AssetKey(["raw", "users"]), AssetKey(["raw", "support_tickets"])))
    assert result.success
    meta = result.asset_materializations_for_node("raw__users")[0].metadata
    assert meta["rows_read"].value == 300 == meta["rows_accepted"].value
    assert meta["accounting_balanced"].value is True
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {("users", "rows_accounted_for"): True, ("users", "user_ids_pseudonymised"): True,
                      ("support_tickets", "rows_accounted_for"): True, ("support_tickets", "user_ids_pseudonymised"): True}
    cols = set(query(resources, "SELECT * FROM raw.users LIMIT 0").columns)
    assert not {"name", "email", "phone"} & cols


def test_rematerialising_a_partition_replaces_exactly_that_day(resources):
    events = AssetSelection.assets(AssetKey(["raw", "events"]))
    assert _materialize(resources, events, partition_key=DAY).success
    assert _materialize(resources, events, partition_key="2026-10-03").success
    first = _events_of(resources, DAY)
    assert first > 0
    assert _materialize(resources, events, partition_key=DAY).success
    assert _events_of(resources, DAY) == first, "replaced, not appended"
    ledger = query(resources, "SELECT partition_key, count(*) AS n FROM raw.ingest_ledger GROUP BY 1 ORDER BY 1")
    assert ledger["partition_key"].tolist() == [DAY, "2026-10-03"] and ledger["n"].tolist() == [1, 1]


def test_a_partition_range_runs_as_one_backfill(resources):
    tags = {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-03"}
    result = _materialize(resources, AssetSelection.assets(AssetKey(["raw", "events"])), tags=tags)
    assert result.success
    assert query(resources, "SELECT count(DISTINCT CAST(event_time AS DATE)) AS n FROM raw.events")["n"][0] == 3


def test_a_failed_write_leaves_the_last_good_partition(resources, monkeypatch):
    events = AssetSelection.assets(AssetKey(["raw", "events"]))
    assert _materialize(resources, events, partition_key=DAY).success
    good = _events_of(resources, DAY)

    import ecom_assets.assets.ingest as ingest
    real_build = ingest.build_load

    def corrupted(*args, **kwargs):
        load = real_build(*args, **kwargs)
        load.accepted["event_time"] = "not a timestamp"  # the insert fails after the delete
        return load

    monkeypatch.setattr(ingest, "build_load", corrupted)
    result = _materialize(resources, events, partition_key=DAY, raise_on_error=False)
    assert not result.success
    assert _events_of(resources, DAY) == good


def test_inbox_ingests_a_file_once(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci.csv")
    first = _materialize(resources, AssetSelection.assets(inbox))
    meta = first.asset_materializations_for_node("inbox")
    events_meta = next(m.metadata for m in meta if m.asset_key == AssetKey(["raw", "inbox_events"]))
    assert events_meta["files_ingested"].value == 1
    assert (events_meta["rows_read"].value, events_meta["rows_accepted"].value, events_meta["rows_quarantined"].value) == (11, 4, 7)
    assert all(e.passed for e in first.get_asset_check_evaluations())

    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci_again.csv")
    second = _materialize(resources, AssetSelection.assets(inbox))
    events_meta = next(m.metadata for m in second.asset_materializations_for_node("inbox")
                       if m.asset_key == AssetKey(["raw", "inbox_events"]))
    assert events_meta["files_ingested"].value == 0 and events_meta["files_skipped_already_ingested"].value == 2
    assert query(resources, "SELECT count(*) AS n FROM raw.inbox_events")["n"][0] == 4
    assert query(resources, "SELECT count(*) AS n FROM raw.quarantine")["n"][0] == 7


def test_an_unreadable_file_fails_the_run_naming_it_and_changes_nothing(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "a_good.csv")
    (inbox_dir / "b_broken.jsonl").write_text("this is not json\n")
    result = _materialize(resources, AssetSelection.assets(inbox), raise_on_error=False)
    assert not result.success
    assert "b_broken.jsonl: no line is a JSON object" in _failure_text(result)
    assert not resources["warehouse"].resolved_path.exists() or \
        query(resources, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'inbox_events'")["n"][0] == 0


def test_a_file_that_fits_no_mapping_is_refused_with_the_known_mappings(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "odd.csv").write_text("a,b\n1,2\n")
    result = _materialize(resources, AssetSelection.assets(inbox), raise_on_error=False)
    message = _failure_text(result)
    assert "odd.csv" in message and "uci_online_retail" in message


def test_inbox_sensor_requests_a_run_for_new_files_only(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    context = build_sensor_context(resources={"source": resources["source"]})
    assert isinstance(inbox_sensor(context), SkipReason)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci.csv")
    request = inbox_sensor(context)
    assert isinstance(request, RunRequest)
    files = request.run_config["ops"]["inbox"]["config"]["files"]
    assert [f.split("/")[-1] for f in files] == ["uci.csv"]
    assert isinstance(inbox_sensor(build_sensor_context(cursor=context.cursor, resources={"source": resources["source"]})), SkipReason)
    # the run config the sensor produces is accepted by the inbox asset
    result = _materialize(resources, AssetSelection.assets(inbox), run_config=request.run_config)
    assert result.success


def test_dbt_assets_report_row_counts_and_mart_previews(tmp_path):
    from ecom_assets.demo import run_pipeline
    from ecom_assets_tests.conftest import make_resources

    res = make_resources(tmp_path, n_days=3, n_users=80, n_items=40, events_per_day=300)
    report = run_pipeline(res, log=lambda _: None, stages=("snapshots", "events", "inbox", "features"))
    features = report["features"]["metadata"]
    assert features["marts/user_features"]["dagster/row_count"] >= 80
    assert features["staging/stg_events"]["dagster/row_count"] == \
        query(res, "SELECT count(*) AS n FROM raw.events")["n"][0]


def test_a_merchant_mapping_file_maps_and_recodes_columns(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "mapping.json").write_text(json.dumps({
        "columns": {"id": "event_id", "ts": "event_time", "customer": "user_id", "sku": "item_id", "action": "event_type"},
        "values": {"event_type": {"pv": "view", "buy": "purchase"}},
    }))
    (inbox_dir / "export.csv").write_text("id,ts,customer,sku,action,email\n"
                                          "1,2026-10-05 10:00:00,c-9,S1,pv,a@b.com\n"
                                          "2,2026-10-05 10:01:00,c-9,S1,buy,a@b.com\n"
                                          "3,2026-10-05 10:02:00,c-9,S1,like,a@b.com\n")
    assert _materialize(resources, AssetSelection.assets(inbox)).success
    rows = query(resources, "SELECT event_type, user_id FROM raw.inbox_events ORDER BY event_id")
    assert rows["event_type"].tolist() == ["view", "purchase"]
    assert rows["user_id"].str.startswith("u_").all()
    q = query(resources, "SELECT reason, raw_record FROM raw.quarantine")
    assert "unknown value 'like'" in q["reason"][0]
    assert "a@b.com" not in q["raw_record"][0], "the e-mail column never lands, not even in quarantine"


def test_a_broken_mapping_file_is_named_with_the_bad_field(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "mapping.json").write_text(json.dumps({"columns": {"ts": "when"}}))
    (inbox_dir / "export.csv").write_text("ts\n1\n")
    result = _materialize(resources, AssetSelection.assets(inbox), raise_on_error=False)
    text = _failure_text(result)
    assert "mapping.json" in text and "unknown canonical field(s) ['when']" in text
