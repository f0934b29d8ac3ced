"""aiohttp server instrumentation: the request middleware and the ``/metrics`` handler.

The route label is the matched resource's template (``/items/{id}``), never the raw
path; requests that match no route are labelled "other". ``setup(app, instr)`` adds
both in one call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from exporters.app.exposition import CONTENT_TYPE, render
from exporters.app.instrument import Instrumentation
from exporters.app.metrics import OTHER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    """The matched route's template, or "other" when nothing matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else OTHER


def middleware(
    instr: Instrumentation, exclude: frozenset[str] = frozenset({"/metrics"})
) -> Middleware:
    """The middleware recording requests, durations, in-flight and unhandled exceptions."""
    in_flight = instr.in_flight
    header = instr.config.tenant_header
    tenants = bool(instr.config.tenants)
    record = instr.record_request
    perf_counter = time.perf_counter

    @web.middleware
    async def prometheus_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else OTHER
        if route in exclude:
            return await handler(request)
        tenant = instr.tenant(request.headers.get(header)) if tenants else ""
        in_flight.inc()
        start = perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 0  # the client went away; not a response of ours
            raise
        except Exception:
            instr.record_exception(request.method, route)
            raise
        finally:
            in_flight.dec()
            if status:
                record(request.method, route, status, perf_counter() - start, tenant)

    return prometheus_middleware


def metrics_handler(instr: Instrumentation) -> Handler:
    """A handler serving the exposition (every worker's, in multi-process mode)."""

    async def handle_metrics(request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, render, instr.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle_metrics


def setup(
    app: web.Application,
    instr: Instrumentation,
    path: str = "/metrics",
    exclude: Iterable[str] = (),
) -> None:
    """Instrument ``app`` and mount the exposition at ``path``. ``exclude`` names further
    route templates not counted as requests, e.g. a health endpoint: its answers are the
    probe's signal, and counting them again would let health checks make up traffic and
    turn an unhealthy answer into request errors as well."""
    app.middlewares.append(middleware(instr, exclude=frozenset({path, *exclude})))
    app.router.add_get(path, metrics_handler(instr))
