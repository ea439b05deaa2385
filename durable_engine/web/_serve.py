"""Serving the page with uvicorn: what `durable-engine ui` runs."""

from __future__ import annotations

import ipaddress
import secrets
import sys

import uvicorn
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .._engine import Engine
from ._app import create_app

__all__ = ["serve"]

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def serve(engine: Engine, *, host: str, port: int, allow_actions: bool) -> int:
    """Serve the page on `host`:`port` until SIGINT or SIGTERM; returns 0.

    It prints where it listens and, with `allow_actions`, the token (and a link that
    holds it) that actions need."""
    token = secrets.token_urlsafe(32) if allow_actions else None
    app = create_app(engine, allow_actions=allow_actions, token=token)
    if _is_loopback(host):
        # A page on this machine only answers to this machine's names: a site whose name
        # was pointed at 127.0.0.1 (DNS rebinding) gets no page to read.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*_LOOPBACK_NAMES, host])
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"durable-engine ui: {url} (database {engine.path})")
    if token is not None:
        print(f"actions allowed with the token {token}")
        print(f"open {url}?token={token} to use them")
    else:
        print(
            "read-only: start with --allow-actions to answer callbacks and stop, resume or "
            "rerun executions"
        )
    sys.stdout.flush()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()
    return 0


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
