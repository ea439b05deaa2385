"""A web page on an engine's database: its executions, one execution, pending callbacks.

Needs the `web` extra (`pip install "durable-engine[web]"`: Starlette, uvicorn and
Jinja2). `durable-engine ui --db PATH` serves it; `create_app` makes the ASGI app to
mount in a service of one's own.
"""

from __future__ import annotations

try:
    import jinja2  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - depends on what is installed
    raise ModuleNotFoundError(
        f"durable_engine.web needs the `web` extra ({exc.name} is not installed): "
        'pip install "durable-engine[web]"',
        name=exc.name,
    ) from exc

from ._app import create_app as create_app
from ._serve import serve as serve

__all__ = ["create_app", "serve"]
