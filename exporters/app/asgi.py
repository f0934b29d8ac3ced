"""ASGI instrumentation for any framework: a pure ASGI middleware and a ``/metrics`` app.

Imports no framework. The route label comes from ``scope["route"].path`` where the
framework sets it (Starlette and FastAPI do, during routing), else "other"; the raw
path is never a label::

    app = PrometheusMiddleware(app, instr)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from exporters.app.exposition import CONTENT_TYPE, render
from exporters.app.instrument import Instrumentation
from exporters.app.metrics import OTHER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else OTHER


class PrometheusMiddleware:
    """Records each HTTP request; other scopes (lifespan, websocket) pass through."""

    def __init__(
        self,
        app: ASGIApp,
        instr: Instrumentation,
        exclude: frozenset[str] = frozenset({"/metrics"}),
    ) -> None:
        self.app = app
        self.instr = instr
        self.exclude = exclude
        self._in_flight = instr.in_flight
        self._tenant_header = instr.config.tenant_header.lower().encode("latin-1")
        self._tenants = bool(instr.config.tenants)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        instr = self.instr
        self._in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            instr.record_exception(scope["method"], route_template(scope))
            if not status:
                status = 500  # the server answers 500 for an exception before headers
            raise
        finally:
            self._in_flight.dec()
            if status:
                tenant = self._tenant(scope) if self._tenants else ""
                instr.record_request(
                    scope["method"],
                    route_template(scope),
                    status,
                    time.perf_counter() - start,
                    tenant,
                )

    def _tenant(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == self._tenant_header:
                return self.instr.tenant(value.decode("latin-1"))
        return ""


class MetricsApp:
    """An ASGI app answering every request with the exposition.

    A class, not a function, so routers that take either a request handler or an
    ASGI app (Starlette's ``Route``) see an ASGI app.
    """

    def __init__(self, instr: Instrumentation) -> None:
        self.instr = instr

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = render(self.instr.registry)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE.encode("latin-1"))],
            }
        )
        await send({"type": "http.response.body", "body": body})


def metrics_app(instr: Instrumentation) -> ASGIApp:
    """The exposition as an ASGI app (``Route("/metrics", metrics_app(instr))``)."""
    return MetricsApp(instr)
