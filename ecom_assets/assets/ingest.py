"""Ingest group: raw tables in DuckDB schema `raw`, fed by the configured data source
and by files dropped in the inbox. Every load goes through privacy -> mapping ->
validation and lands atomically with its quarantine rows and a ledger entry."""


import json
import os
import time
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Config,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    job,
    multi_asset,
    op,
    run_status_sensor,
    sensor,
)

from ecom_assets.assets.metadata import counts_table, preview
from ecom_assets.deployment import compute_for
from ecom_assets.ingestion import build_load
from ecom_assets.resources import PrivacyResource, ShopDataSource, WarehouseResource
from ecom_assets.run_health import IN_PROGRESS
from ecom_assets.schema import ENTITIES, FREE_TEXT_FIELDS, SCHEMAS
from ecom_assets.sources.inbox import (
    MAPPING_FILE,
    InboxFileError,
    describe_columns,
    list_inbox_files,
    new_inbox_files,
    read_inbox_file,
    sha256_of,
    unrecognised_inbox_files,
)
from ecom_assets.sources.mappings import MAPPINGS, MappingSpecError, detect_mapping, mapping_from_spec
from ecom_assets.warehouse import (
    LEDGER_TABLE,
    Load,
    UnknownLoad,
    accounting_mismatches,
    known_file_hashes,
    loads_of_file,
    open_refusals,
    retracted_hashes,
    table_exists,
)

# Daily event partitions start with the demo shop; the demo materialises its first
# `n_days` days, schedules and backfills can add any later day.
EVENTS_START_DATE = "2026-10-01"
EVENTS_PARTITIONS = DailyPartitionsDefinition(start_date=EVENTS_START_DATE)
GROUP = "ingest"
POOL = "warehouse"  # one DuckDB writer at a time

RAW_TABLES = {entity: f"raw.{entity}" for entity in ENTITIES}
# Entities the configured source feeds directly (an asset each); impressions come in through
# the inbox until the demo shop responds to what it is shown.
SOURCE_ENTITIES = ("events", "products", "users", "support_tickets", "faq")
INBOX_TABLES = {entity: f"raw.inbox_{entity}" for entity in ENTITIES}


def _empty(entity: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SCHEMAS[entity].columns})


def _first_reason(quarantine: pd.DataFrame) -> pd.Series:
    return quarantine["reason"].str.split(";").str[0].str.replace(r" '.*$", "", regex=True)


class LoadTally:
    """Counts of what a run loaded, without holding on to the loaded frames."""

    def __init__(self):
        self.read = self.accepted = self.quarantined = 0
        self.reasons = pd.Series(dtype="int64")
        self.preview: pd.DataFrame | None = None
        self.seconds: dict[str, float] = {}

    def add(self, load: Load) -> None:
        self.read += load.rows_read
        self.accepted += len(load.accepted)
        self.quarantined += len(load.quarantine)
        if len(load.quarantine):
            self.reasons = self.reasons.add(_first_reason(load.quarantine).value_counts(), fill_value=0).astype("int64")
        if self.preview is None and len(load.accepted):
            # Free text stays out of the event log, scrubbed or not: a preview shows the shape, not what customers wrote.
            hidden = ["_source_row", *FREE_TEXT_FIELDS.get(load.schema.name, ())]
            self.preview = load.accepted.head(5).drop(columns=[c for c in hidden if c in load.accepted.columns])

    def timed(self, step: str, started: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started

    def metadata(self, key_origin: str | None = None) -> dict:
        meta = {
            "rows_read": self.read,
            "rows_accepted": self.accepted,
            "rows_quarantined": self.quarantined,
            "accounting_balanced": self.read == self.accepted + self.quarantined,
            "quarantine_reasons": counts_table(self.reasons.sort_values(ascending=False), "reason"),
            "preview": preview(self.preview if self.preview is not None else pd.DataFrame()),
            **{f"seconds_{k}": round(v, 3) for k, v in self.seconds.items()},
        }
        if key_origin is not None:
            meta["pseudonym_key"] = "environment" if key_origin == "env" else "local key file"
        return meta


def _snapshot_asset(entity: str, context: AssetExecutionContext, source: ShopDataSource,
                    warehouse: WarehouseResource, privacy: PrivacyResource) -> MaterializeResult:
    """Replace raw.<entity> with the source's current snapshot (products, users, tickets)."""
    tally = LoadTally()
    t0 = time.perf_counter()
    shop = source.shop
    frame = getattr(shop, entity)() if shop is not None else _empty(entity)
    tally.timed("generate", t0)
    key = privacy.key()
    t0 = time.perf_counter()
    load = build_load(
        frame, mapping=MAPPINGS[f"canonical_{entity}"], key=key.key, table=RAW_TABLES[entity],
        load_id=f"{source.kind}:{entity}", source=source.kind, run_id=context.run_id,
    )
    tally.timed("validate", t0)
    t0 = time.perf_counter()
    warehouse.raw_store().write_loads([load], replace_table=True)
    tally.timed("write", t0)
    tally.add(load)
    return MaterializeResult(metadata={"table": RAW_TABLES[entity], **tally.metadata(key.origin)})


SNAPSHOT_DESCRIPTIONS = {
    "products": "Product catalogue (bilingual titles and descriptions, category, brand, price, discount, stock).",
    "users": "Customers with pseudonymised ids; names, e-mails and phones are dropped at the door.",
    "support_tickets": "Customer-service log: questions (e-mails and phone numbers scrubbed), answers, intents.",
    "faq": "The knowledge base: one canonical answer per answer id and language (the merchant's own text).",
}


def _snapshot_asset_def(entity: str):
    @asset(key=["raw", entity], group_name=GROUP, kinds={"duckdb", "python"}, pool=POOL,
           description=SNAPSHOT_DESCRIPTIONS[entity])
    def _snapshot(context: AssetExecutionContext, source: ShopDataSource, warehouse: WarehouseResource,
                  privacy: PrivacyResource) -> MaterializeResult:
        return _snapshot_asset(entity, context, source, warehouse, privacy)

    return _snapshot


raw_products, raw_users, raw_support_tickets, raw_faq = (_snapshot_asset_def(e) for e in SNAPSHOT_DESCRIPTIONS)


@asset(key=["raw", "events"], group_name=GROUP, kinds={"duckdb", "python"}, **compute_for("raw/events", POOL),
       partitions_def=EVENTS_PARTITIONS, backfill_policy=BackfillPolicy.single_run(),
       description="Behaviour events (view, click, add_to_cart, purchase, ...), one partition per day. "
                   "Re-materialising a day replaces exactly that day, atomically.")
def raw_events(context: AssetExecutionContext, source: ShopDataSource, warehouse: WarehouseResource,
               privacy: PrivacyResource) -> MaterializeResult:
    key = privacy.key()
    shop = source.shop
    tally = LoadTally()
    days = context.partition_keys
    # raw.events holds one source kind: switching kinds removes the other kind's days
    # (with the first day written, in its transaction), instead of mixing two shops.
    with warehouse.connect() as con:
        other_kind = [] if not table_exists(con, LEDGER_TABLE) else [r[0] for r in con.execute(
            f"SELECT load_id FROM {LEDGER_TABLE} WHERE target_table = ? AND source != ?",
            [RAW_TABLES["events"], source.kind]).fetchall()]
    if other_kind:
        context.log.warning(f"source kind is now {source.kind!r}: removing {len(other_kind)} day(s) of events of another kind")
    for day in days:
        t0 = time.perf_counter()
        frame = shop.events_for_day(day) if shop is not None else _empty("events")
        tally.timed("generate", t0)
        t0 = time.perf_counter()
        load = build_load(
            frame, mapping=MAPPINGS["canonical_events"], key=key.key, table=RAW_TABLES["events"],
            load_id=f"{source.kind}:events:{day}", source=source.kind, partition_key=day, run_id=context.run_id,
            supersedes=tuple(other_kind),
        )
        other_kind = []
        tally.timed("validate", t0)
        t0 = time.perf_counter()
        # one commit per day: each partition lands whole or not at all
        warehouse.raw_store().write_loads([load])
        tally.timed("write", t0)
        tally.add(load)
        context.log.info(f"events {day}: {load.rows_read} read, {len(load.accepted)} accepted, {len(load.quarantine)} quarantined")
        # One day's rows at a time: the next day is generated after this one is released.
        del frame, load
    return MaterializeResult(metadata={"table": RAW_TABLES["events"], "days": len(days), **tally.metadata(key.origin)})


# ------------------------------------------------------------------------ inbox
class InboxConfig(Config):
    files: list[str] = []
    """Files to ingest (the sensor fills this in); empty means every file in the inbox."""
    mapping: str = "auto"
    """A mapping name (see ecom_assets.sources.mappings.MAPPINGS) or "auto" to detect it from the columns."""


INBOX_SPECS = [
    AssetSpec(["raw", f"inbox_{entity}"], group_name=GROUP, kinds={"duckdb", "file"},
              description=f"{entity.replace('_', ' ').capitalize()} from files dropped in the inbox folder "
                          f"`{entity}/` (CSV, Parquet or JSONL), one ledger entry per file content.")
    for entity in ENTITIES
]


def _plan_inbox(config: InboxConfig, inbox_dir: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """(files to read, files refused before reading with why)."""
    if not config.files:
        return list_inbox_files(inbox_dir), []
    planned, refused = [], []
    for name in config.files:
        path = Path(name)
        shown = f"{path.parent.name}/{path.name}"  # as the ledger names files
        if not path.is_file():
            refused.append((shown, "file not found (moved or deleted after it was requested)"))
        elif path.parent.name not in ENTITIES:
            refused.append((shown, f"put inbox files in a folder named after their entity, one of {', '.join(ENTITIES)}"))
        else:
            planned.append((path.parent.name, path))
    return planned, refused


def _folder_mapping(inbox_dir: Path, entity: str):
    """The merchant-written mapping (<inbox>/<entity>/mapping.json), if there is one."""
    spec_path = inbox_dir / entity / MAPPING_FILE
    if not spec_path.exists():
        return None
    try:
        return mapping_from_spec(entity, json.loads(spec_path.read_text(encoding="utf-8")), name=f"custom_{entity}")
    except (json.JSONDecodeError, UnicodeDecodeError, MappingSpecError) as exc:
        raise InboxFileError(f"{spec_path}: {exc}") from exc


KNOWN_COLUMNS = {c for m in MAPPINGS.values() for c in m.source_columns} | {c for s in SCHEMAS.values() for c in s.columns}


def _load_file(entity: str, path: Path, digest: str, config: InboxConfig, inbox_dir: Path, key: bytes, run_id: str,
               earlier: dict[str, str]) -> Load:
    """One file to one Load, or InboxFileError naming the file. `earlier` maps a source
    file to the load id of its previous content: a file changed in place supersedes it."""
    mapping = MAPPINGS.get(config.mapping) if config.mapping != "auto" else _folder_mapping(inbox_dir, entity)
    parsed = read_inbox_file(path)
    columns = list(parsed.frame.columns)
    if mapping is None and config.mapping == "auto":
        mapping = detect_mapping(entity, columns)
    if mapping is None or mapping.entity != entity or not mapping.matches(columns):
        known = "; ".join(f"{m.name}: {', '.join(m.required_columns)}" for m in MAPPINGS.values() if m.entity == entity)
        raise InboxFileError(f"{path}: no column mapping for {entity} fits its columns ({describe_columns(columns, KNOWN_COLUMNS)}). "
                             f"Known mappings and the columns they need: {known}")
    source_file = f"{entity}/{path.name}"
    load_id = f"file:{digest[:20]}"
    return build_load(
        parsed.frame, mapping=mapping, key=key, table=INBOX_TABLES[entity], load_id=load_id,
        source=f"inbox:{mapping.name}", row_numbers=parsed.row_numbers, unparsed=parsed.unparsed,
        source_file=source_file, sha256=digest, run_id=run_id,
        supersedes=tuple(x for x in [earlier.get(source_file)] if x and x != load_id),
    )


@multi_asset(specs=INBOX_SPECS, name="inbox", pool=POOL,
             description="Ingest new files from the inbox: map columns, pseudonymise, validate, quarantine. "
                         "Files already in the ledger (same content hash) are skipped; a file changed in place replaces "
                         "its earlier load; a file that cannot be read is refused with its reason and changes nothing.")
def inbox(context: AssetExecutionContext, config: InboxConfig, source: ShopDataSource,
          warehouse: WarehouseResource, privacy: PrivacyResource):
    inbox_dir = source.resolved_inbox_dir
    planned, refused = _plan_inbox(config, inbox_dir)
    store = warehouse.raw_store()
    # the tables exist even before the first file, for dbt
    store.ensure_tables({INBOX_TABLES[entity]: SCHEMAS[entity] for entity in ENTITIES})
    with warehouse.connect(read_only=True) as con:
        done = {r[0] for r in con.execute(f"SELECT sha256 FROM {LEDGER_TABLE} WHERE sha256 IS NOT NULL").fetchall()}
        retracted = retracted_hashes(con)
        earlier = dict(con.execute(f"SELECT source_file, load_id FROM {LEDGER_TABLE} WHERE source_file IS NOT NULL "
                                   "AND load_id LIKE 'file:%'").fetchall())
    key = privacy.key()
    loads: dict[str, list[Load]] = {e: [] for e in ENTITIES}
    skipped: dict[str, list[str]] = {e: [] for e in ENTITIES}
    refusals = [dict(file=f, sha256=None, reason=why) for f, why in refused]
    # Each file is read and validated on its own: one unreadable file is refused with its
    # name and reason (and changes nothing), the others still land.
    for entity, path in planned:
        try:
            digest = sha256_of(path)
        except OSError as exc:
            refusals.append(dict(file=f"{entity}/{path.name}", sha256=None, reason=f"cannot read the file: {exc.strerror}"))
            continue
        if digest in done:
            skipped[entity].append(path.name)
            continue
        if digest in retracted:  # retracted on purpose: stays out until its content changes
            context.log.info(f"{entity}/{path.name}: retracted earlier (raw.retractions); not ingested again")
            skipped[entity].append(path.name)
            continue
        done.add(digest)
        try:
            load = _load_file(entity, path, digest, config, inbox_dir, key.key, context.run_id, earlier)
        except InboxFileError as exc:
            refusals.append(dict(file=f"{entity}/{path.name}", sha256=digest, reason=str(exc)))
            context.log.warning(f"refused {entity}/{path.name}: {exc}")
            continue
        loads[entity].append(load)
        context.log.info(f"{path.name}: mapping {load.mapping}, {load.rows_read} rows read"
                         + (" (replaces the file's earlier content)" if load.supersedes else ""))
    not_read = unrecognised_inbox_files(inbox_dir)
    store.write_loads([ld for batch in loads.values() for ld in batch])
    store.record_refusals(refusals, context.run_id)
    for file, why in not_read:
        context.log.warning(f"not read: {file}: {why}")
    for entity in ENTITIES:
        tally = LoadTally()
        for load in loads[entity]:
            tally.add(load)
        files = pd.DataFrame([dict(file=ld.source_file, mapping=ld.mapping, read=ld.rows_read, accepted=len(ld.accepted),
                                   quarantined=len(ld.quarantine)) for ld in loads[entity]])
        mine = [r for r in refusals if r["file"].startswith(f"{entity}/")] + \
               [dict(file=f, reason=w) for f, w in not_read if f.startswith(f"{entity}/")]
        yield MaterializeResult(
            asset_key=AssetKey(["raw", f"inbox_{entity}"]),
            metadata={
                "table": INBOX_TABLES[entity],
                "files_ingested": len(loads[entity]),
                "files_skipped_already_ingested": len(skipped[entity]),
                "files_refused": len(mine),
                "files": MetadataValue.md(files.to_markdown(index=False) if len(files) else "_(no new files)_"),
                "refused": MetadataValue.md(pd.DataFrame(mine)[["file", "reason"]].to_markdown(index=False) if mine else "_(none)_"),
                **tally.metadata(),
            },
        )


inbox_job = define_asset_job(
    "inbox_job",
    selection=AssetSelection.assets(inbox).downstream(),
    description="Ingest new inbox files and refresh everything downstream of them.",
)
INBOX_SETTLE_S = float(os.environ.get("ECOM_INBOX_SETTLE_S", "10"))
INBOX_MAX_ATTEMPTS = 3


@sensor(job=inbox_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Watches the inbox folders; files that stopped changing and whose content is neither loaded nor "
                    "refused start an ingestion run (one at a time; a run that failed is retried up to 3 times).")
def inbox_sensor(context: SensorEvaluationContext, source: ShopDataSource, warehouse: WarehouseResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    ready, files = new_inbox_files(source.resolved_inbox_dir, cursor.get("files", {}), settle_s=INBOX_SETTLE_S)
    attempts: dict[str, int] = cursor.get("attempts", {})
    context.update_cursor(json.dumps({"files": files, "attempts": attempts}))
    if not ready:
        return SkipReason(f"no settled new files in {source.resolved_inbox_dir.name}/")
    try:
        known = known_file_hashes(warehouse.resolved_path)
    except Exception as exc:  # locked by a writer, or not created yet
        return SkipReason(f"cannot read the ingest ledger now ({type(exc).__name__}); trying again next tick")
    pending = {f["sha256"]: f for f in ready if f["sha256"] not in known}
    if not pending:
        return SkipReason("every settled file is already loaded or refused")
    in_flight = context.instance.get_runs(filters=RunsFilter(job_name=inbox_job.name, statuses=IN_PROGRESS), limit=1)
    if in_flight:
        return SkipReason(f"waiting for inbox run {in_flight[0].run_id[:8]} to finish before requesting more")
    given_up = sorted(sha for sha in pending if attempts.get(sha, 0) >= INBOX_MAX_ATTEMPTS)
    for sha in given_up:
        pending.pop(sha)
    if not pending:
        return SkipReason(f"{len(given_up)} file(s) failed {INBOX_MAX_ATTEMPTS} runs in a row; see the failed inbox runs")
    for sha in pending:
        attempts[sha] = attempts.get(sha, 0) + 1
    context.update_cursor(json.dumps({"files": files, "attempts": attempts}))
    shas = sorted(pending)
    return RunRequest(
        run_key=",".join(f"{sha[:16]}.{attempts[sha]}" for sha in shas),
        run_config={"ops": {"inbox": {"config": {"files": [pending[sha]["path"] for sha in shas]}}}},
        tags={"ecom/inbox_files": str(len(shas))},
    )


# ------------------------------------------------------------------ retraction
class RetractConfig(Config):
    load_id: str = ""
    """A load_id of raw.ingest_ledger (a file's is file:<hash prefix>, a day's <source>:events:<day>)."""
    source_file: str = ""
    """Or an inbox file as the ledger names it, e.g. events/orders_2026-10.csv (every load of it)."""
    reason: str = "retracted by an operator"


@op(pool=POOL, description="Removes one load (a file or a partition) from the raw tables, its quarantined rows and "
                           "ledger entry included, and records it in raw.retractions; the follow-up run rebuilds "
                           "everything derived from the raw tables.")
def retract(context: OpExecutionContext, config: RetractConfig, warehouse: WarehouseResource) -> None:
    if bool(config.load_id) == bool(config.source_file):
        raise Failure("retract_load needs exactly one of load_id or source_file")
    with warehouse.connect(read_only=True) as con:
        load_ids = [config.load_id] if config.load_id else loads_of_file(con, config.source_file)
    if not load_ids:
        raise Failure(f"no load of {config.source_file!r} in {LEDGER_TABLE}")
    try:
        out = warehouse.raw_store().retract_loads(load_ids, config.reason, context.run_id)
    except UnknownLoad as exc:
        raise Failure(str(exc)) from exc
    for row in out.itertuples():
        context.log.info(f"retracted {row.load_id} ({row.source_file or row.target_table}): {row.rows_removed} rows removed")


@job(name="retract_load", tags={"ecom/retraction": "true"},
     description="Remove one load (an inbox file or an event partition) and everything derived from it: the raw rows "
                 "go now, and the retraction_follow_up sensor re-runs every asset downstream of the raw tables.")
def retract_load_job():
    retract()


REFRESH_AFTER_RETRACTION = AssetSelection.assets(inbox, raw_events, raw_products, raw_users, raw_support_tickets, raw_faq) \
    .downstream(include_self=False)
refresh_after_retraction = define_asset_job(
    "refresh_after_retraction", selection=REFRESH_AFTER_RETRACTION,
    description="Everything downstream of the raw tables, rebuilt after a retraction.")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[retract_load_job], name="retraction_follow_up",
                   request_job=refresh_after_retraction, default_status=DefaultSensorStatus.RUNNING,
                   description="After a successful retract_load run, rebuilds everything derived from the raw tables.")
def retraction_follow_up(context: RunStatusSensorContext):
    return RunRequest(run_key=f"refresh-after-{context.dagster_run.run_id}",
                      tags={"ecom/after_retraction": context.dagster_run.run_id})


# ----------------------------------------------------------------------- checks
def accounting_check(asset_key: list[str], table: str):
    @asset_check(asset=AssetKey(asset_key), name="rows_accounted_for", blocking=True,
                 description="For every load (file or partition): rows read = accepted + quarantined, "
                             "and both counts match what is stored.")
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            if not table_exists(con, table):
                return AssetCheckResult(passed=False, description=f"{table} does not exist")
            bad = accounting_mismatches(con, table)
            read, accepted, quarantined, n_loads = con.execute(
                f"SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
                f"coalesce(sum(rows_quarantined), 0), count(*) FROM {LEDGER_TABLE} WHERE target_table = ?", [table]
            ).fetchone()
        return AssetCheckResult(
            passed=bad.empty,
            metadata={"loads": n_loads, "rows_read": int(read), "rows_accepted": int(accepted),
                      "rows_quarantined": int(quarantined), "unbalanced_loads": len(bad),
                      "details": preview(bad, rows=10)},
        )

    return _check


def pseudonym_check(asset_key: list[str], table: str):
    @asset_check(asset=AssetKey(asset_key), name="user_ids_pseudonymised", blocking=True,
                 description="Every user_id is a keyed pseudonym (u_ + 24 hex), never a raw identifier.")
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            bad = con.execute(
                f"SELECT count(*) FROM {table} WHERE user_id IS NOT NULL "
                f"AND NOT regexp_full_match(user_id, '^u_[0-9a-f]{{24}}$')"
            ).fetchone()[0]
        return AssetCheckResult(passed=bad == 0, severity=AssetCheckSeverity.ERROR, metadata={"raw_looking_ids": int(bad)})

    return _check


@asset_check(asset=AssetKey(["raw", "inbox_events"]), name="every_inbox_file_read", blocking=False,
             description="Every file in the inbox was read: none refused (unreadable, no mapping fits) and none left "
                         "unread (unknown extension or folder). Lists each with its reason.")
def every_inbox_file_read(warehouse: WarehouseResource, source: ShopDataSource) -> AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        refused = open_refusals(con)
    # A refused file that is no longer in the inbox needs nobody's attention any more.
    inbox_dir = source.resolved_inbox_dir
    refused = refused[[(inbox_dir / f).is_file() for f in refused["file"]]] if len(refused) else refused
    unread = pd.DataFrame(unrecognised_inbox_files(source.resolved_inbox_dir), columns=["file", "reason"])
    problems = pd.concat([refused[["file", "reason"]], unread], ignore_index=True)
    # Red for a refused file (its data is missing), amber for a file left unread; never
    # blocking: the files that did load flow on.
    return AssetCheckResult(passed=problems.empty,
                            severity=AssetCheckSeverity.ERROR if len(refused) else AssetCheckSeverity.WARN,
                            metadata={"files_refused": len(refused), "files_not_read": len(unread),
                                      "details": preview(problems, rows=20, max_chars=300)})


ingest_checks = [
    every_inbox_file_read,
    *(accounting_check(["raw", e], RAW_TABLES[e]) for e in SOURCE_ENTITIES),
    *(accounting_check(["raw", f"inbox_{e}"], INBOX_TABLES[e]) for e in ENTITIES),
    *(pseudonym_check(["raw", e], RAW_TABLES[e]) for e in SOURCE_ENTITIES if SCHEMAS[e].user_id_field),
    *(pseudonym_check(["raw", f"inbox_{e}"], INBOX_TABLES[e]) for e in ENTITIES if SCHEMAS[e].user_id_field),
]
ingest_assets = [raw_products, raw_users, raw_support_tickets, raw_faq, raw_events, inbox]
