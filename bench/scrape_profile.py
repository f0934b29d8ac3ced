"""Where one database exporter scrape's CPU goes, piece by piece, in this process.

``python -m bench.scrape_profile [redis|postgres] [N]``: builds the exporter as
``python -m exporters NAME`` would, then times each piece of a scrape N times with
``time.process_time`` (CPU of this process only: the database server's work and the
wait for it are not counted):

- ``scrape``: the runtime's whole collect step (``Scraper.scrape``: every collector,
  the driver round trip with its parsing, family building, the runtime's own families);
- ``round trip``: the collector's ``query`` alone (driver send/receive and parsing);
- ``families``: building the families from one recorded outcome;
- ``process``: the ``process_*`` self-metrics;
- ``render``: the text exposition of the scrape's families;
- ``http``: one aiohttp request through the app's middleware to ``/healthz`` (the
  request/response floor), with aiohttp's request parsing and response writing, on an
  in-memory transport.

Prints a Markdown table: piece, µs per scrape, share of the sum.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

PG_DSN = os.environ.get("PROMFLEET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PROMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


Cpu = tuple[float, float]  # user, system seconds per call


def _per_call(before: os.times_result, n: int) -> Cpu:
    after = os.times()
    return (after.user - before.user) / n, (after.system - before.system) / n


# CPU times come in clock ticks (10 ms): each piece runs at least this long.
MIN_CPU_S = 0.5


def _enough(before: os.times_result) -> bool:
    after = os.times()
    return after.user + after.system - before.user - before.system >= MIN_CPU_S


async def _cpu_async(n: int, fn: Callable[[], Awaitable[Any]]) -> Cpu:
    for _ in range(20):
        await fn()
    before = os.times()
    done = 0
    while done < n or not _enough(before):
        for _ in range(100):
            await fn()
        done += 100
    return _per_call(before, done)


def _cpu(n: int, fn: Callable[[], Any]) -> Cpu:
    for _ in range(20):
        fn()
    before = os.times()
    done = 0
    while done < n or not _enough(before):
        for _ in range(100):
            fn()
        done += 100
    return _per_call(before, done)


async def profile(name: str, n: int) -> list[tuple[str, Cpu]]:
    from exporters.registry import load_exporter
    from exporters.runtime.config import resolve
    from exporters.runtime.server import App, Served
    from exporters.spec import ScrapeContext
    from exporters.targets import Outcome, work_deadline

    env = {"PROMFLEET_REDIS_URL": REDIS_URL, "PROMFLEET_POSTGRES_DSN": PG_DSN}
    exporter = load_exporter(name)
    runtime, settings, _ = resolve(exporter, [], env)
    collectors = tuple(exporter.build(settings))
    served = Served(exporter=exporter, settings=settings, runtime=runtime, collectors=collectors)
    app = App(served, None)
    target: Any = collectors[0]

    async def scrape() -> Any:
        return await app.scraper.scrape(served.active, 10.0)

    families = (await scrape()).families
    body = app.renderer.render(families)
    async def round_trip() -> Any:
        ctx = ScrapeContext.with_timeout(10.0)
        return await target.query(target._conn, work_deadline(ctx.deadline))

    outcome = Outcome(True, await round_trip())

    pieces = {
        "scrape (all collectors + runtime families)": await _cpu_async(n, scrape),
        "  of which: driver round trip + parse": await _cpu_async(n, round_trip),
        "  of which: building families": _cpu(n, lambda: target.families(outcome)),
        "  of which: process self-metrics": _cpu(n, app.scraper._process.collect),
    }
    whole = pieces["scrape (all collectors + runtime families)"]
    subs = [v for k, v in pieces.items() if k.startswith("  ")]
    pieces["  of which: the rest (tasks, single flight, deadline timers, scrape_collector_*)"] = (
        whole[0] - sum(u for u, _ in subs), whole[1] - sum(s for _, s in subs))
    pieces |= {
        "render text exposition": _cpu(n, lambda: app.renderer.render(families)),
        "HTTP request/response (aiohttp, /healthz)": await _http_floor(app, n),
    }
    await target.close()
    lines = body.splitlines()
    samples = sum(1 for line in lines if line and not line.startswith(b"#"))
    print(f"{name}: {samples} samples, {len(body)} bytes", file=sys.stderr)
    return list(pieces.items())


async def _http_floor(app: Any, n: int) -> Cpu:
    """CPU of one keep-alive GET /healthz through aiohttp on an in-memory transport."""
    from aiohttp import web

    runner = web.AppRunner(app.application(), handle_signals=False, access_log=None)
    await runner.setup()
    server = runner.server
    assert server is not None
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] | None = None

    class Transport(asyncio.Transport):
        def write(self, data: Any) -> None:
            if done is not None and not done.done():
                done.set_result(None)

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("127.0.0.1", 1) if name == "peername" else default

    proto = server()
    proto.connection_made(Transport())
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: text/plain;version=0.0.4\r\n\r\n"

    async def one() -> None:
        nonlocal done
        done = loop.create_future()
        proto.data_received(request)
        await done

    cpu = await _cpu_async(n, one)
    await runner.cleanup()
    return cpu


def table(name: str, rows: list[tuple[str, Cpu]], measured_s: float | None = None,
          floor_s: float | None = None) -> str:
    """The Markdown table of :func:`profile`'s pieces.

    With ``measured_s`` (the CPU per scrape of the exporter process, measured from
    outside) the remainder gets rows of its own and shares are of the measured figure;
    ``floor_s`` (a trivial request measured from outside) splits off its socket side.
    """
    pieces = sum(u + s for k, (u, s) in rows if not k.startswith("  "))
    total = pieces if measured_s is None or measured_s < pieces else measured_s
    lines = [f"| piece ({name}) | µs per scrape | of which kernel | share |",
             "|---|---:|---:|---:|"]

    def row(label: str, cpu: float, kernel: str = "") -> None:
        lines.append(f"| {label} | {cpu * 1e6:.0f} | {kernel} | {cpu / total:.0%} |")

    for label, (user, system) in rows:
        row(label, user + system, f"{system * 1e6:.0f}")
    row("sum of the pieces, in this process", pieces)
    if measured_s is not None:
        rest = measured_s - pieces
        if floor_s is not None:
            http = next((u + s for k, (u, s) in rows if k.startswith("HTTP")), 0.0)
            socket_side = max(0.0, floor_s - http)
            row("socket side of a request: the floor measured from outside less the "
                "in-memory HTTP piece (recv, send, epoll wake-ups)", socket_side)
            rest -= socket_side
        row("not attributed: the larger body's send, loop wake-ups between the pieces, "
            "cold caches with a second exporter on the same 2 cores", rest)
        row("one scrape as measured from outside (bench above)", measured_s)
    return "\n".join(lines) + "\n"


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "redis"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    print(table(name, asyncio.run(profile(name, n))), end="")


if __name__ == "__main__":
    main()
