"""Actions from the page: answer a callback; stop, resume or rerun an execution.

Each is a POST that is carried out only when all of these hold:

- the app was made with `allow_actions` (`durable-engine ui --allow-actions`);
- the request comes from the page itself: an `Origin` header, when the browser sends
  one, names this server, and `Sec-Fetch-Site`, when sent, is not cross-site;
- the form carries the token printed at start, and so does the cookie (`SameSite=Strict`,
  set when the page is opened with `?token=`): another site can make a browser send
  neither, nor read the token off a page.

Anything else is refused with 403 and changes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .._engine import Engine
from .._errors import CallbackNotFound, DurableError, ExecutionNotFound
from ._render import Page, has_token, render

__all__ = ["routes"]

T = TypeVar("T")

MAX_FORM_BYTES = 4 * 1024 * 1024
"""More than a callback's result may hold (the engine's payload limit is 256 KiB)."""


class Refused(Exception):
    """An action that is not carried out: its HTTP status and why."""

    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message


Form = dict[str, str]
Action = Callable[[Request, Engine, Form], Awaitable[str]]
"""Carries the action out; returns where to send the browser next."""


def routes() -> list[Route]:
    return [
        Route("/callbacks/{callback_id}/succeed", _guarded(_succeed), methods=["POST"]),
        Route("/callbacks/{callback_id}/fail", _guarded(_fail), methods=["POST"]),
        Route("/executions/{execution_id}/stop", _guarded(_stop), methods=["POST"]),
        Route("/executions/{execution_id}/resume", _guarded(_resume), methods=["POST"]),
        Route("/executions/{execution_id}/rerun", _guarded(_rerun), methods=["POST"]),
    ]


def _guarded(action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            form = await _checked_form(request)
            target = await action(request, request.app.state.engine, form)
        except Refused as refused:
            context = {"heading": refused.heading, "message": refused.message}
            return render(request, Page("message.html", context, status=refused.status))
        return RedirectResponse(target, status_code=303)

    return endpoint


async def _checked_form(request: Request) -> Form:
    """The request's form, once it is known to be allowed; raises Refused."""
    state = request.app.state
    if not state.allow_actions:
        raise Refused(
            403, "Actions are off", "This page only shows: start it with --allow-actions to act."
        )
    _same_origin(request)
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise Refused(413, "Too large", f"A form may hold at most {MAX_FORM_BYTES} bytes.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "Too large", f"A form may hold at most {MAX_FORM_BYTES} bytes.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "Bad form", "The form is not UTF-8 text.") from None
    form = {key: values[-1] for key, values in parsed.items()}
    given = form.get("token", "")
    if not (has_token(request) and secrets.compare_digest(given.encode(), state.token.encode())):
        raise Refused(
            403,
            "Wrong or missing token",
            "Open the page with the link the ui command printed (it holds the token), "
            "then try again.",
        )
    return form


def _same_origin(request: Request) -> None:
    """Refuse a request another site made the browser send."""
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            raise Refused(403, "Cross-site request refused", f"Requests from {origin} cannot act.")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Refused(403, "Cross-site request refused", "Only this page's own forms can act.")


def _back(form: Form, default: str) -> str:
    """Where the form asked to go back to: a path on this server, else `default`."""
    target = form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _json(form: Form, key: str) -> Any:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(400, "Not JSON", f"The {key} is not valid JSON: {exc}") from None


async def _succeed(request: Request, engine: Engine, form: Form) -> str:
    callback_id = request.path_params["callback_id"]
    result = _json(form, "result")
    await _carry_out(engine.send_callback_success(callback_id, result))
    return _back(form, "/callbacks")


async def _fail(request: Request, engine: Engine, form: Form) -> str:
    callback_id = request.path_params["callback_id"]
    await _carry_out(
        engine.send_callback_failure(
            callback_id,
            error_type=form.get("error_type", ""),
            message=form.get("message", ""),
            data=_json(form, "data"),
        )
    )
    return _back(form, "/callbacks")


async def _stop(request: Request, engine: Engine, form: Form) -> str:
    execution_id = request.path_params["execution_id"]
    await _carry_out(engine.stop(execution_id))
    return f"/executions/{quote(execution_id, safe='')}"


async def _resume(request: Request, engine: Engine, form: Form) -> str:
    execution_id = request.path_params["execution_id"]
    await _carry_out(engine.resume(execution_id))
    return f"/executions/{quote(execution_id, safe='')}"


async def _rerun(request: Request, engine: Engine, form: Form) -> str:
    handle = await _carry_out(engine.rerun(request.path_params["execution_id"]))
    return f"/executions/{quote(handle.execution_id, safe='')}"


async def _carry_out(call: Awaitable[T]) -> T:
    """Await the engine's call; its refusal (an unknown id, a callback no longer
    pending, an execution that already ended) becomes the page's answer."""
    try:
        return await call
    except (ExecutionNotFound, CallbackNotFound) as exc:
        raise Refused(404, type(exc).__name__, str(exc)) from None
    except DurableError as exc:
        raise Refused(409, type(exc).__name__, str(exc)) from None
