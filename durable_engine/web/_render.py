"""Rendering a page: the context every template gets, and the headers every page has."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["TOKEN_COOKIE", "Page", "has_token", "render"]

TOKEN_COOKIE = "durable_engine_token"


@dataclass(frozen=True, slots=True)
class Page:
    """A template to render, what it shows, and the HTTP status to send it with."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


def has_token(request: Request) -> bool:
    """Whether the request's cookie holds this app's action token."""
    token: str | None = request.app.state.token
    given = request.cookies.get(TOKEN_COOKIE)
    return (
        token is not None
        and given is not None
        and secrets.compare_digest(given.encode(), token.encode())
    )


def render(request: Request, page: Page) -> HTMLResponse:
    """`page` as HTML, with a Content-Security-Policy that runs only its own script."""
    state = request.app.state
    nonce = secrets.token_urlsafe(16)
    unlocked = has_token(request)
    actions = "on" if unlocked else "locked"  # what the page offers: forms, or a token box
    if not state.allow_actions:
        actions = "off"
    context = {
        "nav": None,
        "notice": None,
        "refresh": None,
        "db": state.engine.path,
        "actions": actions,
        "token": state.token if unlocked else "",
        "nonce": nonce,
        **page.context,
    }
    html = state.templates.get_template(page.template).render(context)
    policy = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; "
        "style-src 'unsafe-inline'; "
        "img-src 'self' data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return HTMLResponse(
        html,
        status_code=page.status,
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",  # "no-referrer" makes a form's Origin "null"
            "Cache-Control": "no-store",
        },
    )
