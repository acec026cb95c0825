#!/usr/bin/env python
"""Drift report cost: Evidently's data-drift preset on event-like windows (event type,
category, price, quantity, hour of day) of 1e5 and 1e6 rows each side, HTML included;
wall time and peak memory (this process), each size in a fresh process. Reported with
the full windows and with the pipeline's default sampling (50,000 rows per side).

    .venv/bin/python bench/drift.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def window(n: int, rng: np.random.Generator, shift: float) -> pd.DataFrame:
    categories = [f"cat{i}" for i in range(24)]
    p = np.linspace(1, 2 + 4 * shift, 24)
    return pd.DataFrame({
        "event_type": rng.choice(["view", "click", "add_to_cart", "purchase"], n, p=[.7, .18, .08, .04]),
        "category": rng.choice(categories, n, p=p / p.sum()),
        "price": rng.lognormal(5 + 0.2 * shift, 0.8, n),
        "quantity": rng.integers(1, 4, n).astype(float),
        "hour_of_day": rng.integers(0, 24, n).astype(float),
    })


def one(n: int, max_rows: int) -> dict:
    from ecom_assets.ml.monitoring.drift import drift_report

    rng = np.random.default_rng(0)
    reference, current = window(n, rng, 0.0), window(n, rng, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = drift_report(reference, current, "events", "bench", Path(tmp) / "r.html", max_rows=max_rows)
        seconds = time.perf_counter() - t0
        html_mb = (Path(tmp) / "r.html").stat().st_size / 1e6
    return {"rows_per_side": n, "rows_compared": min(n, max_rows), "seconds": round(seconds, 2),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2), "html_mb": round(html_mb, 1),
            "drifted_columns": summary.loc[summary["drifted"] & (summary["signal"] != "dataset"), "signal"].tolist()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--one", type=int, nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(*a.one)))
        return 0
    from common import write_result

    rows = []
    for n in a.sizes:
        for max_rows in (n, 50_000):
            out = subprocess.run([sys.executable, __file__, "--one", str(n), str(max_rows)], capture_output=True, text=True,
                                 check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    write_result("drift", {"benchmark": "drift", "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
