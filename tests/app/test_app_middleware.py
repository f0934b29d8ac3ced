"""The HTTP middleware under a real aiohttp server and a real ASGI server (uvicorn), on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from exporters.app import METRICS, Instrumentation, InstrumentationConfig
from exporters.app.aiohttp_middleware import setup
from exporters.app.asgi import PrometheusMiddleware, metrics_app
from exporters.app.exposition import serve
from tests.helpers import (
    assert_matches_declaration,
    free_port,
    promtool_check_metrics,
    sample_value,
    scrape,
    serve_app,
)

pytestmark = pytest.mark.anyio

REQUESTS = "promfleet_app_http_requests_total"
DURATION_COUNT = "promfleet_app_http_request_duration_seconds_count"
IN_FLIGHT = "promfleet_app_http_requests_in_flight"
GATES: dict[str, asyncio.Event] = {}  # base URL -> the /slow handler's gate


def fresh(**config: Any) -> Instrumentation:
    return Instrumentation(InstrumentationConfig(**config), registry=CollectorRegistry())


@asynccontextmanager
async def aiohttp_server(instr: Instrumentation) -> AsyncIterator[str]:
    gate = asyncio.Event()

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["item_id"]})

    async def fail(request: web.Request) -> web.Response:
        raise RuntimeError("handler bug")

    async def teapot(request: web.Request) -> web.Response:
        raise web.HTTPTooManyRequests()

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response(text="done")

    app = web.Application()
    setup(app, instr)
    app.router.add_get("/items/{item_id}", item)
    app.router.add_get("/fail", fail)
    app.router.add_get("/limited", teapot)
    app.router.add_get("/slow", slow)
    async with serve_app(app) as url:
        GATES[url] = gate
        try:
            yield url
        finally:
            gate.set()
            GATES.pop(url, None)


async def get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    async with session.get(url, **kwargs) as response:
        await response.read()
        return response.status


async def metrics_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


async def test_aiohttp_requests_are_labelled_by_route_template_and_status_class() -> None:
    instr = fresh()
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        for item in ("1", "2", "secret-user-id"):
            assert await get(session, f"{url}/items/{item}") == 200
        assert await get(session, f"{url}/limited") == 429
        assert await get(session, f"{url}/no/such/path") == 404
        text = await metrics_text(session, url)
    ok = {"method": "GET", "route": "/items/{item_id}", "status": "2xx", "tenant": ""}
    assert sample_value(text, REQUESTS, ok) == 3
    limited = {"method": "GET", "route": "/limited", "status": "4xx", "tenant": ""}
    assert sample_value(text, REQUESTS, limited) == 1
    unmatched = {"method": "GET", "route": "other", "status": "4xx", "tenant": ""}
    assert sample_value(text, REQUESTS, unmatched) == 1
    assert sample_value(text, DURATION_COUNT, {"method": "GET", "route": "/items/{item_id}"}) == 3
    assert "secret-user-id" not in text and "/no/such/path" not in text
    # /metrics itself is not counted.
    assert 'route="/metrics"' not in text


async def test_an_excluded_health_endpoint_is_served_but_not_counted_as_traffic() -> None:
    instr = fresh()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "unhealthy"}, status=503)

    app = web.Application()
    setup(app, instr, exclude=("/healthz",))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/items/{item_id}", healthz)
    async with serve_app(app) as url, aiohttp.ClientSession() as session:
        for _ in range(3):
            assert await get(session, f"{url}/healthz") == 503
        assert await get(session, f"{url}/items/1") == 503
        text = await metrics_text(session, url)
    # The probe reports the health answer; as requests it would make up traffic and errors.
    assert 'route="/healthz"' not in text
    counted = {"method": "GET", "route": "/items/{item_id}", "status": "5xx", "tenant": ""}
    assert sample_value(text, REQUESTS, counted) == 1


async def test_aiohttp_unhandled_exceptions_are_counted_as_5xx_and_as_exceptions() -> None:
    instr = fresh()
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        assert await get(session, f"{url}/fail") == 500
        text = await metrics_text(session, url)
    labels = {"method": "GET", "route": "/fail", "status": "5xx", "tenant": ""}
    assert sample_value(text, REQUESTS, labels) == 1
    exceptions = "promfleet_app_http_exceptions_total"
    assert sample_value(text, exceptions, {"method": "GET", "route": "/fail"}) == 1


async def test_aiohttp_in_flight_counts_a_request_while_it_is_being_served() -> None:
    instr = fresh()
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        slow = asyncio.create_task(get(session, f"{url}/slow"))
        for _ in range(250):  # bounded wait for the request to reach the handler
            if sample_value(await metrics_text(session, url), IN_FLIGHT) == 1:
                break
            await asyncio.sleep(0.02)
        during = await metrics_text(session, url)
        GATES[url].set()
        assert await slow == 200
        after = await metrics_text(session, url)
    assert sample_value(during, IN_FLIGHT) == 1
    assert sample_value(after, IN_FLIGHT) == 0


async def test_aiohttp_exposition_matches_the_declaration_and_passes_promtool() -> None:
    instr = fresh()
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        await get(session, f"{url}/items/1")
        with instr.job("nightly"):
            pass
        instr.workflow_started("checkout")
        instr.workflow_completed("checkout", 3.0)
        instr.workflow_failed("checkout")
        instr.login(False, "bad_password")
        instr.token("issue")
        instr.set_queue_depth("emails", 4)
        instr.record_external("payments", "success", 0.2)
        instr.set_quota("payments", 10, 100)
        instr.delivery("webhook", ok=False)
        instr.scheduled_job("hourly", 3600)
        text = await metrics_text(session, url)
    assert_matches_declaration(text, METRICS, allow_missing={"promfleet_app_http_exceptions_total"})
    assert promtool_check_metrics(text) == []


async def test_route_labels_past_the_cap_become_other_and_are_counted() -> None:
    instr = fresh(max_label_values=1)
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        await get(session, f"{url}/items/1")
        await get(session, f"{url}/limited")
        text = await metrics_text(session, url)
    other = {"method": "GET", "route": "other", "status": "4xx", "tenant": ""}
    assert sample_value(text, REQUESTS, other) == 1
    dropped = "promfleet_app_label_values_dropped_total"
    assert sample_value(text, dropped, {"label": "route"}) == 1


# --- ASGI (Starlette under uvicorn) ----------------------------------------------------


def starlette_app(instr: Instrumentation) -> Any:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def fail(request: Request) -> PlainTextResponse:
        raise RuntimeError("handler bug")

    async def created(request: Request) -> PlainTextResponse:
        return PlainTextResponse("made", status_code=201)

    inner = Starlette(
        routes=[
            Route("/items/{item_id}", item),
            Route("/fail", fail),
            Route("/things", created, methods=["POST"]),
            Route("/metrics", metrics_app(instr)),
        ]
    )
    return PrometheusMiddleware(inner, instr)


@asynccontextmanager
async def uvicorn_server(app: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):  # bounded: up to 5 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_asgi_requests_are_labelled_by_the_framework_route_template() -> None:
    instr = fresh(tenants=frozenset({"acme"}))
    async with uvicorn_server(starlette_app(instr)) as url, aiohttp.ClientSession() as session:
        assert await get(session, f"{url}/items/7", headers={"X-Tenant": "acme"}) == 200
        assert await get(session, f"{url}/items/8", headers={"X-Tenant": "evil-corp"}) == 200
        assert await get(session, f"{url}/nowhere") == 404
        async with session.post(f"{url}/things") as response:
            assert response.status == 201
        text = await metrics_text(session, url)
    base = {"method": "GET", "route": "/items/{item_id}", "status": "2xx"}
    assert sample_value(text, REQUESTS, {**base, "tenant": "acme"}) == 1
    assert sample_value(text, REQUESTS, {**base, "tenant": "other"}) == 1
    unmatched = {"method": "GET", "route": "other", "status": "4xx", "tenant": ""}
    assert sample_value(text, REQUESTS, unmatched) == 1
    posted = {"method": "POST", "route": "/things", "status": "2xx", "tenant": ""}
    assert sample_value(text, REQUESTS, posted) == 1
    assert "evil-corp" not in text and "/items/7" not in text


async def test_asgi_routes_inside_mounts_keep_the_mount_templates_in_their_label() -> None:
    async def order(request: Request) -> PlainTextResponse:
        return PlainTextResponse("order")

    async def static(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("body {}")(scope, receive, send)

    instr = fresh()
    app = Starlette(
        routes=[
            Mount("/api", routes=[Route("/orders/{order_id}", order)]),
            Mount(
                "/tenants/{tenant}",
                routes=[Mount("/v1", routes=[Route("/orders/{order_id}", order)])],
            ),
            Mount("/static", app=static),
            Route("/metrics", metrics_app(instr)),
        ]
    )
    async with (
        uvicorn_server(PrometheusMiddleware(app, instr)) as url,
        aiohttp.ClientSession() as session,
    ):
        assert await get(session, f"{url}/api/orders/1") == 200
        assert await get(session, f"{url}/tenants/acme/v1/orders/2") == 200
        assert await get(session, f"{url}/api/nowhere") == 404
        assert await get(session, f"{url}/static/site.css") == 200
        text = await metrics_text(session, url)
    ok = {"method": "GET", "status": "2xx", "tenant": ""}
    assert sample_value(text, REQUESTS, {**ok, "route": "/api/orders/{order_id}"}) == 1
    nested = "/tenants/{tenant}/v1/orders/{order_id}"
    assert sample_value(text, REQUESTS, {**ok, "route": nested}) == 1
    assert sample_value(text, REQUESTS, {**ok, "route": "/static"}) == 1
    unmatched = {"method": "GET", "route": "other", "status": "4xx", "tenant": ""}
    assert sample_value(text, REQUESTS, unmatched) == 1
    assert "acme" not in text and "site.css" not in text


async def test_asgi_routes_of_included_fastapi_routers_keep_each_inclusion_prefix() -> None:
    users = APIRouter()

    @users.get("/{user_id}")
    async def user(user_id: str) -> dict[str, str]:
        return {"id": user_id}

    v1 = APIRouter(prefix="/v1")
    v1.include_router(users, prefix="/users")
    api = FastAPI()
    api.include_router(v1)
    api.include_router(users, prefix="/people")  # the same route objects, a second prefix
    instr = fresh()
    app = Starlette(
        routes=[Mount("/tenants/{tenant}", app=api), Route("/metrics", metrics_app(instr))]
    )
    async with (
        uvicorn_server(PrometheusMiddleware(app, instr)) as url,
        aiohttp.ClientSession() as session,
    ):
        for path in ("/v1/users/1", "/v1/users/2", "/people/3"):
            assert await get(session, f"{url}/tenants/acme{path}") == 200
        text = await metrics_text(session, url)
    ok = {"method": "GET", "status": "2xx", "tenant": ""}
    users_route = "/tenants/{tenant}/v1/users/{user_id}"
    assert sample_value(text, REQUESTS, {**ok, "route": users_route}) == 2
    people_route = "/tenants/{tenant}/people/{user_id}"
    assert sample_value(text, REQUESTS, {**ok, "route": people_route}) == 1


async def test_asgi_unhandled_exceptions_are_counted_as_5xx_and_as_exceptions() -> None:
    instr = fresh()
    async with uvicorn_server(starlette_app(instr)) as url, aiohttp.ClientSession() as session:
        assert await get(session, f"{url}/fail") == 500
        # Starlette sends the 500 before re-raising: the request ends a moment later.
        for _ in range(100):
            text = await metrics_text(session, url)
            if sample_value(text, IN_FLIGHT) == 0:
                break
            await asyncio.sleep(0.02)
    labels = {"method": "GET", "route": "/fail", "status": "5xx", "tenant": ""}
    assert sample_value(text, REQUESTS, labels) == 1
    exceptions = "promfleet_app_http_exceptions_total"
    assert sample_value(text, exceptions, {"method": "GET", "route": "/fail"}) == 1
    assert sample_value(text, "promfleet_app_http_requests_in_flight") == 0


def test_the_asgi_middleware_imports_no_web_framework() -> None:
    code = (
        "import sys, exporters.app, exporters.app.asgi\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'aiohttp', 'starlette', 'fastapi', 'uvicorn'})\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_aiohttp_tenant_label_takes_only_configured_tenants() -> None:
    instr = fresh(tenants=frozenset({"acme"}))
    async with aiohttp_server(instr) as url, aiohttp.ClientSession() as session:
        assert await get(session, f"{url}/items/1", headers={"X-Tenant": "acme"}) == 200
        assert await get(session, f"{url}/items/2", headers={"X-Tenant": "user-42@evil"}) == 200
        assert await get(session, f"{url}/items/3") == 200
        text = await metrics_text(session, url)
    base = {"method": "GET", "route": "/items/{item_id}", "status": "2xx"}
    assert sample_value(text, REQUESTS, {**base, "tenant": "acme"}) == 1
    assert sample_value(text, REQUESTS, {**base, "tenant": "other"}) == 1
    assert sample_value(text, REQUESTS, {**base, "tenant": ""}) == 1
    assert "evil" not in text


def test_metrics_served_on_a_port_of_their_own_leave_out_created_series() -> None:
    before = time.time()
    instr = fresh()
    after = time.time()
    instr.record_request("GET", "/items/{item_id}", 200, 0.01)
    with instr.job("nightly"):
        pass
    server, thread = serve(instr.registry, 0)
    try:
        status, _, text = scrape(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert status == 200
    labels = {"method": "GET", "route": "/items/{item_id}", "status": "2xx", "tenant": ""}
    assert sample_value(text, REQUESTS, labels) == 1
    runs = {"job_name": "nightly", "outcome": "success"}
    assert sample_value(text, "promfleet_app_job_runs_total", runs) == 1
    started = sample_value(text, "promfleet_app_start_time_seconds")
    assert started is not None and before <= started <= after
    assert "_created" not in text
    assert promtool_check_metrics(text) == []
