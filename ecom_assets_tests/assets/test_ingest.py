"""Ingest assets through Dagster: metadata, checks, atomic partition replace, the inbox."""

import json
import shutil

from dagster import AssetKey, AssetSelection, DagsterInstance, RunRequest, SkipReason, build_sensor_context, materialize

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
    assert (events_meta["rows_read"].value, events_meta["rows_accepted"].value, events_meta["rows_quarantined"].value) == (11, 3, 8)
    assert all(e.passed for e in first.get_asset_check_evaluations())

    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci_again.csv")
    second = _materialize(resources, AssetSelection.assets(inbox))
    events_meta = next(m.metadata for m in second.asset_materializations_for_node("inbox")
                       if m.asset_key == AssetKey(["raw", "inbox_events"]))
    assert events_meta["files_ingested"].value == 0 and events_meta["files_skipped_already_ingested"].value == 2
    assert query(resources, "SELECT count(*) AS n FROM raw.inbox_events")["n"][0] == 3
    assert query(resources, "SELECT count(*) AS n FROM raw.quarantine")["n"][0] == 8


def _refusals(resources) -> dict[str, str]:
    rows = query(resources, "SELECT file, reason FROM raw.inbox_refusals")
    return dict(zip(rows["file"], rows["reason"]))


def _check(result, name):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_an_unreadable_file_is_refused_by_name_and_the_good_files_still_land(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "a_good.csv")
    (inbox_dir / "b_broken.jsonl").write_text("this is not json\n")
    result = _materialize(resources, AssetSelection.assets(inbox))
    assert "b_broken.jsonl: no line is a JSON object" in _refusals(resources)["events/b_broken.jsonl"]
    ledger = query(resources, "SELECT source_file FROM raw.ingest_ledger")
    assert ledger["source_file"].tolist() == ["events/a_good.csv"], "the broken file changed nothing"
    check = _check(result, "every_inbox_file_read")
    assert not check.passed and "b_broken.jsonl" in check.metadata["details"].value


def test_a_file_that_fits_no_mapping_is_refused_with_the_known_mappings(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "odd.csv").write_text("a,b\n1,2\n")
    _materialize(resources, AssetSelection.assets(inbox))
    message = _refusals(resources)["events/odd.csv"]
    assert "odd.csv" in message and "uci_online_retail" in message


def test_inbox_sensor_requests_settled_files_not_yet_loaded(resources, monkeypatch):
    import ecom_assets.assets.ingest as ingest

    monkeypatch.setattr(ingest, "INBOX_SETTLE_S", 0.0)
    sensor_resources = {"source": resources["source"], "warehouse": resources["warehouse"]}
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    context = build_sensor_context(resources=sensor_resources, instance=DagsterInstance.ephemeral())
    assert isinstance(inbox_sensor(context), SkipReason)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci.csv")
    (inbox_dir / "big.csv.part").write_text("still being copied")
    first_sight = inbox_sensor(context)
    assert isinstance(first_sight, SkipReason), "a file is requested only once it looked the same twice"
    request = inbox_sensor(context)
    assert isinstance(request, RunRequest)
    files = request.run_config["ops"]["inbox"]["config"]["files"]
    assert [f.split("/")[-1] for f in files] == ["uci.csv"], "temporary names are never read"
    # the run config the sensor produces is accepted by the inbox asset; then the file is known
    result = _materialize(resources, AssetSelection.assets(inbox), run_config=request.run_config)
    assert result.success
    again = inbox_sensor(context)
    assert isinstance(again, SkipReason) and "already loaded" in again.skip_message


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
    _materialize(resources, AssetSelection.assets(inbox))
    text = _refusals(resources)["events/export.csv"]
    assert "mapping.json" in text and "unknown canonical field(s) ['when']" in text


def _inbox_events_meta(result):
    return next(m.metadata for m in result.asset_materializations_for_node("inbox")
                if m.asset_key == AssetKey(["raw", "inbox_events"]))


HEADER = "event_id,event_time,user_id,event_type,item_id\n"


def test_a_file_changed_in_place_replaces_its_earlier_load(resources):
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    path = inbox_dir / "daily.csv"
    path.write_text(HEADER + "a1,2026-10-05 10:00:00,c1,view,i1\na2,2026-10-05 10:01:00,c1,view,i2\n")
    assert _materialize(resources, AssetSelection.assets(inbox)).success
    with open(path, "a") as fh:  # the exporter appends the afternoon's rows to the same file
        fh.write("a3,2026-10-05 15:00:00,c2,view,i3\n")
    assert _materialize(resources, AssetSelection.assets(inbox)).success
    assert query(resources, "SELECT count(*) AS n FROM raw.inbox_events")["n"][0] == 3, "not 5: no row twice"
    ledger = query(resources, "SELECT source_file, rows_read FROM raw.ingest_ledger")
    assert ledger.values.tolist() == [["events/daily.csv", 3]]
    assert query(resources, "SELECT count(*) AS n FROM raw.quarantine")["n"][0] == 0


def test_switching_the_source_kind_removes_the_other_kinds_events(resources, tmp_path):
    from ecom_assets_tests.conftest import make_resources

    events = AssetSelection.assets(AssetKey(["raw", "events"]))
    assert _materialize(resources, events, partition_key=DAY).success
    assert _events_of(resources, DAY) > 0
    switched = make_resources(tmp_path, kind="inbox_only")
    assert _materialize(switched, events, partition_key="2026-10-03").success
    assert query(resources, "SELECT count(*) AS n FROM raw.events")["n"][0] == 0
    assert query(resources, "SELECT DISTINCT source FROM raw.ingest_ledger")["source"].tolist() == ["inbox_only"]


def test_the_sensor_retries_a_file_whose_run_failed_three_times_then_says_so(resources, monkeypatch):
    import ecom_assets.assets.ingest as ingest

    monkeypatch.setattr(ingest, "INBOX_SETTLE_S", 0.0)
    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "a.csv").write_text(HEADER + "r1,2026-10-05 10:00:00,c1,view,i1\n")
    context = build_sensor_context(resources={"source": resources["source"], "warehouse": resources["warehouse"]},
                                   instance=DagsterInstance.ephemeral())
    assert isinstance(inbox_sensor(context), SkipReason)  # first sight
    keys = [inbox_sensor(context).run_key for _ in range(3)]  # each run "failed": the file is still not in the ledger
    assert len(set(keys)) == 3 and keys[0].endswith(".1") and keys[2].endswith(".3")
    final = inbox_sensor(context)
    assert isinstance(final, SkipReason) and "failed 3 runs in a row" in final.skip_message


def test_retract_load_removes_a_file_keeps_it_out_and_requests_the_rebuild(resources):
    from dagster import DagsterRunStatus, build_run_status_sensor_context

    from ecom_assets.assets.ingest import retraction_follow_up
    from ecom_assets.definitions import defs

    inbox_dir = resources["source"].resolved_inbox_dir / "events"
    inbox_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "uci_online_retail_small.csv", inbox_dir / "uci.csv")
    (inbox_dir / "other.csv").write_text(HEADER + "o1,2026-10-05 10:00:00,c1,view,i1\n")
    assert _materialize(resources, AssetSelection.assets(inbox)).success
    instance = DagsterInstance.ephemeral()
    job = defs.get_job_def("retract_load")
    result = job.execute_in_process(run_config={"ops": {"retract": {"config": {"source_file": "events/uci.csv"}}}},
                                    resources=resources, instance=instance)
    assert result.success
    assert query(resources, "SELECT source_file FROM raw.ingest_ledger")["source_file"].tolist() == ["events/other.csv"]
    assert query(resources, "SELECT count(*) AS n FROM raw.quarantine")["n"][0] == 0
    again = _inbox_events_meta(_materialize(resources, AssetSelection.assets(inbox)))
    assert again["files_ingested"].value == 0, "a retracted file still in the inbox is not ingested again"
    context = build_run_status_sensor_context(sensor_name="retraction_follow_up", dagster_instance=instance,
                                              dagster_run=result.dagster_run,
                                              dagster_event=next(e for e in result.all_events
                                                                 if e.event_type_value == "PIPELINE_SUCCESS"))
    request = retraction_follow_up(context)
    assert request.run_key == f"refresh-after-{result.run_id}"
    assert result.dagster_run.status == DagsterRunStatus.SUCCESS
    bad = job.execute_in_process(run_config={"ops": {"retract": {"config": {"load_id": "file:nothing"}}}},
                                 resources=resources, raise_on_error=False)
    assert not bad.success


def test_the_newest_delivery_of_a_product_wins_by_load_time_not_row_number(tmp_path):
    from ecom_assets.demo import run_pipeline
    from ecom_assets_tests.conftest import make_resources

    res = make_resources(tmp_path, n_days=2, n_users=60, n_items=30, events_per_day=200)
    inbox_dir = res["source"].resolved_inbox_dir / "products"
    inbox_dir.mkdir(parents=True)
    filler = "".join(f"X{i},Filler {i},1.0\n" for i in range(500))
    (inbox_dir / "b_monday.csv").write_text("item_id,title_en,price\n" + filler + "P-LAMP,Desk lamp,30.0\n")
    assert _materialize(res, AssetSelection.assets(inbox)).success
    (inbox_dir / "a_tuesday.csv").write_text("item_id,title_en,price\nP-LAMP,Desk lamp,24.0\n")
    run_pipeline(res, log=lambda _: None, stages=("snapshots", "events", "inbox", "features"))
    price = query(res, "SELECT price FROM staging.stg_products WHERE item_id = 'P-LAMP'")["price"].tolist()
    assert price == [24.0], "Tuesday's file beats Monday's row 501"
