"""ASGI instrumentation for any framework: a pure ASGI middleware and a ``/metrics`` app.

Imports no framework. The route label comes from ``scope["route"].path`` where the
framework sets it (Starlette and FastAPI do, during routing), with the paths of the
mounts above it, else "other"; the raw path is never a label::

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
    """The template of the route that handled ``scope``, mounts included, else "other".

    Starlette's routers set ``scope["route"]`` once per level: a ``Mount("/api")`` and
    then the route inside it (``/items/{id}``). A scope made by the middleware records
    each, and the template is their paths joined (``/api/items/{id}``). A mount whose
    routes matched nothing is "other", as an unmatched top-level path is; a mount
    without routes (static files) is its own path.
    """
    routes = scope.routes if isinstance(scope, _RecordingScope) else ()
    if not routes:
        route = scope.get("route")
        routes = [route] if route is not None else []
    if not routes or getattr(routes[-1], "routes", None):
        return OTHER
    parts = [getattr(route, "path", None) for route in routes]
    template = "".join(part for part in parts if isinstance(part, str))
    return template or OTHER


class _RecordingScope(dict[str, Any]):
    """A request's scope that remembers every route the routers matched, in order."""

    __slots__ = ("routes",)

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)
        self.routes: list[Any] = []

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "route":
            self.routes.append(value)
        super().__setitem__(key, value)


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
        outer, scope = scope, _RecordingScope(scope)
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
            outer.update(scope)  # what the app set stays visible to the layers outside
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
