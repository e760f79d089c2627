"""Where things live: SQL statements are built in storage/ only, so each query is written
once, next to the tables, and the rules in bot/ and commands/ call it by name. (Sessions,
engines and database exceptions may be used anywhere.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The statement builders; `text` too, since raw SQL is SQL all the same.
BUILDERS = {"select", "insert", "update", "delete", "text", "bindparam", "literal_column"}


def sql_built_in(path: Path) -> list[str]:
    """The SQL builders a module imports from sqlalchemy (any of its submodules)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in BUILDERS]
            if node.module.startswith("sqlalchemy.dialects"):
                found += [f"{node.module}.{a.name}" for a in node.names]
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sqlalchemy")]
    return found


def test_no_module_outside_storage_builds_sql():
    offenders = {
        str(path.relative_to(ROOT)): built
        for folder in ("bot", "commands")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (built := sql_built_in(path))
    }
    assert offenders == {}


def test_the_check_sees_a_module_that_builds_sql(tmp_path: Path):
    module = tmp_path / "rule.py"
    module.write_text("from sqlalchemy import select, update\nfrom sqlalchemy.orm import Session\n")
    assert sql_built_in(module) == ["sqlalchemy.select", "sqlalchemy.update"]
