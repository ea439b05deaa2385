"""Spans printed as an indented tree, and written to a file as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def trace_tree(spans: Sequence[ReadableSpan]) -> str:
    """Each span under its parent, in start order, with its ids and attributes."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        parent = s.parent.span_id if s.parent and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in by_parent.get(parent, []):
            attrs = {
                k.removeprefix("durable_engine."): v
                for k, v in (s.attributes or {}).items()
                if k not in ("durable_engine.execution_id", "durable_engine.function")
            }
            shown = " ".join(f"{k}={v}" for k, v in attrs.items())
            lines.append(
                f"{'  ' * depth}{s.name}  trace={s.context.trace_id:032x} "
                f"span={s.context.span_id:016x}  {shown}".rstrip()
            )
            walk(s.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)


class JsonLinesExporter(SpanExporter):
    """Writes each span as one JSON line as soon as it ends (a killed process keeps the
    spans it exported)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a") as f:
            for s in spans:
                f.write(json.dumps(span_json(s)) + "\n")
                f.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_json(s: ReadableSpan) -> dict[str, Any]:
    return {
        "name": s.name,
        "trace_id": f"{s.context.trace_id:032x}",
        "span_id": f"{s.context.span_id:016x}",
        "parent_span_id": None if s.parent is None else f"{s.parent.span_id:016x}",
        "attributes": dict(s.attributes or {}),
    }
