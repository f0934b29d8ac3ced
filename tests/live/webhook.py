"""The live tests' Alertmanager webhook receiver: aiohttp on a free loopback port.

Rendered with ``webhook_override_url``, every Alertmanager receiver posts here under its
own name, so a test can check which receiver a page reached. Each notification is kept
with the monotonic time it arrived.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Delivery:
    """One alert as one notification delivered it."""

    receiver: str
    status: str  # the alert's own status: firing or resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    received_at: float  # time.monotonic()

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class WebhookReceiver:
    """Start with ``with WebhookReceiver() as hook:``; post to ``hook.url``."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self.notifications: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="webhook", daemon=True)
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        with self._cond:
            self.notifications.append(body)
            for alert in body.get("alerts", []):
                self.deliveries.append(Delivery(
                    receiver=str(body.get("receiver", "")),
                    status=str(alert.get("status", "")),
                    labels=dict(alert.get("labels", {})),
                    annotations=dict(alert.get("annotations", {})),
                    received_at=now,
                ))
            self._cond.notify_all()
        return web.Response(text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/alerts", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, self._sock)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> WebhookReceiver:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("webhook receiver did not start in 10 s")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def find(self, predicate: Callable[[Delivery], bool]) -> list[Delivery]:
        with self._cond:
            return [d for d in self.deliveries if predicate(d)]

    def wait_for(self, predicate: Callable[[Delivery], bool], timeout: float,
                 what: str = "a delivery") -> Delivery:
        """The first delivery matching ``predicate``, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for delivery in self.deliveries:
                    if predicate(delivery):
                        return delivery
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({(d.receiver, d.name, d.status) for d in self.deliveries})
                    raise AssertionError(f"no {what} within {timeout:.0f}s; received: {seen}")
                self._cond.wait(left)

    def wait_for_alert(self, name: str, receiver: str | None = None, timeout: float = 30.0,
                       status: str = "firing", **labels: str) -> Delivery:
        """The first ``status`` delivery of alert ``name`` (to ``receiver``, with ``labels``)."""
        def match(d: Delivery) -> bool:
            return (d.name == name and d.status == status
                    and (receiver is None or d.receiver == receiver)
                    and all(d.labels.get(k) == v for k, v in labels.items()))

        where = f" to {receiver}" if receiver else ""
        return self.wait_for(match, timeout, what=f"{status} {name}{where} {labels or ''}")
