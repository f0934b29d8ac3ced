"""The base of a multi-target exporter's collector, through a fault proxy.

``PingTarget`` is a whole third database exporter's collector on the base: it
connects with plain asyncio streams to Redis through the proxy and sends ``PING``.
What it does not write (reconnecting, one retry on a stale connection, the up/down log
line, single flight, close) is what these tests check.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client.core import GaugeMetricFamily, Metric

from exporters.spec import ScrapeContext, Settings
from exporters.targets import (
    Failure,
    Outcome,
    Target,
    TargetCollector,
    close_targets,
    find_target,
)
from tests.database.proxy import FaultProxy

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PingTarget(TargetCollector[Conn, str]):
    name = "ping"
    log = logging.getLogger("promfleet.exporters.ping")
    errors = (OSError, ConnectionError, asyncio.IncompleteReadError)

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.connects = 0
        self.queries = 0

    async def connect(self, deadline: float) -> Conn:
        self.connects += 1
        host, port = self._target.locator.split(":")
        return await asyncio.open_connection(host, int(port))

    async def query(self, conn: Conn, deadline: float) -> str:
        self.queries += 1
        reader, writer = conn
        writer.write(b"PING\r\n")
        await writer.drain()
        line = await reader.readuntil(b"\r\n")
        if not line:
            raise ConnectionError("closed")
        return line.decode().strip()

    def judge(self, err: BaseException, connected: bool) -> Failure:
        return Failure(f"{type(err).__name__}: {err}", stale=True)

    def is_open(self, conn: Conn) -> bool:
        return not conn[1].is_closing()

    async def disconnect(self, conn: Conn) -> None:
        conn[1].close()

    def disconnect_now(self, conn: Conn) -> None:
        conn[1].close()

    def families(self, outcome: Outcome[str]) -> list[Metric]:
        up = GaugeMetricFamily("ping_up", "", labels=["target"])
        up.add_metric([self.target], 1.0 if outcome.up and outcome.data == "+PONG" else 0.0)
        return [up]


def up_of(families: object) -> float:
    (family,) = families  # type: ignore[misc]
    return float(family.samples[0].value)


async def scrape(c: PingTarget, timeout: float = 2.0) -> float:
    return up_of(await c.collect(ScrapeContext.with_timeout(timeout)))


def test_a_cut_idle_connection_is_retried_once_on_a_fresh_one_and_a_gone_server_is_down(
    redis_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="promfleet.exporters.ping")

    async def go() -> tuple[list[float], int, int]:
        c = PingTarget(Target("cache", f"127.0.0.1:{redis_proxy.port}"))
        try:
            ups = [await scrape(c)]
            redis_proxy.set("pass")  # cuts the kept-alive connection, as a restart would
            ups.append(await scrape(c))
            redis_proxy.set("refuse")
            ups.append(await scrape(c))
            ups.append(await scrape(c))
            redis_proxy.set("pass")
            ups.append(await scrape(c))
            return ups, c.connects, c.queries
        finally:
            await c.close()

    ups, connects, queries = asyncio.run(go())
    assert ups == [1.0, 1.0, 0.0, 0.0, 1.0]
    # Connections: the first; the retry after the cut; at the refusal the cut kept-alive
    # one fails its query and the one retry is refused; the next scrape tries once
    # (no kept-alive connection, so no retry) and is refused; then one when it is back.
    assert (redis_proxy.accepted, connects) == (3, 5)
    # Queries: scrape 1; scrape 2 on the cut connection and its retry; scrape 3 on the
    # connection cut by the refusal; scrape 5.
    assert queries == 5
    lines = [(r.getMessage(), r.__dict__["fields"]["target"]) for r in caplog.records]
    # One line per change, none per scrape: up, down (refused), up again.
    assert lines == [("target up", "cache"), ("target scrape failed", "cache"),
                     ("target up", "cache")]
    failed = caplog.records[1].__dict__["fields"]
    assert "Connection" in failed["error"] or "refused" in failed["error"].lower()


def test_a_failure_on_a_fresh_connection_is_the_answer_without_a_retry(
    redis_proxy: FaultProxy,
) -> None:
    redis_proxy.set("reset")

    async def go() -> tuple[float, int]:
        c = PingTarget(Target("cache", f"127.0.0.1:{redis_proxy.port}"))
        try:
            return await scrape(c), c.connects
        finally:
            await c.close()

    up, connects = asyncio.run(go())
    assert (up, connects) == (0.0, 1)


def test_concurrent_scrapes_of_a_target_share_one_query(redis_proxy: FaultProxy) -> None:
    redis_proxy.set("slow", delay=0.05)

    async def go() -> tuple[list[float], int]:
        c = PingTarget(Target("cache", f"127.0.0.1:{redis_proxy.port}"))
        try:
            ups = await asyncio.gather(*(scrape(c) for _ in range(8)))
            return list(ups), c.queries
        finally:
            await c.close()

    ups, queries = asyncio.run(go())
    assert ups == [1.0] * 8
    assert queries == 1


def test_a_blackholed_target_is_down_by_the_deadline_and_its_connection_dropped(
    redis_proxy: FaultProxy,
) -> None:
    redis_proxy.set("blackhole")

    async def go() -> tuple[float, float, bool]:
        c = PingTarget(Target("cache", f"127.0.0.1:{redis_proxy.port}"))
        ctx = ScrapeContext.with_timeout(0.3)
        up = up_of(await c.collect(ctx))
        left = ctx.remaining()
        return up, left, c._conn is None

    up, _left, dropped = asyncio.run(go())
    assert up == 0.0
    assert dropped


def test_probe_finds_a_target_by_name_and_close_ends_every_connection(
    redis_proxy: FaultProxy,
) -> None:
    async def go() -> tuple[list[str], bool, bool]:
        a = PingTarget(Target("a", f"127.0.0.1:{redis_proxy.port}"))
        b = PingTarget(Target("b", f"127.0.0.1:{redis_proxy.port}"))
        await scrape(a)
        await scrape(b)
        found = [c.target for c in find_target(Settings("ping", {}), "b", (a, b))]
        writers = [c._conn[1] for c in (a, b) if c._conn is not None]
        close_targets((a, b))
        await asyncio.sleep(0)
        return found, all(w.is_closing() for w in writers) and len(writers) == 2, (
            a._conn is None and b._conn is None
        )

    found, closed, cleared = asyncio.run(go())
    assert found == ["b"]
    assert closed and cleared
    with pytest.raises(KeyError):
        find_target(Settings("ping", {}), "c", ())
