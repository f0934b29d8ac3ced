"""The HTTP side of an exporter: /metrics, /probe, /healthz, the landing page, TLS and auth.

Served with aiohttp on one event loop. Collectors run under the scrape deadline
(:mod:`exporters.runtime.scrape`); TLS is negotiated per connection with the current
context of the watched web config, so a rotated certificate applies to new connections.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import html
import inspect
import logging
import math
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporters.runtime.config import RuntimeConfig
from exporters.runtime.exposition import TextRenderer
from exporters.runtime.pool import WorkerPool
from exporters.runtime.scrape import Scraper
from exporters.runtime.webconfig import BasicAuth, WebConfigWatcher
from exporters.spec import Collector, ExporterDef, Settings, collector_enabled

_log = logging.getLogger("promfleet.runtime")

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
TLS_HANDSHAKE_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 15.0
# Prometheus caps scrape_timeout at scrape_interval; a header beyond this is a mistake
# or an attack, and would let one slow collector hold a request (and a task) for hours.
MAX_SCRAPE_TIMEOUT_S = 300.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Served:
    """What the handlers need; built once in :func:`serve`.

    ``active`` is what scrapes run: the built collectors less those whose collector
    switch is off (``--no-collector.<name>``); ``collectors`` are all of them, for close.
    """

    exporter: ExporterDef
    settings: Settings
    runtime: RuntimeConfig
    collectors: tuple[Collector, ...]
    active: tuple[Collector, ...] = field(init=False)

    def __post_init__(self) -> None:
        off = {c.name for c in self.exporter.collectors
               if not collector_enabled(self.settings, c)}
        object.__setattr__(
            self, "active", tuple(c for c in self.collectors if c.name not in off)
        )


def scrape_timeout(header: str | None, runtime: RuntimeConfig) -> float:
    """Seconds the collectors get: the Prometheus timeout less the offset, or the default."""
    if header:
        try:
            seconds = float(header)
        except ValueError:
            seconds = 0.0
        # "inf" or "nan" would mean no deadline at all: a hung collector would hang the scrape.
        if seconds > 0 and math.isfinite(seconds):
            seconds = min(seconds, MAX_SCRAPE_TIMEOUT_S)
            offset = runtime.timeout_offset_s
            return seconds - offset if seconds > offset else seconds / 2
    return runtime.default_timeout_s


def _wants_openmetrics(accept: str) -> bool:
    return "application/openmetrics-text" in accept


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether Accept-Encoding allows gzip: named with a non-zero q, or ``*`` if unnamed."""
    wildcard = False
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        if coding not in ("gzip", "*"):
            continue
        allowed = True
        if params:
            name, _, q = params.replace(" ", "").partition("=")
            try:
                allowed = name.lower() != "q" or float(q) > 0
            except ValueError:
                allowed = False  # a malformed weight: plain text is always acceptable
        if coding == "gzip":
            return allowed
        wildcard = allowed
    return wildcard


class App:
    def __init__(self, served: Served, watcher: WebConfigWatcher | None) -> None:
        self.served = served
        self.watcher = watcher
        self.auth = BasicAuth()
        self.pool = WorkerPool(max_workers=8, max_threads=64)
        self.scraper = Scraper(
            served.exporter.namespace, self.pool, multi_target=served.exporter.multi_target
        )
        self.renderer = TextRenderer()
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/", self.landing)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        if self.served.exporter.probe is not None:
            app.router.add_get("/probe", self.probe)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.inflight += 1
        self.idle.clear()
        try:
            headers: dict[str, str] = {}
            if self.watcher is not None:
                config = self.watcher.config()
                headers = dict(config.headers)
                if config.users and not await self._authorized(request, config.users):
                    return web.Response(
                        status=401,
                        text="Unauthorized\n",
                        headers={**headers, "WWW-Authenticate": 'Basic realm="promfleet"'},
                    )
            response = await handler(request)
            response.headers.update(headers)
            return response
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self.idle.set()

    async def _authorized(self, request: web.Request, users: Any) -> bool:
        header = request.headers.get("Authorization")
        known = self.auth.cached(header, users)
        if known is not None:
            return known
        # bcrypt takes ~100 ms by design: off the event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.auth.check, header, users)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def landing(self, request: web.Request) -> web.Response:
        exporter = self.served.exporter
        items = "".join(
            f"<li>{html.escape(c.name or type(c).__name__)}"
            + (f" (target {html.escape(c.target)})" if c.target else "")
            + "</li>"
            for c in self.served.active
        )
        probe = (
            '<li><a href="/probe?target=NAME">/probe?target=NAME</a></li>'
            if exporter.probe is not None
            else ""
        )
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>promfleet {html.escape(exporter.name)} exporter</title></head><body>"
            f"<h1>promfleet {html.escape(exporter.name)} exporter</h1>"
            f"<p>{html.escape(exporter.description)}</p>"
            f"<h2>Collectors</h2><ul>{items}</ul>"
            '<h2>Links</h2><ul><li><a href="/metrics">/metrics</a></li>'
            f'{probe}<li><a href="/healthz">/healthz</a></li></ul>'
            "</body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    async def _render(
        self, request: web.Request, collectors: Sequence[Collector], process: bool
    ) -> web.Response:
        timeout = scrape_timeout(request.headers.get(TIMEOUT_HEADER), self.served.runtime)
        families = await self.scraper.scrape(
            collectors, timeout, params=request.query, process_metrics=process
        )
        if _wants_openmetrics(request.headers.get("Accept", "")):
            body = generate_openmetrics(families)  # type: ignore[no-untyped-call]
            content_type = OPENMETRICS_CONTENT_TYPE
        else:
            body = self.renderer.render(families.families)
            content_type = TEXT_CONTENT_TYPE
        headers = {"Content-Type": content_type}
        if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def metrics(self, request: web.Request) -> web.Response:
        return await self._render(request, self.served.active, process=True)

    async def probe(self, request: web.Request) -> web.Response:
        probe = self.served.exporter.probe
        assert probe is not None
        target = request.query.get("target", "")
        if not target:
            return web.Response(status=400, text="missing parameter: target\n")
        try:
            collectors = probe(self.served.settings, target, self.served.active)
        except KeyError:
            return web.Response(status=400, text=f"unknown target: {target!r}\n")
        return await self._render(request, collectors, process=False)


class _TLSAcceptor(asyncio.Protocol):
    """Accepts a TCP connection, then hands it to aiohttp over TLS with the current context.

    A context per connection (not one fixed at bind time) is what lets a rotated
    certificate, CA or client-auth policy apply without a restart.
    """

    def __init__(self, factory: Callable[[], asyncio.Protocol], watcher: WebConfigWatcher) -> None:
        self._factory = factory
        self._watcher = watcher

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        asyncio.get_running_loop().create_task(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        context = self._watcher.ssl_context()
        protocol = self._factory()
        if context is None:
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            transport.resume_reading()
            return
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await asyncio.wait_for(
                loop.start_tls(transport, protocol, context, server_side=True),
                timeout=TLS_HANDSHAKE_TIMEOUT_S,
            )
        except (ssl.SSLError, OSError, TimeoutError) as err:
            _log.debug("TLS handshake failed", extra={"fields": {"error": repr(err)}})
            transport.abort()
            return
        if tls_transport is None:
            transport.abort()
            return
        protocol.connection_made(tls_transport)

    def data_received(self, data: bytes) -> None:  # reading is paused until the upgrade
        pass


def settle_heap() -> None:
    """Collect start-up garbage, then exempt what is left from future collections.

    Modules, collectors and the server are built once and live as long as the process;
    a full collection would walk all of them again (some 38,000 objects, 15 ms on a
    small VM), a pause that lands on whichever scrape is running: the p99. Frozen, a
    collection walks only what was allocated since, a scrape's short-lived families.
    """
    gc.collect()
    gc.freeze()


async def serve(served: Served, watcher: WebConfigWatcher | None) -> int:
    """Serve until SIGTERM/SIGINT, then finish in-flight scrapes (bounded) and return 0."""
    loop = asyncio.get_running_loop()
    app = App(served, watcher)
    runner = web.AppRunner(app.application(), handle_signals=False, access_log=None)
    await runner.setup()
    handler_factory = runner.server
    assert handler_factory is not None
    factory: Callable[[], asyncio.Protocol]
    if watcher is not None:
        factory = lambda: _TLSAcceptor(handler_factory, watcher)  # noqa: E731
    else:
        factory = handler_factory
    runtime = served.runtime
    try:
        server = await loop.create_server(
            factory, runtime.listen_host or None, runtime.listen_port, reuse_address=True
        )
    except OSError as err:
        _log.error(
            "cannot listen",
            extra={
                "fields": {
                    "address": f"{runtime.listen_host}:{runtime.listen_port}",
                    "error": f"{type(err).__name__}: {err}",
                }
            },
        )
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    settle_heap()
    addresses = [s.getsockname() for s in server.sockets]
    _log.info(
        "listening",
        extra={
            "fields": {
                "exporter": served.exporter.name,
                "addresses": [f"{a[0]}:{a[1]}" for a in addresses],
                "tls": bool(watcher and watcher.config().tls),
                "collectors": [c.name for c in served.active],
            }
        },
    )
    await stop.wait()
    _log.info("shutting down", extra={"fields": {"inflight": app.inflight}})
    server.close()  # stop accepting; in-flight scrapes go on
    started = time.monotonic()
    try:
        await asyncio.wait_for(app.idle.wait(), timeout=SHUTDOWN_GRACE_S)
    except TimeoutError:
        _log.warning(
            "in-flight requests cut off at shutdown", extra={"fields": {"inflight": app.inflight}}
        )
    await runner.cleanup()
    if served.exporter.close is not None:
        closing = served.exporter.close(served.collectors)
        if inspect.isawaitable(closing):  # drivers' close is often a coroutine
            try:
                await asyncio.wait_for(closing, timeout=SHUTDOWN_GRACE_S)
            except TimeoutError:
                _log.warning("exporter close cut off at shutdown")
    app.pool.shutdown(wait=False)
    _log.info("stopped", extra={"fields": {"drain_s": round(time.monotonic() - started, 3)}})
    return 0
