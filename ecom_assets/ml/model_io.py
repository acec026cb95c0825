"""Saving fitted strategies as plain arrays (one .npz, no pickle) and loading them back.

Every strategy names its fitted state in `FITTED`; parameters are its dataclass fields.
The file's sha256 goes to the registry, so serving can verify it loads what was gated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ecom_assets.ml import candidates
from ecom_assets.ml.blend import Blend

FITTED = {
    "Popularity": ("n_items", "popularity"),
    "ItemKNN": ("n_items", "similarity"),
    "Transitions": ("n_items", "transitions", "similarity", "popularity"),
    "MatrixFactorisation": ("n_items", "user_factors", "item_factors"),
    "SASRec": ("n_items",),  # plus its network weights, saved by name under <component>/weights/
}


# Strategy classes a model file may contain, by name. Other modules (the text-embedding
# strategy) add theirs with register_strategy, with the attributes that hold their fit.
STRATEGY_CLASSES: dict[str, type] = {name: getattr(candidates, name) for name in FITTED if hasattr(candidates, name)}


def register_strategy(cls: type, fitted_attributes: tuple[str, ...]) -> None:
    """Make a new candidate strategy savable: its dataclass fields are its parameters,
    `fitted_attributes` (arrays or sparse matrices) its learned state."""
    STRATEGY_CLASSES[cls.__name__] = cls
    FITTED[cls.__name__] = ("n_items", *[a for a in fitted_attributes if a != "n_items"])


def _is_sasrec(strategy) -> bool:
    return type(strategy).__name__ == "SASRec"  # no torch import for models without it


def _params(strategy) -> dict:
    if _is_sasrec(strategy):
        return {"config": asdict(strategy.config), "name": strategy.name}
    return {f.name: getattr(strategy, f.name) for f in fields(strategy)} if is_dataclass(strategy) else {}


def _put(arrays: dict, key: str, value) -> None:
    if sp.issparse(value):
        csr = value.tocsr()
        arrays.update({f"{key}.csr.data": csr.data, f"{key}.csr.indices": csr.indices,
                       f"{key}.csr.indptr": csr.indptr, f"{key}.csr.shape": np.array(csr.shape)})
    elif value is not None:
        arrays[key] = np.asarray(value)


def _get(arrays, key: str):
    if f"{key}.csr.data" in arrays:
        return sp.csr_matrix((arrays[f"{key}.csr.data"], arrays[f"{key}.csr.indices"], arrays[f"{key}.csr.indptr"]),
                             shape=tuple(arrays[f"{key}.csr.shape"]))
    if key in arrays:
        value = arrays[key]
        return value.item() if value.ndim == 0 else value
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_blend(path: Path, blend: Blend, extras: dict[str, np.ndarray] | None = None) -> str:
    """Write the fitted blend (and extra arrays such as item and user ids); return sha256."""
    arrays: dict[str, np.ndarray] = {}
    spec = {"weights": blend.weights, "components": {}}
    for name, comp in blend.components.items():
        kind = type(comp).__name__
        spec["components"][name] = {"class": kind, "params": _params(comp)}
        for attr in FITTED[kind]:
            _put(arrays, f"{name}/{attr}", getattr(comp, attr, None))
        if _is_sasrec(comp):
            for key, value in comp.state_arrays().items():
                arrays[f"{name}/weights/{key}"] = value
    for key, value in (extras or {}).items():
        arrays[f"extra/{key}"] = np.asarray(value).astype(str) if np.asarray(value).dtype == object else np.asarray(value)
    arrays["spec"] = np.array(json.dumps(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return sha256_file(path)


def load_blend(path: Path, expected_sha256: str | None = None) -> tuple[Blend, dict[str, np.ndarray]]:
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ValueError(f"{path}: sha256 differs from the registry's; the artefact changed after it was gated")
    with np.load(path, allow_pickle=False) as arrays:
        spec = json.loads(str(arrays["spec"]))
        components = {}
        for name, desc in spec["components"].items():
            if desc["class"] == "SASRec":
                from ecom_assets.ml.sasrec import SASRec, SASRecConfig

                comp = SASRec(SASRecConfig(**desc["params"]["config"]), name=desc["params"]["name"])
                prefix = f"{name}/weights/"
                comp.load_state_arrays(int(_get(arrays, f"{name}/n_items")),
                                       {k.removeprefix(prefix): arrays[k] for k in arrays.files if k.startswith(prefix)})
            else:
                if desc["class"] not in STRATEGY_CLASSES:
                    raise ValueError(f"{path}: strategy {desc['class']!r} is not registered (model_io.register_strategy)")
                comp = STRATEGY_CLASSES[desc["class"]](**desc["params"])
                for attr in FITTED[desc["class"]]:
                    setattr(comp, attr, _get(arrays, f"{name}/{attr}"))
            components[name] = comp
        extras = {k.removeprefix("extra/"): arrays[k] for k in arrays.files if k.startswith("extra/")}
    blend = Blend(components, spec["weights"])
    blend.n_items = next(iter(components.values())).n_items
    return blend, extras
