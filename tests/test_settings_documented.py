"""README's Settings table is the operator's reference: every variable the app reads is
in it, with the default the app really uses, and it names no variable the app ignores."""

from __future__ import annotations

import re

from pydantic_core import PydanticUndefined

from bot.config import Settings
from tests.harness import ROOT

ROW = re.compile(r"^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \| ([^|]+) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    """{variable: its default column} from README's Settings table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Settings\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for names, default in ROW.findall(table):
        for name in re.findall(r"`([A-Z_]+)`", names):
            rows[name] = default.strip()
    return rows


def written(field) -> str:
    """A default as the table writes it: `value`, — for none, — (required)."""
    if field.default is PydanticUndefined:
        return "— (required)"
    if field.default in (None, ""):
        return "—"
    value = field.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default():
    rows = documented()
    for name, field in Settings.model_fields.items():
        assert name.upper() in rows, f"{name.upper()} is missing from README's Settings"
        assert rows[name.upper()] == written(field), name.upper()


def test_the_table_names_only_settings_the_app_reads():
    assert set(documented()) == {name.upper() for name in Settings.model_fields}
