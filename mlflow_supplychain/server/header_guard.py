"""Drop request headers whose names contain an underscore, before MLflow sees the request.

WSGI turns both ``X-Remote-User`` and ``X_Remote_User`` into ``HTTP_X_REMOTE_USER``, so behind
a proxy that sets the first and passes the second through untouched, a client could choose
its identity (and MLflow's workspace header the same way). gunicorn (``header_map = drop``)
and waitress already drop such headers; uvicorn, MLflow's default server, does not, and the
ASGI-to-WSGI bridge then folds them. This ASGI middleware, the outermost layer of our app
under uvicorn, makes uvicorn behave like gunicorn: the exact configured spelling is the only
one that reaches :mod:`mlflow_supplychain.registry.caller`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_logger = logging.getLogger(__name__)


def without_underscore_headers(headers: list[tuple[bytes, bytes]]
                               ) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The headers to keep, and the names dropped."""
    kept = [(k, v) for k, v in headers if b"_" not in k]
    dropped = [k.decode("latin-1") for k, _ in headers if b"_" in k]
    return kept, dropped


class UnderscoreHeaderGuard:
    """ASGI middleware: HTTP requests lose every header with ``_`` in its name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        # uvicorn and tests may look at the wrapped FastAPI app's attributes (routes, state)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            kept, dropped = without_underscore_headers(list(scope.get("headers") or ()))
            if dropped:
                _logger.warning("dropped request header(s) with an underscore in the name: %r "
                                "(ambiguous under WSGI; send the dashed spelling)",
                                sorted(set(dropped))[:5])
                scope = dict(scope, headers=kept)
        await self.app(scope, receive, send)
