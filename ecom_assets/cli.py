"""Command line: argument parsing only (the demo story is in `demo.py`).

    python -m ecom_assets.cli prepare     parse the dbt project (dbt/target/manifest.json)
    python -m ecom_assets.cli run [--users N --items N --days N --events-per-day N --seed N] [--no-drift]
                                  [--full-budgets] [--verbose]
"""

from __future__ import annotations

import argparse
import sys


def prepare() -> None:
    from ecom_assets.dbt_project import prepare_manifest

    print(f"dbt manifest ready: {prepare_manifest()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecom-assets")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="parse the dbt project (writes dbt/target/manifest.json)")
    run = sub.add_parser("run", help="materialise the whole asset graph on the demo shop")
    run.add_argument("--users", type=int)
    run.add_argument("--items", type=int)
    run.add_argument("--days", type=int)
    run.add_argument("--events-per-day", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--source", choices=["synthetic", "inbox_only", "s3rec", "recbole"],
                     help="what feeds the raw tables (default: the synthetic demo shop)")
    run.add_argument("--dataset-path", help="for --source s3rec|recbole, e.g. ../shared/data/amazon-beauty/Beauty.txt")
    run.add_argument("--test-days", type=int, help="temporal test window (default 7; 1 for public datasets)")
    run.add_argument("--copy-examples", action="append", default=[], metavar="FILE",
                     help="ad copy written from attribute lists (AdvertiseGen JSONL: content, summary) to put in the "
                          "inbox's copy_examples folder before the run; the copy generator learns from it (repeatable)")
    run.add_argument("--verbose", action="store_true",
                     help="show Dagster's, dbt's and the libraries' output (else in data/logs/<stage>.log)")
    run.add_argument("--full-budgets", action="store_true",
                     help="train with the assets' own time budgets instead of the demo's short ones")
    run.add_argument("--no-drift", action="store_true",
                     help="build once on every day of the demo shop, without the drift-and-retrain scenario")
    args = parser.parse_args(argv)

    if args.command == "prepare":
        prepare()
        return 0

    knobs = {k: v for k, v in dict(n_users=args.users, n_items=args.items, n_days=args.days,
                                   events_per_day=args.events_per_day, seed=args.seed, kind=args.source,
                                   dataset_path=args.dataset_path).items() if v is not None}
    from ecom_assets.demo import run_demo

    run_demo(knobs, no_drift=args.no_drift, test_days=args.test_days, verbose=args.verbose, copy_examples=args.copy_examples,
             full_budgets=args.full_budgets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
