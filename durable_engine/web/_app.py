"""The web application: an ASGI app (Starlette) on one engine's database.

Pages are rendered on the server with Jinja2, which escapes every value it puts into
HTML: an execution's input is whatever its caller sent. Every page is sent with a
Content-Security-Policy that runs no script but the page's own (a nonce), so text
that slipped through would still not run. Actions are in `_actions`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .._display import readable
from .._engine import Engine
from .._errors import ExecutionNotFound
from .._models import ExecutionInfo, ExecutionStatus
from .._views import OperationInfo
from . import _actions
from ._render import TOKEN_COOKIE, Page, render
from ._view import cut, iso, pending_callbacks, timeline, waits_for

__all__ = ["create_app"]

PAGE_SIZE = 25
REFRESH_SECONDS = 5
CALLBACK_SCAN = 200
"""How many of the newest waiting executions the callbacks page looks into."""

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return f"{(end - start).total_seconds():.3f}s"


_TEMPLATES.globals.update(iso=iso, seconds=_seconds)


def create_app(
    engine_or_db: Engine | str | os.PathLike[str],
    *,
    allow_actions: bool = False,
    token: str | None = None,
) -> Starlette:
    """The web page on `engine_or_db`: an Engine, or the path of a database file.

    Given a path, the app opens an engine on it that runs nothing (`serve=False`) while
    the app runs. Given an Engine, the app opens it while it runs if it is not open
    already (and closes it after), and otherwise uses it as it is, on its own loop.
    With `allow_actions`, the pages can answer callbacks and stop, resume or rerun
    executions, behind `token` (made here if None: read it from `app.state.token`)."""
    if isinstance(engine_or_db, Engine):
        engine = engine_or_db
    else:
        path = os.fspath(engine_or_db)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no database file at {path}")
        engine = Engine(path)
        engine.serve = False
    if allow_actions and token is None:
        token = secrets.token_urlsafe(32)
    if allow_actions and not token:
        raise ValueError("allow_actions needs a token that is not empty")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = not engine.is_open
        if owned:
            await engine.open()
        try:
            yield
        finally:
            if owned:
                await engine.close()

    routes = [
        Route("/", _page(_executions_page)),
        Route("/executions/{execution_id}", _page(_execution_page)),
        Route("/executions/{execution_id}/{part:str}", _whole_value),
        Route("/executions/{execution_id}/operations/{op_id:path}", _whole_operation),
        Route("/callbacks", _page(_callbacks_page)),
        *_actions.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    app.state.allow_actions = allow_actions
    app.state.token = token if allow_actions else None
    app.state.templates = _TEMPLATES
    return app


PageHandler = Callable[[Request, Engine], Awaitable[Page]]


def _page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: a `?token=` the page was opened with becomes a cookie (and leaves
    the address bar), then `handler` says what to show."""

    async def endpoint(request: Request) -> Response:
        state = request.app.state
        given = request.query_params.get("token")
        if given is not None and state.allow_actions:
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            if not secrets.compare_digest(given.encode(), state.token.encode()):
                return render(request, Page("message.html", _wrong_token(), status=403))
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                TOKEN_COOKIE, state.token, httponly=True, samesite="strict", path="/"
            )
            return response
        try:
            page = await handler(request, state.engine)
        except ExecutionNotFound as exc:
            page = Page("message.html", {"heading": "Not found", "message": str(exc)}, status=404)
        return render(request, page)

    return endpoint


def _wrong_token() -> dict[str, Any]:
    return {
        "heading": "Wrong token",
        "message": "That is not the token this page printed when it started.",
    }


async def _executions_page(request: Request, engine: Engine) -> Page:
    q = request.query_params
    notice = None
    status: ExecutionStatus | None = None
    if q.get("status"):
        try:
            status = ExecutionStatus(q["status"].upper())
        except ValueError:
            notice = f"There is no status {q['status']!r}: showing every status."
    function = q.get("function") or None
    name = q.get("name") or None
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    # The engine lists the newest first up to a limit: a page is the tail of that list.
    found = await engine.list_executions(
        status, function, name=name, limit=page * PAGE_SIZE + 1, newest_first=True
    )
    rows = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    kept = {"status": status.value if status else "", "function": function or "", "name": name}

    def url(to: int) -> str:
        query = {k: v for k, v in {**kept, "page": str(to)}.items() if v and v != "1"}
        return "/" + (f"?{urlencode(query)}" if query else "")

    return Page(
        "executions.html",
        {
            "nav": "executions",
            "rows": rows,
            "statuses": [s.value for s in ExecutionStatus],
            "status": kept["status"],
            "function": function,
            "name": name,
            "page": page,
            "prev_url": url(page - 1) if page > 1 else None,
            "next_url": url(page + 1) if len(found) > page * PAGE_SIZE else None,
            "notice": notice,
            "refresh": REFRESH_SECONDS,
        },
    )


async def _execution_page(request: Request, engine: Engine) -> Page:
    execution_id = request.path_params["execution_id"]
    info = await engine.get_execution(execution_id)
    ops = await engine.get_operations(execution_id)
    history = [
        {"op": op, "depth": op.operation_id.count("/"), "outcome": cut(_outcome(op), 120)}
        for top in ops
        for op in top.walk()
    ]
    return Page(
        "execution.html",
        {
            "nav": "executions",
            "e": info,
            "here": f"/executions/{execution_id}",
            "input": cut(info.input),
            "result": cut(info.result),
            "error": cut(info.error),
            "custom_status": cut(info.custom_status),
            "waits": [] if info.status.is_terminal else waits_for(ops),
            "bars": timeline(info, ops, datetime.now(UTC)),
            "history": history,
            "refresh": None if info.status.is_terminal else REFRESH_SECONDS,
        },
    )


def _outcome(op: OperationInfo) -> Any:
    if op.error is not None:
        return op.error
    return op.result if op.status.is_terminal else ""


async def _callbacks_page(request: Request, engine: Engine) -> Page:
    waiting: list[ExecutionInfo] = []
    for status in (ExecutionStatus.SUSPENDED, ExecutionStatus.RUNNING):
        waiting += await engine.list_executions(status, limit=CALLBACK_SCAN, newest_first=True)
    waiting.sort(key=lambda e: e.created_at, reverse=True)
    looked_at = waiting[:CALLBACK_SCAN]
    callbacks = []
    for info in looked_at:
        with contextlib.suppress(ExecutionNotFound):
            callbacks += pending_callbacks(info, await engine.get_operations(info.execution_id))
    return Page(
        "callbacks.html",
        {
            "nav": "callbacks",
            "callbacks": callbacks,
            "looked_at_most": CALLBACK_SCAN if len(waiting) >= CALLBACK_SCAN else None,
        },
    )


async def _whole_value(request: Request) -> Response:
    """An execution's input, result, error or custom status in full, as plain text."""
    engine: Engine = request.app.state.engine
    part = request.path_params["part"]
    if part not in ("input", "result", "error", "custom_status"):
        return _text(f"an execution has no {part!r} to show", 404)
    try:
        info = await engine.get_execution(request.path_params["execution_id"])
    except ExecutionNotFound as exc:
        return _text(str(exc), 404)
    return _text(readable(getattr(info, part)))


async def _whole_operation(request: Request) -> Response:
    """An operation's result or error in full, as plain text."""
    engine: Engine = request.app.state.engine
    op_id = request.path_params["op_id"]
    try:
        ops = await engine.get_operations(request.path_params["execution_id"])
    except ExecutionNotFound as exc:
        return _text(str(exc), 404)
    for op in (node for top in ops for node in top.walk()):
        if op.operation_id == op_id:
            return _text(readable(_outcome(op)))
    return _text(f"the execution has no operation {op_id!r}", 404)


def _text(text: str, status: int = 200) -> Response:
    """Plain text the browser must not take for anything else."""
    return PlainTextResponse(
        text,
        status_code=status,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
