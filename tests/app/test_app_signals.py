"""The signal helpers: jobs, scheduled jobs, workflows, auth, deliveries, outbound calls."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from exporters.app import Instrumentation, InstrumentationConfig
from exporters.app.client import trace_config
from tests.helpers import serve_app

pytestmark = pytest.mark.anyio


def fresh(**config: object) -> Instrumentation:
    return Instrumentation(InstrumentationConfig(**config), registry=CollectorRegistry())  # type: ignore[arg-type]


def value(instr: Instrumentation, name: str, **labels: str) -> float | None:
    return instr.registry.get_sample_value(name, labels)


def test_a_job_run_records_duration_outcome_and_last_success() -> None:
    instr = fresh()
    with instr.job("import"):
        assert value(instr, "promfleet_app_job_running", job_name="import") == 1
    with pytest.raises(ValueError), instr.job("import"):
        raise ValueError("bad input")
    runs = "promfleet_app_job_runs_total"
    assert value(instr, runs, job_name="import", outcome="success") == 1
    assert value(instr, runs, job_name="import", outcome="failure") == 1
    assert value(instr, "promfleet_app_job_duration_seconds_count", job_name="import") == 2
    assert value(instr, "promfleet_app_job_running", job_name="import") == 0
    assert (value(instr, "promfleet_app_job_last_success_time_seconds", job_name="import") or 0) > 0


async def test_the_oldest_run_start_is_published_while_runs_are_in_progress() -> None:
    instr = fresh()
    oldest = "promfleet_app_job_oldest_run_start_time_seconds"
    first_in, second_in, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @instr.job("agent")
    async def run(started: asyncio.Event) -> None:
        started.set()
        await release.wait()

    first = asyncio.create_task(run(first_in))
    await first_in.wait()
    first_start = value(instr, oldest, job_name="agent")
    second = asyncio.create_task(run(second_in))
    await second_in.wait()
    assert value(instr, oldest, job_name="agent") == first_start
    assert value(instr, "promfleet_app_job_running", job_name="agent") == 2
    release.set()
    await asyncio.gather(first, second)
    assert value(instr, oldest, job_name="agent") == math.inf


def test_a_scheduled_job_declares_its_interval_and_starts_its_clock_at_registration() -> None:
    instr = fresh()
    job = instr.scheduled_job("nightly", 86400)
    assert value(instr, "promfleet_app_job_schedule_interval_seconds", job_name="nightly") == 86400
    registered = value(instr, "promfleet_app_job_last_success_time_seconds", job_name="nightly")
    assert registered is not None and registered > 0
    with job._fresh():
        pass
    after = value(instr, "promfleet_app_job_last_success_time_seconds", job_name="nightly")
    assert after is not None and after >= registered


def test_a_workflow_counts_start_completion_failure_and_completion_time() -> None:
    instr = fresh(tenants=frozenset({"acme"}))

    @instr.workflow("checkout", tenant="acme")
    def checkout(fail: bool) -> None:
        if fail:
            raise RuntimeError("payment declined")

    checkout(False)
    with pytest.raises(RuntimeError):
        checkout(True)
    with instr.workflow("checkout", tenant="unknown-tenant"):
        pass
    labels = {"workflow": "checkout", "tenant": "acme"}
    assert value(instr, "promfleet_app_workflows_started_total", **labels) == 2
    assert value(instr, "promfleet_app_workflows_completed_total", **labels) == 1
    assert value(instr, "promfleet_app_workflows_failed_total", **labels) == 1
    other = {"workflow": "checkout", "tenant": "other"}
    assert value(instr, "promfleet_app_workflows_completed_total", **other) == 1
    assert value(instr, "promfleet_app_workflow_duration_seconds_count", workflow="checkout") == 2


def test_login_reasons_outside_the_closed_set_become_other() -> None:
    instr = fresh()
    instr.login(True)
    instr.login(False, "bad_password")
    instr.login(False, "user alice@example.com typed it wrong")
    logins = "promfleet_app_logins_total"
    assert value(instr, logins, outcome="success", reason="ok") == 1
    assert value(instr, logins, outcome="failure", reason="bad_password") == 1
    assert value(instr, logins, outcome="failure", reason="other") == 1


def test_tokens_sessions_and_deliveries_are_counted() -> None:
    instr = fresh()
    instr.token("refresh", success=False)
    with instr.session():
        assert value(instr, "promfleet_app_active_sessions") == 1
    assert value(instr, "promfleet_app_active_sessions") == 0
    with pytest.raises(ConnectionError), instr.deliver("websocket"):
        raise ConnectionError("peer gone")
    instr.delivery("webhook", ok=True)
    ops = "promfleet_app_token_operations_total"
    assert value(instr, ops, operation="refresh", outcome="failure") == 1
    deliveries = "promfleet_app_deliveries_total"
    assert value(instr, deliveries, channel="websocket", outcome="failure") == 1
    assert value(instr, deliveries, channel="webhook", outcome="success") == 1
    with pytest.raises(ValueError):
        instr.delivery("carrier-pigeon", ok=True)


def test_free_form_names_past_the_cap_become_other_and_are_counted() -> None:
    instr = fresh(max_label_values=2)
    for name in ("a", "b", "c", "d"):
        instr.set_queue_depth(name, 1)
    assert value(instr, "promfleet_app_queue_depth", queue="other") == 1
    assert value(instr, "promfleet_app_label_values_dropped_total", label="queue") == 2


@asynccontextmanager
async def upstream() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "15"}
        return web.json_response({"ok": True}, headers=headers)

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    app.router.add_get("/hang", hang)
    async with serve_app(app, shutdown_timeout=0.2) as url:
        yield url


async def test_outbound_calls_are_measured_by_target_name_with_outcome_and_quota() -> None:
    instr = fresh(external_targets={"127.0.0.1": "partner"})
    async with upstream() as url:
        timeout = aiohttp.ClientTimeout(total=0.3)
        async with aiohttp.ClientSession(trace_configs=[trace_config(instr)]) as session:
            async with session.get(f"{url}/ok") as response:
                await response.read()
            async with session.get(f"{url}/broken", trace_request_ctx={"target": "billing"}) as r:
                await r.read()
            with pytest.raises(asyncio.TimeoutError):
                async with session.get(f"{url}/hang", timeout=timeout) as r:
                    await r.read()
    port = url.rsplit(":", 1)[1]
    async with aiohttp.ClientSession(trace_configs=[trace_config(instr)]) as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://localhost:{port}/refused-after-close")
    calls = "promfleet_app_external_requests_total"
    # The server is gone by the last call, and "localhost" is not a configured host.
    assert value(instr, calls, target="other", outcome="connection_error") == 1
    assert value(instr, calls, target="partner", outcome="success") == 1
    assert value(instr, calls, target="billing", outcome="server_error") == 1
    assert value(instr, calls, target="partner", outcome="timeout") == 1
    assert value(instr, "promfleet_app_external_quota_used", target="partner") == 85
    assert value(instr, "promfleet_app_external_quota_limit", target="partner") == 100
    count = "promfleet_app_external_request_duration_seconds_count"
    assert value(instr, count, target="partner") == 2


def test_request_durations_fall_in_inclusive_buckets_and_the_count_matches() -> None:
    instr = fresh()
    for seconds in (0.005, 0.0051, 2.0, 60.0):
        instr.record_request("GET", "/x", 200, seconds)
    name = "promfleet_app_http_request_duration_seconds"
    labels = {"method": "GET", "route": "/x"}
    assert value(instr, f"{name}_bucket", **labels, le="0.005") == 1
    assert value(instr, f"{name}_bucket", **labels, le="0.01") == 2
    assert value(instr, f"{name}_bucket", **labels, le="2.5") == 3
    assert value(instr, f"{name}_bucket", **labels, le="+Inf") == 4
    assert value(instr, f"{name}_count", **labels) == 4
    assert value(instr, f"{name}_sum", **labels) == pytest.approx(62.0101)
    requests = "promfleet_app_http_requests_total"
    assert value(instr, requests, method="GET", route="/x", status="2xx", tenant="") == 4


def test_a_job_whose_runs_all_fail_still_publishes_a_success_series_at_zero() -> None:
    instr = fresh()
    with pytest.raises(RuntimeError), instr.job("import"):
        raise RuntimeError("every run fails")
    runs = "promfleet_app_job_runs_total"
    assert value(instr, runs, job_name="import", outcome="failure") == 1
    # Present at 0, so the success ratio is 0 and not an absent series.
    assert value(instr, runs, job_name="import", outcome="success") == 0


def test_a_workflow_that_only_fails_still_publishes_a_completed_series_at_zero() -> None:
    instr = fresh()
    instr.workflow_failed("refund")
    labels = {"workflow": "refund", "tenant": ""}
    assert value(instr, "promfleet_app_workflows_failed_total", **labels) == 1
    assert value(instr, "promfleet_app_workflows_completed_total", **labels) == 0
    assert value(instr, "promfleet_app_workflows_started_total", **labels) == 0


def test_a_value_replaced_by_other_is_counted_as_dropped_once_per_use() -> None:
    instr = fresh(max_label_values=1)
    with instr.workflow("checkout"):
        pass
    with instr.workflow("refund"):  # past the cap: "other", one drop
        pass
    dropped = "promfleet_app_label_values_dropped_total"
    assert value(instr, dropped, label="workflow") == 1
    other = {"workflow": "other", "tenant": ""}
    assert value(instr, "promfleet_app_workflows_completed_total", **other) == 1


def test_outbound_calls_recorded_directly_keep_target_and_outcome_bounded() -> None:
    instr = fresh(max_label_values=2)
    for target in ("payments", "maps", "https://user:pw@api.example/v1"):
        instr.record_external(target, "success", 0.1)
    instr.record_external("payments", "teapot", 0.1)
    calls = "promfleet_app_external_requests_total"
    assert value(instr, calls, target="payments", outcome="success") == 1
    assert value(instr, calls, target="other", outcome="success") == 1
    assert value(instr, calls, target="payments", outcome="error") == 1
    assert value(instr, "promfleet_app_label_values_dropped_total", label="target") == 1
    text = generate_latest(instr.registry).decode()
    assert "example" not in text and "teapot" not in text
