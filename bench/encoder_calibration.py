"""The export's backend calibration (ml/text/export.calibrate_backends) on the demo
warehouse's champion text encoder, with more texts and repeats than the export spends:
torch fp32, torch with bfloat16 autocast, ONNX fp32 and ONNX int8 on the catalogue's
product texts, each timed and checked against torch fp32; which one the export would
choose on this machine, and its speed-up (target >= 3x torch fp32). Run `make run` first.

    .venv/bin/python bench/encoder_calibration.py [--warehouse data/warehouse.duckdb] [--texts 600 --repeats 3]

Writes bench/results/encoder_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default=str(ROOT / "data" / "warehouse.duckdb"))
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "encoder_calibration.json")
    args = parser.parse_args()

    from ecom_assets.assets.gates import champion_folder
    from ecom_assets.assets.shop_tables import read_catalogue
    from ecom_assets.assets.text import MODEL_NAME
    from ecom_assets.ml.common.model_card import read_card
    from ecom_assets.ml.text.encoder import TorchEncoder
    from ecom_assets.ml.text.export import calibrate_backends
    from ecom_assets.ml.text.product_text import product_texts
    from ecom_assets.resources import WarehouseResource

    warehouse = WarehouseResource(path=args.warehouse)
    champ, folder = champion_folder(warehouse, MODEL_NAME, "bench")
    card = read_card(folder)
    texts = list(product_texts(read_catalogue(warehouse), card["language"]))[:args.texts]
    encoder = TorchEncoder.load(str(folder), max_length=card["max_length"])
    onnx = (folder / "onnx").resolve()
    # Every backend timed in full (no screening): the bench reports each one's speed.
    figures = calibrate_backends(encoder, onnx / "model.onnx", onnx / "model_int8.onnx", texts, repeats=args.repeats,
                                 screen_margin=float("inf"))
    figures.update(model_version=champ["version"], max_length=card["max_length"],
                   target_speedup_vs_torch_fp32=3.0,
                   meets_target=figures["chosen_speedup_vs_torch_fp32"] >= 3.0)
    for name, row in figures["backends"].items():
        print(f"{name:11s} {row['texts_per_second']:8.1f} texts/s  {row['speedup_vs_torch_fp32']:5.2f}x  "
              f"cosine {row['mean_cosine_vs_torch_fp32']:.5f}  {'passes' if row['passed'] else 'fails'} parity")
    print(f"chosen: {figures['chosen']} ({figures['chosen_speedup_vs_torch_fp32']:.2f}x torch fp32)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
