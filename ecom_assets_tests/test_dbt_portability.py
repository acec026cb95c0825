"""The dbt project is portable: compiled for its Trino target (dbt/profiles.yml), every model
and data test parses as Trino SQL and uses none of DuckDB's extensions. The engine-specific
spellings live in adapter-dispatched macros (dbt/macros/portable.sql); the DuckDB build
itself runs in the pipeline tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import TokenType

from ecom_assets.schema import SCHEMAS

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt"
LOAD_COLUMNS = ["_load_id", "_source_row", "_loaded_at"]

# DuckDB functions sqlglot parses in any dialect (it knows them by name) that Trino lacks.
DUCKDB_ONLY_FUNCTIONS = (exp.List, exp.ToDays, exp.Slice, exp.StrToTime, exp.TimeToStr)
# Functions Trino has that sqlglot leaves anonymous (it has no expression for them).
TRINO_FUNCTIONS_SQLGLOT_LEAVES_ANONYMOUS: set[str] = set()


def duckdb_only_constructs(sql: str) -> list[str]:
    """Why `sql` would not run on Trino, as far as its text shows: it does not parse as
    Trino SQL, or it uses a DuckDB extension that sqlglot's Trino reader tolerates."""
    try:
        trees = sqlglot.parse(sql, read="trino", error_level=ErrorLevel.RAISE)
    except ParseError as exc:
        return [f"does not parse as Trino SQL: {str(exc).splitlines()[0]}"]
    problems = []
    tokens = sqlglot.tokenize(sql, read="trino")
    if any(token.token_type == TokenType.DCOLON for token in tokens):
        problems.append("a '::' cast (Trino: cast(x as type))")
    if any(a.token_type == TokenType.INTERVAL and b.token_type != TokenType.STRING for a, b in zip(tokens, tokens[1:])):
        problems.append("an interval without a quoted amount (Trino: interval '7' day; or dbt.dateadd)")
    for tree in trees:
        for node in tree.walk():
            if isinstance(node, exp.Anonymous) and node.name.lower() not in TRINO_FUNCTIONS_SQLGLOT_LEAVES_ANONYMOUS:
                problems.append(f"{node.name}() is no Trino function")
            elif isinstance(node, DUCKDB_ONLY_FUNCTIONS):
                problems.append(f"{node.sql('duckdb')[:40]}: DuckDB only")
            elif isinstance(node, exp.Star) and any(node.args.get(k) for k in ("except_", "replace", "rename")):
                problems.append("* exclude/replace: DuckDB only (name the columns)")
            elif isinstance(node, exp.Join) and node.args.get("method"):
                problems.append(f"{node.args['method']} join: DuckDB only")
            elif isinstance(node, exp.SetOperation) and node.args.get("by_name"):
                problems.append("union by name: DuckDB only (name the columns)")
        try:
            tree.sql(dialect="trino", unsupported_level=ErrorLevel.RAISE)
        except Exception as exc:  # sqlglot names what Trino cannot express
            problems.append(f"Trino cannot express it: {exc}")
    # Trino's reader drops arguments Trino does not take; DuckDB's keeps them.
    for tree in sqlglot.parse(sql, read="duckdb"):
        if any(node.args.get("modifiers") for node in tree.find_all(exp.RegexpReplace)):
            problems.append("regexp_replace with flags: DuckDB only (Trino replaces every match)")
    return problems


@pytest.mark.parametrize("duckdb_sql", [
    "select epoch(event_time) from e",
    "select a::double from e",
    "select * exclude (a) from e",
    "select * from t asof left join p on t.u = p.u and t.c >= p.t",
    "select * from a union all by name select * from b",
    "select list(c order by w desc)[1:3] from e",
    "select max(t) - to_days(7) from e",
    "select count(*) filter (where t >= as_of - interval 7 days) from e",
    "select * from range(0, 5)",
    "select regexp_replace(a, '\\s+', ' ', 'g') from e",
    "select a from e qualify row_number() over (partition by a order by b) = 1",
])
def test_the_checker_refuses_each_duckdb_extension_the_models_used_to_have(duckdb_sql):
    assert duckdb_only_constructs(duckdb_sql), duckdb_sql


def test_the_checker_accepts_the_portable_spellings():
    portable = ["select to_unixtime(event_time), cast(a as double), date_add('day', -7, t) from e",
                "select array_agg(c order by r) filter (where r <= 3), count(*) filter (where a) from e",
                "select * from (select *, row_number() over (partition by a order by b) as n from e) where n = 1",
                "select regexp_replace(a, '\\s+', ' '), t - interval '1' second from e"]
    for sql in portable:
        assert duckdb_only_constructs(sql) == [], sql


@pytest.fixture(scope="module")
def compiled_for_trino(tmp_path_factory) -> Path:
    """`dbt compile --target trino`, offline: no Trino is reached (no cache, no introspection)."""
    out = tmp_path_factory.mktemp("dbt_trino")
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    result = subprocess.run(
        [str(dbt), "compile", "--target", "trino", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(out / "target"), "--log-path", str(out / "logs"), "--no-populate-cache",
         "--no-introspect", "--no-partial-parse"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "target" / "compiled" / "ecom_assets"


def _models() -> list[str]:
    return sorted(p.stem for p in (DBT_DIR / "models").rglob("*.sql"))


def test_every_model_and_data_test_compiled_for_trino_is_trino_sql(compiled_for_trino):
    compiled = {p.stem: p for p in (compiled_for_trino / "models").rglob("*.sql")}
    assert set(_models()) <= set(compiled), f"not compiled: {sorted(set(_models()) - set(compiled))}"
    tests = list((compiled_for_trino / "tests").rglob("*.sql"))
    assert tests, "the singular data tests were not compiled"
    problems = {path.relative_to(compiled_for_trino).as_posix(): found
                for path in [*compiled.values(), *tests] if (found := duckdb_only_constructs(path.read_text()))}
    assert problems == {}


def test_the_trino_build_names_the_lake_catalogue_for_sources_and_models(compiled_for_trino):
    sql = (compiled_for_trino / "models" / "staging" / "stg_events.sql").read_text()
    tables = {t.sql("trino") for t in sqlglot.parse_one(sql, read="trino").find_all(exp.Table)}
    assert {'"lake"."raw"."events"', '"lake"."raw"."inbox_events"'} <= tables, tables


@pytest.mark.parametrize("model, entity", [("stg_events", "events"), ("stg_products", "products"),
                                           ("stg_users", "users"), ("stg_support_tickets", "support_tickets"),
                                           ("stg_faq", "faq")])
def test_the_staging_unions_read_every_raw_column_of_their_entity(compiled_for_trino, model, entity):
    # union_deliveries names the columns (no `union all by name`): they must be the raw DDL's.
    sql = (compiled_for_trino / "models" / "staging" / f"{model}.sql").read_text()
    reads = [s for s in sqlglot.parse_one(sql, read="trino").find_all(exp.Select)
             if s.args.get("from_") and isinstance(s.args["from_"].this, exp.Table) and s.args["from_"].this.db == "raw"]
    assert len(reads) == 2, f"{model}: expected the source and the inbox table"
    for select in reads:
        columns = [e.alias_or_name for e in select.expressions if isinstance(e, exp.Column)]
        assert columns == SCHEMAS[entity].columns + LOAD_COLUMNS
