"""The champion/challenger gate as a blocking asset check, one per registered model."""

from __future__ import annotations

import json

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check

from ecom_assets.ml.registry import history
from ecom_assets.resources import WarehouseResource


def gate_check(model_name: str, asset_key: AssetKey, metric: str):
    """Passes when the newest registered version of `model_name` became champion; a
    rejected challenger fails it, which stops everything downstream from refreshing."""

    @asset_check(asset=asset_key, name="champion_challenger_gate", blocking=True,
                 description=f"The newest {model_name} serves only if its {metric} is not worse than the champion's "
                             f"beyond the tolerance; a rejected challenger stops downstream assets from refreshing.")
    def _gate(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            latest = history(con, model_name).iloc[-1]
        decision = json.loads(latest["decision"])
        return AssetCheckResult(
            passed=latest["status"] == "champion",
            severity=AssetCheckSeverity.ERROR,
            description=decision["reason"],
            metadata={"version": latest["version"], "status": latest["status"], "challenger": decision["challenger"],
                      "champion": decision["champion"] if decision["champion"] is not None else "none",
                      "champion_version": decision["champion_version"] or "none", "tolerance": decision["tolerance"]},
        )

    return _gate
