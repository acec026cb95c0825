"""Model files: content hashes, array files and the ONNX parity record.

Every trained artefact is a file (or folder of files) whose sha256 goes to the model
registry, so whatever loads it later can verify it loads what was gated. Learned state
that is not a framework checkpoint is stored as named arrays in one compressed .npz
(sparse matrices as their CSR parts), never as a pickle: `write_arrays` / `read_arrays`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import scipy.sparse as sp

PARITY_FILE = "parity.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(folder: Path, names: Iterable[str]) -> str:
    """One hash over several files of a folder (name and content of each, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(bytes.fromhex(sha256_file(Path(folder) / name)))
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None) -> None:
    if expected is not None and sha256_file(path) != expected:
        raise ValueError(f"{path}: sha256 differs from the registry's; the artefact changed after it was gated")


def _flatten(arrays: dict) -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if sp.issparse(value):
            csr = value.tocsr()
            flat.update({f"{key}.csr.data": csr.data, f"{key}.csr.indices": csr.indices,
                         f"{key}.csr.indptr": csr.indptr, f"{key}.csr.shape": np.array(csr.shape)})
        elif value is not None:
            value = np.asarray(value)
            flat[key] = value.astype(str) if value.dtype == object else value
    return flat


def _unflatten(flat) -> dict:
    out: dict = {}
    for key in flat.files if hasattr(flat, "files") else flat:
        if ".csr." in key:
            base = key.split(".csr.")[0]
            if base not in out:
                out[base] = sp.csr_matrix((flat[f"{base}.csr.data"], flat[f"{base}.csr.indices"],
                                           flat[f"{base}.csr.indptr"]), shape=tuple(flat[f"{base}.csr.shape"]))
        elif key != "spec":
            value = flat[key]
            out[key] = value.item() if value.ndim == 0 else value
    return out


def write_arrays(path: Path, spec: dict, arrays: dict) -> str:
    """One .npz: a JSON `spec` (what the arrays are) and named arrays or sparse matrices
    (None values are left out). Returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, spec=np.array(json.dumps(spec, default=str)), **_flatten(arrays))
    return sha256_file(path)


def read_arrays(path: Path, expected_sha256: str | None = None) -> tuple[dict, dict]:
    """(spec, arrays) of a file written by `write_arrays`; never unpickles."""
    verify_sha256(Path(path), expected_sha256)
    with np.load(path, allow_pickle=False) as flat:
        return json.loads(str(flat["spec"])), _unflatten(flat)


def write_parity(onnx_dir: Path, version: str, passed: bool, **figures) -> dict:
    """Record an ONNX export's parity with torch beside it; consumers refuse an export
    whose record is missing or failed (`require_parity`)."""
    record = {"version": version, "passed": bool(passed), **figures}
    (Path(onnx_dir) / PARITY_FILE).write_text(json.dumps(record, indent=2, default=str))
    return record


class ParityError(RuntimeError):
    pass


def require_parity(onnx_dir: Path, what: str, export_asset: str) -> dict:
    """The parity record of an export, or a ParityError naming the asset to materialise."""
    path = Path(onnx_dir) / PARITY_FILE
    record = json.loads(path.read_text()) if path.exists() else {}
    if not record.get("passed"):
        raise ParityError(f"{what} has no ONNX export that passed its parity checks: materialise {export_asset}")
    return record
