"""README's logger table names exactly the loggers the library uses, so an application that
configures ``logging`` by name can trust it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
GET_LOGGER = re.compile(r"""logging\.getLogger\(\s*["']([\w.]+)["']\s*\)""")
TABLE_ROW = re.compile(r"^\| `(trio_gossip[\w.]*)` \|", re.MULTILINE)


def names_in_code() -> set[str]:
    return {
        name
        for path in (ROOT / "trio_gossip").rglob("*.py")
        for name in GET_LOGGER.findall(path.read_text())
    }


def test_the_code_uses_named_loggers() -> None:
    # Guards the comparison below against a regex that finds nothing.
    assert {"trio_gossip", "trio_gossip.transport"} <= names_in_code()


def test_the_readme_table_lists_exactly_the_loggers_in_the_code() -> None:
    documented = TABLE_ROW.findall(README)
    assert len(documented) == len(set(documented)), "a logger is listed twice"
    assert set(documented) == names_in_code()
