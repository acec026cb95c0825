"""Registering a trained version, and the champion/challenger gate as an asset check.

Every trained model goes the same way (`register_version`): a version stamp and folder in
the model store, a model card, the champion re-scored on the same data where possible,
and the registry's gate (`warehouse.registry.register_and_gate`). The check shows the
decision on the model asset. A rejected challenger is the gate doing its job, not a
broken run: the check warns and does not block, because nothing downstream reads the
challenger. Exports, embeddings and serving tables all load the registry's champion, so
they keep refreshing on new data with the model that won (and one model's rejection
does not hold back the retraining of the models that read it, e.g. the recommender)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, AssetKey, Failure, asset_check

from ecom_assets.ml.common.model_card import ModelCard
from ecom_assets.ml.common.model_files import (
    EXPORT_LINK,
    ArtefactError,
    ParityError,
    require_parity,
    verify_manifest,
    verify_sha256,
)
from ecom_assets.resources import ModelStoreResource, WarehouseResource
from ecom_assets.warehouse.registry import GateDecision, champion, history, record_export, register_and_gate, served_export


def current_champion(warehouse: WarehouseResource, model_name: str, required_by: str | None = None) -> dict | None:
    """The registry's serving version of `model_name` (None if there is none), or, with
    `required_by` (the asset that needs it), a clear failure naming what to materialise."""
    with warehouse.connect(read_only=True) as con:
        champ = champion(con, model_name)
    if champ is None and required_by is not None:
        raise Failure(f"{required_by}: no champion {model_name} in ml.model_registry: materialise ml/{model_name} first")
    return champ


def verified_artifact(champ: dict) -> Path:
    """The champion's artefact, checked against the registry before it is loaded: a folder
    (checkpoint, tokenizer, config) against its manifest, a file against its hash."""
    path = Path(champ["artifact_path"])
    what = f"{champ['name']} {champ['version']}"
    try:
        if path.is_dir():
            verify_manifest(path, champ["sha256"], what=what)
        elif path.exists():
            verify_sha256(path, champ["sha256"])
        else:
            raise ArtefactError(f"{what}: {path} does not exist")
    except ArtefactError as exc:
        raise Failure(f"{exc}. The registry's champion is not served unverified: roll it back (rollback_model) or retrain.") \
            from exc
    return path


def champion_folder(warehouse: WarehouseResource, model_name: str, required_by: str) -> tuple[dict, Path]:
    """The champion (or a failure naming what to materialise) and its artefact folder,
    verified against the registry (`verified_artifact`)."""
    champ = current_champion(warehouse, model_name, required_by)
    return champ, verified_artifact(champ)


def require_onnx_export(warehouse: WarehouseResource, champ: dict, folder: Path, export_asset: str) -> dict:
    """The parity record of the champion's served ONNX export, its files verified against
    the manifest hash the export recorded in the warehouse; or a failure naming the export
    asset to materialise."""
    what = f"{champ['name']} {champ['version']}"
    with warehouse.connect(read_only=True) as con:
        export = served_export(con, champ["name"], champ["version"], "onnx")
    if export is None:
        raise Failure(f"{what} has no ONNX export that passed its parity checks: materialise {export_asset}")
    try:
        return require_parity(folder / EXPORT_LINK, what, export_asset, version=champ["version"],
                              expected_manifest_sha256=export["manifest_sha256"])
    except ParityError as exc:
        raise Failure(str(exc)) from exc


def record_onnx_export(warehouse: WarehouseResource, champ: dict, record: dict) -> None:
    with warehouse.connect() as con:
        record_export(con, champ["name"], champ["version"], "onnx", record)


@dataclass
class NewVersion:
    name: str
    version: str
    created: datetime
    folder: Path

    def card(self, **fields) -> ModelCard:
        return ModelCard(name=self.name, version=self.version, created_at=self.created.isoformat(), **fields)


def new_version(context: AssetExecutionContext, model_store: ModelStoreResource, model_name: str) -> NewVersion:
    """A version stamp (UTC time of training + the run that trained it) and its folder."""
    created = datetime.now(timezone.utc)
    version = f"{created:%Y%m%dT%H%M%S}-{context.run_id[:8]}"
    return NewVersion(model_name, version, created, model_store.version_dir(model_name, version))


def register_version(context: AssetExecutionContext, warehouse: WarehouseResource, new: NewVersion, card: ModelCard,
                     artifact_path: Path, gate_metric: str, tolerance: float,
                     rescored: tuple[str, float] | None) -> GateDecision:
    """Write the card, record the version and apply the gate; logs the decision."""
    card.write(new.folder)
    with warehouse.connect() as con:
        decision = register_and_gate(con, new.name, new.version, card.params, card.metrics, str(artifact_path),
                                     card.sha256, gate_metric, tolerance, champion_rescored=rescored)
    context.log.info(f"{new.version}: {'promoted' if decision.promote else 'REJECTED'} ({decision.reason})")
    return decision


def gate_metadata(decision: GateDecision, warehouse: WarehouseResource, model_name: str) -> dict:
    """The gate's decision, and a plot of every registered version's gate metric beside the
    champion it was compared with (a promoted version joins the champion line)."""
    return {"promoted": decision.promote, "gate": decision.reason, "gate_basis": decision.basis,
            "gate_history": gate_history_chart(warehouse, model_name, decision.metric)}


def gate_history_chart(warehouse: WarehouseResource, model_name: str, metric: str, last: int = 30):
    from ecom_assets.assets.metadata import line_chart

    with warehouse.connect(read_only=True) as con:
        versions = history(con, model_name).tail(last)
    decisions = [json.loads(d) if isinstance(d, str) else (d or {}) for d in versions["decision"]]
    challenger = [float(d["challenger"]) if d.get("challenger") is not None else float("nan") for d in decisions]
    champion_at = [float(d["champion"]) if d.get("champion") is not None else float("nan") for d in decisions]
    labels = [f"{v[4:8]} {v[9:13]}" for v in versions["version"]]  # MMDD HHMM of the version stamp
    promoted = sum(bool(d.get("promote")) for d in decisions)
    return line_chart({"this version": challenger, "champion it faced": champion_at}, labels,
                      f"{model_name}: {metric} at each gate ({promoted} of {len(decisions)} promoted)", metric)


def gate_check(model_name: str, asset_key: AssetKey, metric: str):
    """Passes when the newest registered version of `model_name` became champion; warns
    when it was rejected (the champion keeps serving)."""

    @asset_check(asset=asset_key, name="champion_challenger_gate", blocking=False,
                 description=f"The newest {model_name} serves only if its {metric} is not worse than the champion's "
                             f"(re-scored on the same validation data where possible) beyond the tolerance; a "
                             f"rejected challenger warns and the champion keeps serving.")
    def _gate(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            latest = history(con, model_name).iloc[-1]
        decision = json.loads(latest["decision"])
        return AssetCheckResult(
            passed=latest["status"] == "champion",
            severity=AssetCheckSeverity.WARN,
            description=decision["reason"],
            metadata={"version": latest["version"], "status": latest["status"], "challenger": decision["challenger"],
                      "champion": decision["champion"] if decision["champion"] is not None else "none",
                      "champion_version": decision["champion_version"] or "none", "tolerance": decision["tolerance"],
                      "basis": decision.get("basis", "recorded"),
                      "champion_recorded": decision.get("champion_recorded") or "none"},
        )

    return _gate
