"""Command line: argument parsing only (the demo story is in `demo.py`).

    python -m ecom_assets.cli prepare [--force]   parse the dbt project (dbt/target/manifest.json) when it changed
    python -m ecom_assets.cli run [--users N --items N --days N --events-per-day N --seed N] [--no-drift]
                                  [--full-budgets] [--verbose]
"""

from __future__ import annotations

import argparse
import sys


def prepare(force: bool = False) -> None:
    if not force and manifest_is_current():
        print("dbt manifest up to date (parsed by this dbt after the project's last change)")
        return
    from ecom_assets.dbt_project import prepare_manifest

    print(f"dbt manifest ready: {prepare_manifest()}")


def manifest_is_current() -> bool:
    """True when dbt/target/manifest.json was written by the installed dbt after every
    file of the project last changed (target/, logs/ and dbt_packages/ aside): parsing
    again would give the same manifest, and costs ~10 s of every `make run`."""
    import json
    from importlib.metadata import version

    from ecom_assets import paths

    manifest = paths.DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        parsed_by = json.loads(manifest.read_text())["metadata"]["dbt_version"]
    except (ValueError, KeyError):
        return False
    if parsed_by != version("dbt-core"):
        return False
    built = manifest.stat().st_mtime
    skip = {"target", "logs", "dbt_packages"}
    return all(f.stat().st_mtime < built for f in paths.DBT_PROJECT_DIR.rglob("*")
               if f.is_file() and not skip.intersection(f.relative_to(paths.DBT_PROJECT_DIR).parts[:1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecom-assets")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="parse the dbt project (writes dbt/target/manifest.json) unless the manifest "
                                          "is newer than every project file")
    prep.add_argument("--force", action="store_true", help="parse even when the manifest is up to date")
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
        prepare(force=args.force)
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
