"""The contract every candidate strategy keeps: fit, score, save, load.

    strategy.fit(histories, n_items)             histories: list of item-index arrays
    strategy.score(users, histories) -> (B, n_items) float32, higher is better
    strategy.save(path, extras) -> sha256        one .npz of arrays, no pickle
    load_strategy(path) -> (strategy, extras)    in any process, with nothing else imported

As in `implicit`'s RecommenderBase, saving belongs to the class: a strategy's parameters
are its dataclass fields (`get_params`, JSON), its learned state the attributes it names
in `fitted_attributes` (arrays or sparse matrices; `state_arrays` / `load_state_arrays`
for anything else, e.g. network weights). The file records the class by its import path
and `load_strategy` imports it from there, so there is no registry to fill at import time
and a fresh process (a Dagster step in its own process) loads any saved model. Only
classes under `ecom_assets.ml.` that subclass Strategy are accepted.
"""

from __future__ import annotations

import importlib
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

from ecom_assets.ml.common.model_files import read_arrays, write_arrays

FORMAT = "ecom_assets.strategy/1"
# A model file names the classes to import; only these packages' classes are imported.
ALLOWED_MODULES: tuple[str, ...] = ("ecom_assets.ml.",)


class Strategy:
    name = "strategy"
    uses_user_identity = False
    fitted_attributes: tuple[str, ...] = ("n_items",)

    def fit(self, histories: list[np.ndarray], n_items: int) -> "Strategy":
        raise NotImplementedError

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    # --- saving and loading -------------------------------------------------------
    def get_params(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} if is_dataclass(self) else {}

    @classmethod
    def from_params(cls, params: dict) -> "Strategy":
        return cls(**params)

    def state_arrays(self) -> dict:
        return {a: getattr(self, a, None) for a in self.fitted_attributes}

    def load_state_arrays(self, arrays: dict) -> "Strategy":
        for a in self.fitted_attributes:
            setattr(self, a, arrays.get(a))
        return self

    @classmethod
    def from_state(cls, params: dict, state: dict, allowed_modules: tuple[str, ...] = ()) -> "Strategy":
        """The fitted strategy back from `get_params()` and `state_arrays()` (a strategy
        made of others builds them with `build_strategy(..., allowed_modules)`)."""
        return cls.from_params(params).load_state_arrays(state)

    def describe(self) -> dict:
        return {"class": f"{type(self).__module__}:{type(self).__qualname__}", "params": self.get_params()}

    def save(self, path: Path, extras: dict | None = None) -> str:
        """Write parameters, fitted state and `extras` (e.g. the item and user ids the
        indices refer to) to one .npz; returns its sha256."""
        arrays = {f"state/{k}": v for k, v in self.state_arrays().items()}
        arrays.update({f"extra/{k}": v for k, v in (extras or {}).items()})
        return write_arrays(path, {"format": FORMAT, "strategy": self.describe()}, arrays)


def strategy_class(import_path: str, allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> type[Strategy]:
    module, _, qualname = import_path.partition(":")
    if not module.startswith(allowed_modules) or not qualname:
        raise ValueError(f"strategy class {import_path!r} is not under {', '.join(allowed_modules)}")
    cls = getattr(importlib.import_module(module), qualname, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{import_path!r} is not a Strategy")
    return cls


def build_strategy(description: dict, state: dict, allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> Strategy:
    """A strategy from its `describe()` output and its state arrays."""
    cls = strategy_class(description["class"], allowed_modules)
    return cls.from_state(description["params"], state, allowed_modules)


def split_prefix(arrays: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}


# Files written before the contract above named classes, not import paths (first spec key
# "components"); read so that a champion saved by an earlier release still serves.
_LEGACY_CLASSES = {
    "Popularity": "ecom_assets.ml.recsys.candidates:Popularity",
    "ItemKNN": "ecom_assets.ml.recsys.candidates:ItemKNN",
    "Transitions": "ecom_assets.ml.recsys.candidates:Transitions",
    "MatrixFactorisation": "ecom_assets.ml.recsys.candidates:MatrixFactorisation",
    "SASRec": "ecom_assets.ml.recsys.sasrec:SASRec",
    "EmbeddingSimilarity": "ecom_assets.ml.recsys.text_similarity:EmbeddingSimilarity",
}


def _from_legacy(spec: dict, arrays: dict) -> tuple[dict, dict]:
    components, state = {}, {}
    for name, desc in spec["components"].items():
        components[name] = {"class": _LEGACY_CLASSES[desc["class"]], "params": desc["params"]}
        for key, value in split_prefix(arrays, f"{name}/").items():
            state[f"state/{name}/{key}"] = value
    blend = {"class": "ecom_assets.ml.recsys.blend:Blend",
             "params": {"components": components, "weights": spec["weights"], "name": "hybrid"}}
    return blend, {**state, **{k: v for k, v in arrays.items() if k.startswith("extra/")}}


def load_strategy(path: Path, expected_sha256: str | None = None,
                  allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> tuple[Strategy, dict[str, np.ndarray]]:
    """(strategy, extras) from a file written by `Strategy.save`; the sha256, when given,
    must match (the registry's record of what was gated). `allowed_modules`: packages whose
    classes the file may name (a Blend passes it on to its components)."""
    spec, arrays = read_arrays(path, expected_sha256)
    if "components" in spec:
        description, arrays = _from_legacy(spec, arrays)
    elif spec.get("format") == FORMAT:
        description = spec["strategy"]
    else:
        raise ValueError(f"{path}: not a saved strategy (format {spec.get('format')!r})")
    strategy = build_strategy(description, split_prefix(arrays, "state/"), allowed_modules)
    return strategy, split_prefix(arrays, "extra/")
