"""The store's SQL binds values in a way every supported Python accepts."""

from __future__ import annotations

import re
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "durable_engine" / "_store"


def test_no_numbered_placeholders_in_the_store() -> None:
    """`?1` is a named parameter to sqlite3: bound from a tuple it warns on Python 3.12
    and 3.13 and raises ProgrammingError from 3.14. Use `?` with a tuple, or `:name`
    with a dict."""
    modules = sorted(STORE.glob("*.py"))
    assert len(modules) > 5  # the store's modules were found: the test looks at something
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\?\d", line)
    ]
    assert found == []
