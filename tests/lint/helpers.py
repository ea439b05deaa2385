"""The corpus of workflows and what each file says the linter must find in it."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
_EXPECT = re.compile(r"#\s*expect:\s*(DE\d+)")


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.py"))


def expected(path: Path) -> list[tuple[int, str]]:
    """(line, code) of every `# expect: CODE` comment in `path`."""
    found: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type == tokenize.COMMENT:
            found += [(token.start[0], code) for code in _EXPECT.findall(token.string)]
    return sorted(found)
