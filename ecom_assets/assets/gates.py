"""The champion/challenger gate as an asset check, one per registered model.

The registry decides promotion (`ml.registry.register_and_gate`); the check shows the
decision on the model asset. A rejected challenger is the gate doing its job, not a
broken run: the check warns and does not block, because nothing downstream reads the
challenger. Exports, embeddings and serving tables all load the registry's champion, so
they keep refreshing on new data with the model that won (and one model's rejection
does not hold back the retraining of the models that read it, e.g. the recommender)."""

from __future__ import annotations

import json

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, Failure, asset_check

from ecom_assets.ml.registry import champion, history
from ecom_assets.resources import WarehouseResource


def current_champion(warehouse: WarehouseResource, model_name: str, required_by: str | None = None) -> dict | None:
    """The registry's serving version of `model_name` (None if there is none), or, with
    `required_by` (the asset that needs it), a clear failure naming what to materialise."""
    with warehouse.connect(read_only=True) as con:
        champ = champion(con, model_name)
    if champ is None and required_by is not None:
        raise Failure(f"{required_by}: no champion {model_name} in ml.model_registry: materialise ml/{model_name} first")
    return champ


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
