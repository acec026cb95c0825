"""Model registry and the champion/challenger gate.

`ml.model_registry` holds one row per trained version: params, metrics, artefact path
and sha256, and a status: `champion` (serves), `rejected` (kept out by the gate, with
the numbers), `retired` (a former champion), `rolled_back` (a champion taken out by
`rollback`). Serving looks up the champion here, never "the newest folder".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import duckdb
import pandas as pd

from ecom_assets.warehouse import table_exists, transaction

REGISTRY_TABLE = "ml.model_registry"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
    name VARCHAR NOT NULL, version VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    params VARCHAR, metrics VARCHAR, artifact_path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    status VARCHAR NOT NULL, decision VARCHAR, PRIMARY KEY (name, version))
"""


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    metric: str
    challenger: float
    champion: float | None
    champion_version: str | None
    tolerance: float
    reason: str
    basis: str = "recorded"
    """"same data": the champion was re-scored on the challenger's validation data;
    "recorded": its metric as recorded at its own training (possibly another window)."""
    champion_recorded: float | None = None


def gate(challenger: float, champion: float | None, tolerance: float, metric: str = "NDCG@10",
         champion_version: str | None = None, basis: str = "recorded",
         champion_recorded: float | None = None) -> GateDecision:
    """Promote unless the challenger is worse than the champion by more than `tolerance`
    (relative): a worse model never replaces a better one, noise within tolerance does."""
    if champion is None:
        return GateDecision(True, metric, challenger, None, None, tolerance, "no champion yet", basis, champion_recorded)
    floor = champion * (1.0 - tolerance)
    where = "on the same validation data" if basis == "same data" else "as recorded at its training"
    verdict = ">=" if challenger >= floor else "<"
    return GateDecision(challenger >= floor, metric, challenger, champion, champion_version, tolerance,
                        f"{metric} {challenger:.4f} {verdict} {floor:.4f} (champion {champion:.4f} {where} - {tolerance:.0%})",
                        basis, champion_recorded)


EXPORTS_TABLE = "ml.model_exports"
_EXPORTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EXPORTS_TABLE} (
    name VARCHAR NOT NULL, version VARCHAR NOT NULL, export VARCHAR NOT NULL, manifest_sha256 VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL, path VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)
"""


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    con.execute(_DDL)
    con.execute(_EXPORTS_DDL)


def record_export(con: duckdb.DuckDBPyConnection, name: str, version: str, export: str, record: dict) -> None:
    """An export of a registered version (e.g. ONNX) with the hash of its manifest: what
    its consumers verify the served files against."""
    ensure_registry(con)
    con.execute(f"INSERT INTO {EXPORTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [name, version, export, record["manifest_sha256"], bool(record["passed"]), record["path"],
                 datetime.now(timezone.utc).replace(tzinfo=None)])


def served_export(con: duckdb.DuckDBPyConnection, name: str, version: str, export: str) -> dict | None:
    """The newest export of this version that passed its checks (None if there is none)."""
    if not table_exists(con, EXPORTS_TABLE):
        return None
    row = con.execute(f"SELECT * FROM {EXPORTS_TABLE} WHERE name = ? AND version = ? AND export = ? AND passed "
                      "ORDER BY created_at DESC LIMIT 1", [name, version, export]).df()
    return None if row.empty else row.iloc[0].to_dict()


def champion(con: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    """The serving version of `name`, or None. Reads only (works on a read-only connection)."""
    if not table_exists(con, REGISTRY_TABLE):
        return None
    row = con.execute(f"SELECT * FROM {REGISTRY_TABLE} WHERE name = ? AND status = 'champion'", [name]).df()
    if row.empty:
        return None
    out = row.iloc[0].to_dict()
    out["metrics"] = json.loads(out["metrics"] or "{}")
    out["params"] = json.loads(out["params"] or "{}")
    return out


def register_and_gate(con: duckdb.DuckDBPyConnection, name: str, version: str, params: dict, metrics: dict,
                      artifact_path: str, sha256: str, metric: str, tolerance: float,
                      champion_rescored: tuple[str, float] | None = None) -> GateDecision:
    """Record a new version and apply the gate, in one transaction: the version becomes
    champion (the previous one retired) or is recorded as rejected with the numbers.

    `champion_rescored` = (champion version, its metric on the challenger's validation
    data): once the data window moves, the metric recorded at the champion's training
    was measured on other data and is not comparable (after a drift it flatters the
    champion). Used when it names the current champion; else the recorded metric."""
    ensure_registry(con)
    current = champion(con, name)
    recorded = None if current is None else float(current["metrics"][metric])
    same = current is not None and champion_rescored is not None and champion_rescored[0] == current["version"]
    decision = gate(float(metrics[metric]), float(champion_rescored[1]) if same else recorded, tolerance, metric,
                    None if current is None else current["version"], "same data" if same else "recorded", recorded)
    return record_decision(con, name, version, params, metrics, artifact_path, sha256, decision)


def record_decision(con: duckdb.DuckDBPyConnection, name: str, version: str, params: dict, metrics: dict,
                    artifact_path: str, sha256: str, decision: GateDecision) -> GateDecision:
    """Record a new version with a gate decision made by the caller (e.g. an off-policy
    lower bound against the serving policy's value), in one transaction."""
    ensure_registry(con)
    current = champion(con, name)
    with transaction(con):
        if decision.promote and current is not None:
            con.execute(f"UPDATE {REGISTRY_TABLE} SET status = 'retired' WHERE name = ? AND version = ?",
                        [name, current["version"]])
        con.execute(
            f"INSERT INTO {REGISTRY_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, version, datetime.now(timezone.utc).replace(tzinfo=None), json.dumps(params, default=str),
             json.dumps(metrics), artifact_path, sha256, "champion" if decision.promote else "rejected",
             json.dumps(asdict(decision))],
        )
    return decision


def history(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    if not table_exists(con, REGISTRY_TABLE):
        return pd.DataFrame(columns=["name", "version", "created_at", "params", "metrics", "artifact_path",
                                     "sha256", "status", "decision"])
    return con.execute(f"SELECT * FROM {REGISTRY_TABLE} WHERE name = ? ORDER BY created_at", [name]).df()


def rollback(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str]:
    """The champion becomes `rolled_back` and the newest earlier retired version serves
    again, in one transaction: (restored version, rolled-back version)."""
    current = champion(con, name)
    if current is None:
        raise ValueError(f"{name}: no champion in {REGISTRY_TABLE} to roll back")
    previous = con.execute(
        f"SELECT version FROM {REGISTRY_TABLE} WHERE name = ? AND status = 'retired' AND created_at < ? "
        "ORDER BY created_at DESC LIMIT 1", [name, current["created_at"]]).fetchone()
    if previous is None:
        raise ValueError(f"{name}: {current['version']} is the first champion; there is no earlier version to restore")
    with transaction(con):
        con.execute(f"UPDATE {REGISTRY_TABLE} SET status = 'rolled_back' WHERE name = ? AND version = ?",
                    [name, current["version"]])
        con.execute(f"UPDATE {REGISTRY_TABLE} SET status = 'champion' WHERE name = ? AND version = ?", [name, previous[0]])
    return previous[0], current["version"]
