"""ASGI instrumentation for any framework: a pure ASGI middleware and a ``/metrics`` app.

Imports no framework. The route label comes from ``scope["route"].path`` where the
framework sets it (Starlette and FastAPI do, during routing), with the paths of the
mounts above it (and of FastAPI's router inclusions), else "other"; the raw path is
never a label::

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


_MAX_MOUNT_DEPTH = 16


def _mounted_path(routes: Any, target: Any, prefix: str, depth: int) -> str | None:
    """The paths from ``routes`` down to ``target`` (a route or a mounted app), joined."""
    if depth > _MAX_MOUNT_DEPTH:
        return None
    for route in routes:
        path = getattr(route, "path", "")
        path = path if isinstance(path, str) else ""
        if route is target or getattr(route, "app", None) is target:
            return prefix + path
        children = getattr(route, "routes", None)
        if children:
            found = _mounted_path(children, target, prefix + path, depth + 1)
            if found is not None:
                return found
    return None


class RouteTemplates:
    """The route label of a request: its route's template, mounts included, else "other".

    Starlette's routers set ``scope["route"]`` at each level (a ``Mount("/api")``, then
    the route inside it) and the outermost one sets ``scope["router"]``. The template of
    the route that handled the request is found once by walking the outer router down to
    it (``/api/items/{id}``) and kept per route object, so a request costs one lookup.
    A route of a FastAPI router included at a prefix is kept per inclusion instead.
    A mount whose routes matched nothing is "other", as an unmatched path is; a mount
    without routes (static files) is its own path. One router object mounted at two
    prefixes has one set of route objects: its routes take the first mount's template.
    """

    def __init__(self, max_routes: int = 4096) -> None:
        self._known: dict[int, tuple[Any, str]] = {}  # id -> (route kept alive, template)
        self._max = max_routes

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return OTHER
        fastapi = scope.get("fastapi")  # FastAPI's context of the route as included
        key = (fastapi.get("effective_route_context") or route) if fastapi else route
        known = self._known.get(id(key))
        if known is not None and known[0] is key:
            return known[1]
        template = self._template(scope, route, key)
        if len(self._known) >= self._max:
            self._known.clear()
        self._known[id(key)] = (key, template)
        return template

    @staticmethod
    def _template(scope: Scope, route: Any, key: Any) -> str:
        if getattr(route, "routes", None):
            return OTHER  # a mount: nothing inside it matched
        router = scope.get("router")
        routes = getattr(router, "routes", ()) if router is not route else ()
        included = getattr(key, "path_format", None) if key is not route else None
        if isinstance(included, str):
            # FastAPI does not copy an included router: one route object serves every
            # prefix it is included at, its own path has none of them, and the context
            # of this inclusion (``scope["fastapi"]``) has the full template. Above it,
            # the mounts down to the innermost app, the one that included the route.
            app = scope.get("app")
            mounts = _mounted_path(routes, app, "", 0) if app is not None else None
            return (mounts or "") + included or OTHER
        found = _mounted_path(routes, route, "", 0)
        if found is None:
            found = getattr(route, "path", None)
        return found if isinstance(found, str) and found else OTHER


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
        self._templates = RouteTemplates()

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
            instr.record_exception(scope["method"], self._templates(scope))
            if not status:
                status = 500  # the server answers 500 for an exception before headers
            raise
        finally:
            self._in_flight.dec()
            if status:
                tenant = self._tenant(scope) if self._tenants else ""
                instr.record_request(
                    scope["method"],
                    self._templates(scope),
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
