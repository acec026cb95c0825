"""The layering rules the layout promises: algorithms under ecom_assets/ml/ know nothing
of Dagster or of the layers above them."""

import ast
from pathlib import Path

import ecom_assets

PACKAGE = Path(ecom_assets.__file__).parent
ABOVE_ML = ("ecom_assets.assets", "ecom_assets.resources", "ecom_assets.definitions", "ecom_assets.demo",
            "ecom_assets.cli", "ecom_assets.jobs", "ecom_assets.warehouse", "ecom_assets.sources")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_nothing_under_ml_imports_dagster_or_a_layer_above_it():
    offenders = {}
    files = sorted((PACKAGE / "ml").rglob("*.py"))
    assert len(files) > 20
    for path in files:
        bad = [n for n in _imports(path) if n.split(".")[0] in ("dagster", "dagster_dbt") or n.startswith(ABOVE_ML)]
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}


def test_every_ml_package_says_what_it_owns():
    for init in sorted((PACKAGE / "ml").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 5, f"{init.relative_to(PACKAGE)} needs a docstring saying what it owns"


RAW_WRITES = {"write_loads", "record_refusals", "retract_loads", "drop_partitions", "ensure_raw_table"}


def test_raw_tables_are_written_only_through_the_raw_store():
    # ecom_assets.warehouse.raw_store.RawStore is the one door to the raw tables, so that
    # another store (object storage + a distributed engine) replaces it in one place.
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "warehouse":
            continue
        tree = ast.parse(path.read_text())
        used = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "ecom_assets.warehouse"
                 for a in n.names}
        if used & RAW_WRITES:
            offenders[str(path.relative_to(PACKAGE))] = sorted(used & RAW_WRITES)
    assert offenders == {}
