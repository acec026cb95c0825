"""The save/load contract: a saved hybrid loads in a process that imports nothing but
the loader (as a Dagster step in its own process does), and files of the earlier format
still load."""

import json
import subprocess
import sys

import numpy as np

from ecom_assets.ml.recsys.blend import Blend
from ecom_assets.ml.recsys.candidates import ItemKNN, Popularity, Transitions
from ecom_assets.ml.recsys.strategy import load_strategy
from ecom_assets.ml.recsys.text_similarity import EmbeddingSimilarity

HISTORIES = [np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([2, 3, 4]), np.array([0, 4])]
EMBEDDINGS = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)

FRESH_PROCESS = """
import json, sys
import numpy as np
from ecom_assets.ml.recsys.strategy import load_strategy
text_module = "ecom_assets.ml.recsys.text_similarity"
imported_before = text_module in sys.modules
model, extras = load_strategy(sys.argv[1], expected_sha256=sys.argv[2])
scores = model.score(np.arange(2), [np.array([0, 1]), np.array([3])])
print(json.dumps({"imported_before": imported_before, "imported_after": text_module in sys.modules,
                  "components": sorted(model.components), "items": extras["item_ids"].tolist(),
                  "scores": scores.tolist()}))
"""


def _hybrid() -> Blend:
    blend = Blend({"transitions": Transitions(), "item_knn": ItemKNN(neighbours=3), "popularity": Popularity(),
                   "text": EmbeddingSimilarity(window=2).with_embeddings(EMBEDDINGS)},
                  {"transitions": 1.0, "item_knn": 0.5, "popularity": 0.1, "text": 0.5})
    return blend.fit(HISTORIES, 5)


def test_a_saved_champion_blend_loads_in_a_fresh_process_that_imports_only_the_loader(tmp_path):
    blend = _hybrid()
    sha = blend.save(tmp_path / "model.npz", extras={"item_ids": np.array(list("abcde"), dtype=object)})
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "model.npz"), sha],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["imported_before"] and out["imported_after"], "the file names its classes; loading imports them"
    assert out["components"] == ["item_knn", "popularity", "text", "transitions"]
    assert out["items"] == list("abcde")
    expected = blend.score(np.arange(2), [np.array([0, 1]), np.array([3])])
    np.testing.assert_allclose(np.array(out["scores"]), expected, rtol=1e-6)


def test_a_model_file_of_the_earlier_format_still_loads(tmp_path):
    """Files written before the contract named classes, not import paths: a champion
    saved by an earlier release keeps serving."""
    pop = Popularity().fit(HISTORIES, 5)
    spec = {"weights": {"pop": 1.0}, "components": {"pop": {"class": "Popularity", "params": pop.get_params()}}}
    with open(tmp_path / "old.npz", "wb") as fh:
        np.savez_compressed(fh, spec=np.array(json.dumps(spec)), **{"pop/n_items": np.array(5),
                                                                     "pop/popularity": pop.popularity,
                                                                     "extra/user_ids": np.array(["u1", "u2"])})
    loaded, extras = load_strategy(tmp_path / "old.npz")
    np.testing.assert_allclose(loaded.components["pop"].popularity, pop.popularity)
    assert loaded.weights == {"pop": 1.0} and extras["user_ids"].tolist() == ["u1", "u2"]
