"""Ingest group: raw tables in DuckDB schema `raw`, fed by the configured data source
and by files dropped in the inbox. Every load goes through privacy -> mapping ->
validation and lands atomically with its quarantine rows and a ledger entry."""


import json
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
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    multi_asset,
    sensor,
)

from ecom_assets.assets.metadata import counts_table, preview
from ecom_assets.ingestion import build_load
from ecom_assets.resources import PrivacyResource, ShopDataSource, WarehouseResource
from ecom_assets.schema import ENTITIES, SCHEMAS
from ecom_assets.sources.inbox import InboxFileError, list_inbox_files, new_inbox_files, read_inbox_file, sha256_of
from ecom_assets.sources.mappings import MAPPING_FILE, MAPPINGS, MappingSpecError, detect_mapping, mapping_from_spec
from ecom_assets.warehouse import LEDGER_TABLE, Load, accounting_mismatches, ensure_raw_table, table_exists, write_loads

# Daily event partitions start with the demo shop; the demo materialises its first
# `n_days` days, schedules and backfills can add any later day.
EVENTS_START_DATE = "2026-10-01"
EVENTS_PARTITIONS = DailyPartitionsDefinition(start_date=EVENTS_START_DATE)
GROUP = "ingest"
POOL = "warehouse"  # one DuckDB writer at a time

RAW_TABLES = {entity: f"raw.{entity}" for entity in ENTITIES}
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
            self.preview = load.accepted.head(5).drop(columns=["_source_row"])

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
    with warehouse.connect() as con:
        write_loads(con, [load], replace_table=True)
    tally.timed("write", t0)
    tally.add(load)
    return MaterializeResult(metadata={"table": RAW_TABLES[entity], **tally.metadata(key.origin)})


SNAPSHOT_DESCRIPTIONS = {
    "products": "Product catalogue (bilingual titles and descriptions, category, brand, price, discount, stock).",
    "users": "Customers with pseudonymised ids; names, e-mails and phones are dropped at the door.",
    "support_tickets": "Customer-service log: questions (e-mails and phone numbers scrubbed), answers, intents.",
}


def _snapshot_asset_def(entity: str):
    @asset(key=["raw", entity], group_name=GROUP, kinds={"duckdb", "python"}, pool=POOL,
           description=SNAPSHOT_DESCRIPTIONS[entity])
    def _snapshot(context: AssetExecutionContext, source: ShopDataSource, warehouse: WarehouseResource,
                  privacy: PrivacyResource) -> MaterializeResult:
        return _snapshot_asset(entity, context, source, warehouse, privacy)

    return _snapshot


raw_products, raw_users, raw_support_tickets = (_snapshot_asset_def(e) for e in SNAPSHOT_DESCRIPTIONS)


@asset(key=["raw", "events"], group_name=GROUP, kinds={"duckdb", "python"}, pool=POOL,
       partitions_def=EVENTS_PARTITIONS, backfill_policy=BackfillPolicy.single_run(),
       description="Behaviour events (view, click, add_to_cart, purchase, ...), one partition per day. "
                   "Re-materialising a day replaces exactly that day, atomically.")
def raw_events(context: AssetExecutionContext, source: ShopDataSource, warehouse: WarehouseResource,
               privacy: PrivacyResource) -> MaterializeResult:
    key = privacy.key()
    shop = source.shop
    tally = LoadTally()
    days = context.partition_keys
    for day in days:
        t0 = time.perf_counter()
        frame = shop.events_for_day(day) if shop is not None else _empty("events")
        tally.timed("generate", t0)
        t0 = time.perf_counter()
        load = build_load(
            frame, mapping=MAPPINGS["canonical_events"], key=key.key, table=RAW_TABLES["events"],
            load_id=f"{source.kind}:events:{day}", source=source.kind, partition_key=day, run_id=context.run_id,
        )
        tally.timed("validate", t0)
        t0 = time.perf_counter()
        with warehouse.connect() as con:  # one transaction per day: each partition lands whole or not at all
            write_loads(con, [load])
        tally.timed("write", t0)
        tally.add(load)
        context.log.info(f"events {day}: {load.rows_read} read, {len(load.accepted)} accepted, {len(load.quarantine)} quarantined")
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


def _plan_inbox(config: InboxConfig, inbox_dir: Path) -> list[tuple[str, Path]]:
    if not config.files:
        return list_inbox_files(inbox_dir)
    planned = []
    for name in config.files:
        path = Path(name)
        if not path.is_file():
            raise InboxFileError(f"{path}: file not found")
        if path.parent.name not in ENTITIES:
            raise InboxFileError(f"{path}: put inbox files in a folder named after their entity, one of {', '.join(ENTITIES)}")
        planned.append((path.parent.name, path))
    return planned


def _folder_mappings(inbox_dir: Path, entities: set[str]) -> dict:
    """Merchant-written mappings (<inbox>/<entity>/mapping.json), checked before any file is read."""
    found = {}
    for entity in sorted(entities):
        spec_path = inbox_dir / entity / MAPPING_FILE
        if spec_path.exists():
            try:
                found[entity] = mapping_from_spec(entity, json.loads(spec_path.read_text()), name=f"custom_{entity}")
            except (json.JSONDecodeError, MappingSpecError) as exc:
                raise InboxFileError(f"{spec_path}: {exc}") from exc
    return found


@multi_asset(specs=INBOX_SPECS, name="inbox", pool=POOL,
             description="Ingest new files from the inbox: map columns, pseudonymise, validate, quarantine. "
                         "Files already in the ledger (same content hash) are skipped.")
def inbox(context: AssetExecutionContext, config: InboxConfig, source: ShopDataSource,
          warehouse: WarehouseResource, privacy: PrivacyResource):
    inbox_dir = source.resolved_inbox_dir
    planned = _plan_inbox(config, inbox_dir)
    with warehouse.connect() as con:
        done = set()
        if table_exists(con, LEDGER_TABLE):
            done = {r[0] for r in con.execute(f"SELECT sha256 FROM {LEDGER_TABLE} WHERE sha256 IS NOT NULL").fetchall()}
    key = privacy.key()
    folder_mappings = _folder_mappings(inbox_dir, {entity for entity, _ in planned})
    loads: dict[str, list[Load]] = {e: [] for e in ENTITIES}
    skipped: dict[str, list[str]] = {e: [] for e in ENTITIES}
    # Parse and validate every file before writing anything: a file that cannot be read
    # fails the run with its name and nothing lands.
    for entity, path in planned:
        digest = sha256_of(path)
        if digest in done:
            skipped[entity].append(path.name)
            continue
        done.add(digest)
        parsed = read_inbox_file(path)
        columns = list(parsed.frame.columns)
        if config.mapping != "auto":
            mapping = MAPPINGS.get(config.mapping)
        else:
            mapping = folder_mappings.get(entity) or detect_mapping(entity, columns)
        if mapping is None or mapping.entity != entity or not mapping.matches(columns):
            known = "; ".join(f"{m.name}: {', '.join(m.required_columns)}" for m in MAPPINGS.values() if m.entity == entity)
            raise InboxFileError(f"{path}: no column mapping for {entity} fits its columns {columns}. Known mappings "
                                 f"and the columns they need: {known}")
        loads[entity].append(build_load(
            parsed.frame, mapping=mapping, key=key.key, table=INBOX_TABLES[entity], load_id=f"file:{digest[:20]}",
            source=f"inbox:{mapping.name}", row_numbers=parsed.row_numbers, unparsed=parsed.unparsed,
            source_file=f"{entity}/{path.name}", sha256=digest, run_id=context.run_id,
        ))
        context.log.info(f"{path.name}: mapping {mapping.name}, {parsed.rows_read} rows read")
    with warehouse.connect() as con:
        for entity in ENTITIES:  # the tables exist even before the first file, for dbt
            ensure_raw_table(con, INBOX_TABLES[entity], SCHEMAS[entity])
        write_loads(con, [ld for batch in loads.values() for ld in batch])
    for entity in ENTITIES:
        tally = LoadTally()
        for load in loads[entity]:
            tally.add(load)
        files = pd.DataFrame([dict(file=ld.source_file, mapping=ld.mapping, read=ld.rows_read, accepted=len(ld.accepted),
                                   quarantined=len(ld.quarantine)) for ld in loads[entity]])
        yield MaterializeResult(
            asset_key=AssetKey(["raw", f"inbox_{entity}"]),
            metadata={
                "table": INBOX_TABLES[entity],
                "files_ingested": len(loads[entity]),
                "files_skipped_already_ingested": len(skipped[entity]),
                "files": MetadataValue.md(files.to_markdown(index=False) if len(files) else "_(no new files)_"),
                **tally.metadata(),
            },
        )


inbox_job = define_asset_job(
    "inbox_job",
    selection=AssetSelection.assets(inbox).downstream(),
    description="Ingest new inbox files and refresh everything downstream of them.",
)


@sensor(job=inbox_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Watches the inbox folders; a file with new content starts an ingestion run.")
def inbox_sensor(context: SensorEvaluationContext, source: ShopDataSource):
    seen = json.loads(context.cursor) if context.cursor else {}
    new, seen = new_inbox_files(source.resolved_inbox_dir, seen)
    context.update_cursor(json.dumps(seen))
    if not new:
        return SkipReason(f"no new files in {source.resolved_inbox_dir.name}/")
    return RunRequest(
        run_key=",".join(sorted(f["sha256"][:16] for f in new)),
        run_config={"ops": {"inbox": {"config": {"files": [f["path"] for f in new]}}}},
        tags={"ecom/inbox_files": str(len(new))},
    )


# ----------------------------------------------------------------------- checks
def _accounting_check(asset_key: list[str], table: str):
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


def _pseudonym_check(asset_key: list[str], table: str):
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


ingest_checks = [
    *(_accounting_check(["raw", e], RAW_TABLES[e]) for e in ENTITIES),
    *(_accounting_check(["raw", f"inbox_{e}"], INBOX_TABLES[e]) for e in ENTITIES),
    *(_pseudonym_check(["raw", e], RAW_TABLES[e]) for e in ENTITIES if SCHEMAS[e].user_id_field),
    *(_pseudonym_check(["raw", f"inbox_{e}"], INBOX_TABLES[e]) for e in ENTITIES if SCHEMAS[e].user_id_field),
]
ingest_assets = [raw_products, raw_users, raw_support_tickets, raw_events, inbox]
