"""Model files: content hashes, array files and the ONNX parity record.

Every trained artefact is a file (or folder of files) whose sha256 goes to the model
registry, so whatever loads it later can verify it loads what was gated. Learned state
that is not a framework checkpoint is stored as named arrays in one compressed .npz
(sparse matrices as their CSR parts), never as a pickle: `write_arrays` / `read_arrays`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np
import scipy.sparse as sp

PARITY_FILE = "parity.json"
MANIFEST_FILE = "MANIFEST.json"
# Written after the manifest (the card records the manifest's hash) or beside it (exports
# have manifests of their own): never listed in a checkpoint's manifest.
_NOT_IN_CHECKPOINT = ("card.json", "README.md", MANIFEST_FILE)
EXPORT_LINK = "onnx"


class ArtefactError(ValueError):
    """A model file is missing, extra or changed since it was registered or verified."""


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
        raise ArtefactError(f"{path}: sha256 differs from the registry's; the artefact changed after it was gated")


def _listed(folder: Path) -> list[Path]:
    """Files a checkpoint's manifest covers: everything in the folder except the card, the
    manifest and exports (`onnx`, `onnx-*`, hidden staging folders)."""
    out = []
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        top = rel.parts[0]
        if path.is_dir() or top.startswith(".") or top == EXPORT_LINK or top.startswith(EXPORT_LINK + "-"):
            continue
        if len(rel.parts) == 1 and top in _NOT_IN_CHECKPOINT:
            continue
        out.append(path)
    return out


def _write_manifest_of(folder: Path, files: list[Path]) -> str:
    manifest = {str(p.relative_to(folder)): sha256_file(p) for p in files}
    path = Path(folder) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return sha256_file(path)


def write_manifest(folder: Path) -> str:
    """Hash every file of a checkpoint folder (weights, tokenizer, config, heads) into
    MANIFEST.json and return the manifest's sha256: the one hash the registry keeps, which
    `verify_manifest` checks before every load."""
    return _write_manifest_of(Path(folder), _listed(Path(folder)))


def verify_manifest(folder: Path, expected_sha256: str | None, what: str | None = None, all_files: bool = False) -> dict:
    """Check a folder against its manifest and the manifest against `expected_sha256`:
    every listed file present with its hash, no unlisted file beside them (an extra
    tokenizer file changes what `from_pretrained` loads). Returns the manifest."""
    folder = Path(folder)
    what = what or str(folder)
    path = folder / MANIFEST_FILE
    if not path.exists():
        raise ArtefactError(f"{what}: no {MANIFEST_FILE} in {folder}; a version registered without one cannot be verified "
                            "(retrain it)")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ArtefactError(f"{what}: {MANIFEST_FILE} differs from the registered one; the model changed after it was gated")
    manifest = json.loads(path.read_text())
    present = {str(p.relative_to(folder)) for p in
               ([p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE] if all_files else _listed(folder))}
    missing = sorted(set(manifest) - present)
    extra = sorted(present - set(manifest))
    changed = sorted(name for name in set(manifest) & present if sha256_file(folder / name) != manifest[name])
    if missing or extra or changed:
        raise ArtefactError(f"{what}: files differ from the manifest (missing {missing}, not listed {extra}, changed {changed})")
    return manifest


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


def staging_dir(folder: Path) -> Path:
    """A hidden folder beside the served export to build a new one in: a run killed while
    exporting leaves only this behind, never a half-written served export."""
    path = Path(folder) / f".{EXPORT_LINK}-staging-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def publish_export(folder: Path, staged: Path, version: str, passed: bool, **figures) -> dict:
    """Record the parity of an export built in `staged` and its manifest; if it passed,
    serve it: the folder is renamed to `onnx-<stamp>` and the `onnx` link swapped to it
    in one rename, so a reader sees the old export or the new one, whole. A failed export
    is kept (renamed `.onnx-failed-<stamp>`) for inspection and the old one keeps serving.
    Returns the parity record, with `manifest_sha256` and `path` (the served folder)."""
    folder, staged = Path(folder), Path(staged)
    record = {"version": version, "passed": bool(passed), **figures}
    (staged / PARITY_FILE).write_text(json.dumps(record, indent=2, default=str))
    record["manifest_sha256"] = _write_manifest_of(staged, sorted(p for p in staged.rglob("*")
                                                                  if p.is_file() and p.name != MANIFEST_FILE))
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    if not passed:
        failed = folder / f".{EXPORT_LINK}-failed-{stamp}"
        staged.rename(failed)
        record["path"] = str(failed)
        return record
    final = folder / f"{EXPORT_LINK}-{stamp}"
    staged.rename(final)
    link = folder / EXPORT_LINK
    if link.is_dir() and not link.is_symlink():  # an export from before links: moved aside, then removed
        link.rename(folder / f"{EXPORT_LINK}-legacy-{stamp}")
    temp_link = folder / f".{EXPORT_LINK}-link-{uuid.uuid4().hex[:8]}"
    os.symlink(final.name, temp_link)
    os.replace(temp_link, link)
    for old in folder.iterdir():  # earlier exports and abandoned staging folders
        if old.name != final.name and old.is_dir() and not old.is_symlink() and \
                (old.name.startswith(f"{EXPORT_LINK}-") or old.name.startswith(f".{EXPORT_LINK}-staging-")):
            shutil.rmtree(old, ignore_errors=True)
    record["path"] = str(final)
    return record


class ParityError(RuntimeError):
    pass


def require_parity(onnx_dir: Path, what: str, export_asset: str, version: str | None = None,
                   expected_manifest_sha256: str | None = None) -> dict:
    """The parity record of a served export, after checking it: passed, made from
    `version`, and every file as its manifest (and the registry's hash of it) says; else
    a ParityError naming the asset to materialise."""
    onnx_dir = Path(onnx_dir)
    path = onnx_dir / PARITY_FILE
    record = json.loads(path.read_text()) if path.exists() else {}
    if not record.get("passed"):
        raise ParityError(f"{what} has no ONNX export that passed its parity checks: materialise {export_asset}")
    if version is not None and record.get("version") != version:
        raise ParityError(f"{what}: the served ONNX export was made from version {record.get('version')}: "
                          f"materialise {export_asset}")
    try:
        verify_manifest(onnx_dir, expected_manifest_sha256, what=f"{what} ONNX export", all_files=True)
    except ArtefactError as exc:
        raise ParityError(f"{exc}: materialise {export_asset}") from exc
    return record
