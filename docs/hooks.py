"""MkDocs hooks: the command-line reference is generated from the CLI's own parser.

A page that holds the line `<!-- cli-reference -->` gets it replaced by one section per
verb (usage, arguments, options), read from `durable_engine._cli.build_parser()` at
build time, so the reference cannot drift from the parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- cli-reference -->"
WIDTH = 76  # what a code block of the site shows without scrolling

# The reference describes the source tree being built, not an installed copy.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    from durable_engine._cli import build_parser

    return markdown.replace(MARKER, cli_reference(build_parser()))


def cli_reference(parser: argparse.ArgumentParser) -> str:
    """Markdown for the whole command: its usage, common options, then each verb."""
    verbs = _verbs(parser)
    common = _common_options(verbs.values())
    out = [_usage(parser), "", parser.description or "", ""]
    out += _table([a for a in parser._actions if _shown(a)])
    out += ["", "## Options every verb takes", ""]
    any_verb = next(iter(verbs.values()))
    out += _table([a for a in any_verb._actions if a.dest in common])
    for name, verb in verbs.items():
        out += ["", f"## `{name}`", "", verb.description or "", "", _usage(verb)]
        own = [a for a in verb._actions if _shown(a) and a.dest not in common]
        if own:
            out += ["", *_table(own)]
    return "\n".join(out) + "\n"


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise ValueError("the parser has no verbs")


def _shown(action: argparse.Action) -> bool:
    return not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)


def _common_options(verbs: Iterable[argparse.ArgumentParser]) -> set[str]:
    """The options (by dest) that every verb takes, --app aside (its meaning varies)."""
    sets = [{a.dest for a in v._actions if a.option_strings and _shown(a)} for v in verbs]
    return set.intersection(*sets) - {"app"}


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return f"```text\n{formatter.format_help().strip()}\n```"


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = ["| argument | meaning |", "|---|---|"]
    for action in actions:
        rows.append(f"| {_name(action)} | {_escape(_meaning(action))} |")
    return rows


def _name(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    flag = ", ".join(action.option_strings)
    takes = action.nargs != 0
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    return f"`{flag} {metavar}`" if takes and metavar else f"`{flag}`"


def _meaning(action: argparse.Action) -> str:
    if isinstance(action, argparse._VersionAction):
        return "print the installed version and exit"
    parts = [action.help] if action.help and action.help != argparse.SUPPRESS else []
    if action.choices is not None:
        parts.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        parts.append("required")
    shows_default = action.default not in (None, False, argparse.SUPPRESS)
    if shows_default and action.nargs != 0 and "default" not in (action.help or ""):
        parts.append(f"default `{action.default}`")
    return "; ".join(parts)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
