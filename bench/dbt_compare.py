"""Compare the dbt relations (staging, intermediate, marts) of two warehouse files row for
row: what a rewrite of the models changes in the DuckDB build. Doubles are compared at
`--decimals` places, since float sums depend on row order (two builds of the same models
differ in the last bits); everything else exactly, column types included.

    cp data/warehouse.duckdb /tmp/before.duckdb            # built with the old models
    cp /tmp/before.duckdb /tmp/after.duckdb
    (cd dbt && ECOM_WAREHOUSE=/tmp/after.duckdb dbt build --profiles-dir .)   # the new ones
    .venv/bin/python bench/dbt_compare.py /tmp/before.duckdb /tmp/after.duckdb

Writes bench/results/dbt_compare.json; exits 1 when a relation differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

LAYERS = ("staging", "intermediate", "marts")


def _columns(con, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
                       "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                       [catalog, schema, table]).fetchall()


def compare(before: Path, after: Path, decimals: int) -> list[dict]:
    con = duckdb.connect(str(after), read_only=True)
    con.execute(f"ATTACH '{before}' AS before (READ_ONLY)")
    current = con.execute("SELECT current_database()").fetchone()[0]
    relations = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = "
                            f"'before' AND table_schema IN {LAYERS} ORDER BY 1, 2").fetchall()
    out = []
    for schema, table in relations:
        old, new = _columns(con, "before", schema, table), _columns(con, current, schema, table)
        select = ", ".join(f'round("{n}", {decimals})' if t == "DOUBLE" else f'"{n}"' for n, t in old)
        row = {"relation": f"{schema}.{table}", "types_same": old == new}
        if not new:
            row.update(missing_after=True, rows_only_before=None, rows_only_after=None)
        else:
            a, b = f"before.{schema}.{table}", f"{schema}.{table}"
            row["rows"] = con.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
            row["rows_only_before"] = con.execute(f"SELECT count(*) FROM (SELECT {select} FROM {a} EXCEPT ALL "
                                                  f"SELECT {select} FROM {b})").fetchone()[0]
            row["rows_only_after"] = con.execute(f"SELECT count(*) FROM (SELECT {select} FROM {b} EXCEPT ALL "
                                                 f"SELECT {select} FROM {a})").fetchone()[0]
        row["same"] = bool(row["types_same"] and row["rows_only_before"] == 0 and row["rows_only_after"] == 0)
        out.append(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--decimals", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dbt_compare.json")
    args = parser.parse_args()
    rows = compare(args.before, args.after, args.decimals)
    for row in rows:
        print(f"{row['relation']:40s} {'same' if row['same'] else 'DIFFERS'}  rows {row.get('rows')}  "
              f"only before {row['rows_only_before']}  only after {row['rows_only_after']}  types same {row['types_same']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"decimals": args.decimals, "relations": rows}, indent=2))
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
