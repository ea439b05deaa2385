"""`# noqa` comments: bare, the line says nothing; `# noqa: DE101,DE2`, those codes
(or code prefixes) say nothing on that line."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator

__all__ = ["ALL", "Silenced", "is_silenced", "silenced_lines"]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)

ALL: frozenset[str] = frozenset({""})
"""Every code: the empty prefix, which every code starts with."""

Silenced = dict[int, frozenset[str]]
"""Line number -> the code prefixes silenced on it."""


def silenced_lines(source: str | bytes) -> Silenced:
    """The lines of `source` that carry a `# noqa` comment, with what each silences."""
    silenced: Silenced = {}
    for line, comment in _comments(source):
        match = _NOQA.search(comment)
        if match is None:
            continue
        codes = match.group("codes")
        prefixes = ALL if codes is None else frozenset(re.split(r"[\s,]+", codes.upper()))
        silenced[line] = silenced.get(line, frozenset()) | prefixes
    return silenced


def is_silenced(silenced: Silenced, line: int, code: str) -> bool:
    """Whether a finding of `code` on `line` is silenced."""
    return any(code.startswith(prefix) for prefix in silenced.get(line, ()))


def _comments(source: str | bytes) -> Iterator[tuple[int, str]]:
    if isinstance(source, bytes):
        tokens = tokenize.tokenize(io.BytesIO(source).readline)
    else:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    try:
        for token in tokens:
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string
    except (tokenize.TokenError, SyntaxError):  # the parser has reported it already
        return
