"""Application middleware: server CPU per request with it and without it, side by side.

Each server variant runs as its own process on a free loopback port and answers the
same bounded load (``PROMFLEET_BENCH_REQUESTS`` keep-alive GETs of ``/items/{id}`` from
this process); its CPU time is read before and after from the scheduler's per-thread
run time (``/proc/PID/task/*/schedstat``, nanoseconds), else from psutil. The variants: aiohttp
plain and with ``exporters.app.aiohttp_middleware``; FastAPI under uvicorn plain, with
``exporters.app.asgi.PrometheusMiddleware`` and with prometheus-fastapi-instrumentator.
Rounds alternate the variants and the median per variant is reported. The same apps
are then called in this process, without a network (an ASGI call; aiohttp routing and
handling a parsed request): the best round per variant, since other work on the
machine only ever adds CPU time to a round.

``python -m bench.bench_app serve VARIANT PORT`` is the server side.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import common

REQUESTS = int(os.environ.get("PROMFLEET_BENCH_REQUESTS", "3000"))
ROUNDS = int(os.environ.get("PROMFLEET_BENCH_ROUNDS", "3"))
WARMUP = 300
REPO_ROOT = Path(__file__).resolve().parent.parent

AIM_OVERHEAD_S = 15e-6
VARIANTS = (
    "aiohttp",
    "aiohttp+promfleet",
    "fastapi",
    "fastapi+promfleet",
    "fastapi+instrumentator",
)
IN_PROCESS_CALLS = int(os.environ.get("PROMFLEET_BENCH_ASGI_CALLS", "20000"))


# --- server side -------------------------------------------------------------------------


def _serve_aiohttp(port: int, instrumented: bool) -> None:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["item_id"]})

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ok": "yes"})

    app = web.Application()
    if instrumented:
        from exporters.app import Instrumentation
        from exporters.app.aiohttp_middleware import setup

        setup(app, Instrumentation(registry=CollectorRegistry()))
    app.router.add_get("/items/{item_id}", item)
    app.router.add_get("/ready", ready)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _serve_fastapi(port: int, mode: str) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"ok": "yes"}

    served: Any = app
    if mode == "promfleet":
        from prometheus_client import CollectorRegistry

        from exporters.app import Instrumentation
        from exporters.app.asgi import PrometheusMiddleware

        served = PrometheusMiddleware(app, Instrumentation(registry=CollectorRegistry()))
    elif mode == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app).expose(app)
    uvicorn.run(served, host="127.0.0.1", port=port, log_level="error", access_log=False)


def serve(variant: str, port: int) -> None:
    if variant.startswith("aiohttp"):
        _serve_aiohttp(port, instrumented=variant.endswith("+promfleet"))
    else:
        mode = variant.partition("+")[2]
        _serve_fastapi(port, mode)


# --- client side -------------------------------------------------------------------------


def _cpu_seconds(process: Any) -> float:
    """CPU seconds of every thread of ``process``, from the scheduler's own accounting.

    psutil's user + system times are sampled at the clock tick (10 ms): a request costs
    a few hundred µs, so over a few thousand requests the tick sampling alone moves the
    per-request figure by tens of µs. The scheduler's run time is exact.
    """
    total_ns = 0
    try:
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            try:
                total_ns += int((task / "schedstat").read_text().split()[0])
            except FileNotFoundError:
                continue  # a thread that ended between the listing and the read
    except (OSError, ValueError, IndexError):
        return common.cpu_seconds(process)
    return total_ns / 1e9


def _measure(variant: str) -> float:
    """Server CPU seconds per request for one variant under REQUESTS keep-alive GETs."""
    port = common.free_port()
    argv = [sys.executable, "-m", "bench.bench_app", "serve", variant, str(port)]
    url = f"http://127.0.0.1:{port}"
    env = {"PYTHONPATH": str(REPO_ROOT)}
    with (
        common.started(argv, f"{url}/ready", env=env, cwd=str(REPO_ROOT)) as server,
        common.Scraper(f"{url}/items/42") as client,
    ):
        for _ in range(WARMUP):
            client.get()
        before = _cpu_seconds(server.process)
        for _ in range(REQUESTS):
            client.get()
        after = _cpu_seconds(server.process)
    return (after - before) / REQUESTS


def _fastapi_app(mode: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    if mode == "promfleet":
        from prometheus_client import CollectorRegistry

        from exporters.app import Instrumentation
        from exporters.app.asgi import PrometheusMiddleware

        return PrometheusMiddleware(app, Instrumentation(registry=CollectorRegistry()))
    if mode == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app)
    return app


async def _best_rounds(
    apps: dict[str, Any], calls: Callable[[Any, int], Awaitable[float]]
) -> dict[str, float]:
    """CPU per call of each app: warmed up, rounds alternating the apps, the best round."""
    for app in apps.values():
        await calls(app, WARMUP)
    results: dict[str, list[float]] = {mode: [] for mode in apps}
    for _ in range(max(ROUNDS, 5)):
        for mode, app in apps.items():
            results[mode].append(await calls(app, IN_PROCESS_CALLS))
    return {mode: min(values) for mode, values in results.items()}


def _in_process() -> dict[str, float]:
    """CPU per call of each FastAPI variant called as an ASGI app, no network (best round)."""
    import asyncio
    import time

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/items/42", "raw_path": b"/items/42", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench")], "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 40000),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def calls(app: Any, n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.process_time() - start) / n

    apps = {mode: _fastapi_app(mode) for mode in ("plain", "promfleet", "instrumentator")}
    return asyncio.run(_best_rounds(apps, calls))


def _aiohttp_in_process() -> dict[str, float]:
    """CPU per request of the aiohttp app handling a request, without and with ``setup``.

    Each call is what the server does once it has parsed a request: route it, build
    the middleware chain, run the handler (``Application._handle``; the middleware's
    cost includes aiohttp's own for having a middleware at all). Best round each.
    """
    import asyncio
    import time

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request
    from prometheus_client import CollectorRegistry

    from exporters.app import Instrumentation
    from exporters.app.aiohttp_middleware import setup

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["item_id"]})

    def build(instrumented: bool) -> web.Application:
        app = web.Application()
        if instrumented:
            setup(app, Instrumentation(registry=CollectorRegistry()))
        app.router.add_get("/items/{item_id}", item)
        app.freeze()
        return app

    async def calls(app: web.Application, n: int) -> float:
        request = make_mocked_request("GET", "/items/42", app=app)
        start = time.process_time()
        for _ in range(n):
            await app._handle(request)
        return (time.process_time() - start) / n

    return asyncio.run(_best_rounds({"plain": build(False), "promfleet": build(True)}, calls))


def run() -> str:
    for module in ("fastapi", "uvicorn", "prometheus_fastapi_instrumentator"):
        try:
            __import__(module)
        except ImportError as err:
            raise common.Skip(f"{module} is not installed (pip install -e '.[test]')") from err
    per_request: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(ROUNDS):
        for variant in VARIANTS:
            per_request[variant].append(_measure(variant))
    median = {v: statistics.median(values) for v, values in per_request.items()}
    ours_aiohttp = median["aiohttp+promfleet"] - median["aiohttp"]
    ours_asgi = median["fastapi+promfleet"] - median["fastapi"]
    theirs = median["fastapi+instrumentator"] - median["fastapi"]

    def within_aim(ours: float, _reference: float | None) -> bool:
        return ours <= AIM_OVERHEAD_S

    def cheaper(ours: float, reference: float | None) -> bool:
        return reference is not None and ours < reference

    aims: Callable[[float, float | None], bool] = within_aim
    rows = [
        common.Row("aiohttp: CPU per request, plain", median["aiohttp"], None, "{:.1f} µs", 1e6),
        common.Row(
            "aiohttp: CPU per request, with middleware",
            median["aiohttp+promfleet"],
            None,
            "{:.1f} µs",
            1e6,
        ),
        common.Row(
            "aiohttp: middleware overhead per request",
            ours_aiohttp,
            None,
            "{:.1f} µs",
            1e6,
            aims,
            "<= 15 µs",
        ),
        common.Row("FastAPI: CPU per request, plain", median["fastapi"], None, "{:.1f} µs", 1e6),
        common.Row(
            "FastAPI: CPU per request, instrumented",
            median["fastapi+promfleet"],
            median["fastapi+instrumentator"],
            "{:.1f} µs",
            1e6,
        ),
        common.Row(
            "FastAPI: overhead per request",
            ours_asgi,
            theirs,
            "{:.1f} µs",
            1e6,
            lambda o, r: within_aim(o, r) and cheaper(o, r),
            "<= 15 µs and below the instrumentator",
        ),
    ]
    isolated = _in_process()
    handler = _aiohttp_in_process()
    isolated_rows = [
        common.Row(
            "aiohttp: CPU per request handled, plain", handler["plain"], None, "{:.1f} µs", 1e6
        ),
        common.Row(
            "aiohttp: CPU per request handled, with middleware",
            handler["promfleet"],
            None,
            "{:.1f} µs",
            1e6,
        ),
        common.Row(
            "aiohttp: middleware overhead per request handled",
            handler["promfleet"] - handler["plain"],
            None,
            "{:.1f} µs",
            1e6,
            aims,
            "<= 15 µs",
        ),
        common.Row("FastAPI: CPU per call, plain", isolated["plain"], None, "{:.1f} µs", 1e6),
        common.Row(
            "FastAPI: CPU per call, instrumented",
            isolated["promfleet"],
            isolated["instrumentator"],
            "{:.1f} µs",
            1e6,
        ),
        common.Row(
            "FastAPI: overhead per call",
            isolated["promfleet"] - isolated["plain"],
            isolated["instrumentator"] - isolated["plain"],
            "{:.1f} µs",
            1e6,
            lambda o, r: within_aim(o, r) and cheaper(o, r),
            "<= 15 µs and below the instrumentator",
        ),
    ]
    return (
        "## Application middleware (`exporters.app`)\n\n"
        f"{REQUESTS} keep-alive GETs of `/items/{{id}}` per variant after {WARMUP} warm-up "
        f"requests, {ROUNDS} rounds alternating the variants, median server CPU time (the "
        "scheduler's run time of all its threads). Overhead = instrumented minus plain on "
        "the same app. The "
        "reference column is prometheus-fastapi-instrumentator on the same FastAPI app "
        "under uvicorn. Server and client share the machine's CPUs: an overhead near zero "
        "or below it means the difference drowned in that noise; the in-process table "
        "after this one has the precise figure.\n\n"
        + common.table(rows, "promfleet", "instrumentator")
        + "\nThe same apps called in this process, no network, no server "
        f"({IN_PROCESS_CALLS} calls per variant and round, {max(ROUNDS, 5)} rounds "
        "alternating the variants, the best round each: other work on the machine only "
        "adds time): the aiohttp app handling a parsed request (routing, middleware chain, "
        "handler), and the FastAPI app called as an ASGI app. This is the middleware's own "
        "cost without the noise of two processes sharing the CPUs.\n\n"
        + common.table(isolated_rows, "promfleet", "instrumentator")
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(run())
