"""The jsonstatus collector over real HTTP: an aiohttp server of the test's own on a free port."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from exporters import jsonstatus
from exporters.jsonstatus import MAPPINGS, StatusCollector, StatusConfig, build, parse_targets
from exporters.spec import ScrapeContext, Settings
from tests.helpers import promtool_check_metrics, sample_value, serve_app

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parent.parent / "fixtures" / "jsonstatus"


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


class Endpoint:
    """What the test server answers; changed by each test as it goes."""

    def __init__(self) -> None:
        self.body: bytes = b"{}"
        self.status = 200
        self.content_type = "application/json"
        self.hang = asyncio.Event()
        self.hanging = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.hanging:
            await asyncio.wait_for(self.hang.wait(), 30)  # released when the test ends
        return web.Response(body=self.body, status=self.status, content_type=self.content_type)


@asynccontextmanager
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    state = Endpoint()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    async with serve_app(app) as url:
        try:
            yield state, url
        finally:
            state.hang.set()


def collector(url: str, mapping: str, **extra: Any) -> StatusCollector:
    settings = Settings("jsonstatus", {"targets": parse_targets(
        [{"name": "svc", "url": url, "mapping": mapping, **extra}])})
    (only,) = build(settings)
    assert isinstance(only, StatusCollector)
    return only


async def scrape(target: StatusCollector, seconds: float = 5.0) -> str:
    families = list(await target.collect(ScrapeContext.with_timeout(seconds)))

    class _Once:
        def collect(self) -> Any:
            return families

    registry = CollectorRegistry()
    registry.register(_Once())
    return generate_latest(registry).decode()


def value(text: str, name: str, **labels: str) -> float | None:
    return sample_value(text, f"promfleet_jsonstatus_{name}", {"target": "svc", **labels})


async def test_a_recorded_body_served_over_http_becomes_its_metrics() -> None:
    async with endpoint() as (server, url):
        server.body = json.dumps(recorded("minixdr-orchestrator")).encode()
        text = await scrape(collector(url, "minixdr-orchestrator"))
    assert value(text, "up") == 1
    assert value(text, "minixdr_workflows_active") == 3
    assert value(text, "minixdr_agent_healthy", agent="forensics") == 1
    assert value(text, "failure", reason="timeout") == 0
    assert value(text, "values_skipped_total", metric="minixdr_workflows_active",
                 reason="missing") == 0
    assert "127.0.0.1" not in text  # labels carry the target's name, never its URL
    assert promtool_check_metrics(text) == []


async def test_a_hanging_endpoint_is_down_with_reason_timeout_within_the_deadline() -> None:
    async with endpoint() as (server, url):
        server.hanging = True
        target = collector(url, "minixdr-ml", timeout="30s")
        # The scrape's own deadline (1 s) bounds the fetch, not the target's 30 s.
        text = await asyncio.wait_for(scrape(target, seconds=1.0), 10)
    assert value(text, "up") == 0
    assert value(text, "failure", reason="timeout") == 1
    assert value(text, "fetch_failures_total", reason="timeout") == 1
    assert value(text, "minixdr_ml_models_loaded") is None
    duration = value(text, "duration_seconds")
    assert duration is not None and duration < 1.0


async def test_invalid_json_and_a_non_json_content_type_are_down_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "promfleet.jsonstatus")
    async with endpoint() as (server, url):
        target = collector(url, "minixdr-federated")
        server.body = b'{"status": "healthy", "current_round": '
        first = await scrape(target)
        second = await scrape(target)
        server.body, server.content_type = b"<html>sign in</html>", "text/html"
        third = await scrape(target)
        server.body = json.dumps(recorded("minixdr-federated")).encode()
        server.content_type = "application/json"
        fourth = await scrape(target)
    assert value(first, "up") == 0 and value(first, "failure", reason="invalid_json") == 1
    assert value(second, "fetch_failures_total", reason="invalid_json") == 2
    assert value(third, "failure", reason="content_type") == 1
    assert value(fourth, "up") == 1 and value(fourth, "minixdr_federated_healthy") == 1
    assert value(fourth, "fetch_failures_total", reason="invalid_json") == 2
    messages = [(r.message, r.__dict__["fields"].get("reason")) for r in caplog.records]
    # Logged once per cause, not once per scrape; and once when it is over.
    assert messages == [("status fetch failed", "invalid_json"),
                        ("status fetch failed", "content_type"),
                        ("status fetch recovered", None)]


async def test_a_status_outside_valid_status_is_down_and_a_listed_one_is_read() -> None:
    body = recorded("blindspotx-health")
    body["components"]["oauth"] = {"status": "down"}
    async with endpoint() as (server, url):
        server.body, server.status = json.dumps(body).encode(), 503
        plain = await scrape(collector(url, "blindspotx-health"))
        listed = await scrape(collector(url, "blindspotx-health", valid_status=[200, 503]))
    assert value(plain, "up") == 0 and value(plain, "failure", reason="status") == 1
    assert value(listed, "up") == 1
    assert value(listed, "blindspotx_component_up", component="oauth") == 0
    assert value(listed, "blindspotx_component_up", component="database") == 1


async def test_a_body_over_the_size_limit_is_down_with_reason_too_large() -> None:
    async with endpoint() as (server, url):
        server.body = json.dumps({"status": "healthy", "pad": "x" * 4096}).encode()
        target = collector(url, "minixdr-federated")
        target.config = StatusConfig(max_body_bytes=1024)
        text = await scrape(target)
    assert value(text, "failure", reason="too_large") == 1


async def test_a_refused_connection_is_down_with_reason_connection() -> None:
    async with endpoint() as (_, url):
        pass  # the server is gone: its port now refuses
    text = await scrape(collector(url, "minixdr-ml"))
    assert value(text, "up") == 0 and value(text, "failure", reason="connection") == 1


async def test_values_that_cannot_be_read_are_counted_across_scrapes_and_the_target_stays_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "promfleet.jsonstatus")
    body = recorded("blindspotx-health")
    body["components"] = {f"c{i}": "up" for i in range(40)}
    async with endpoint() as (server, url):
        server.body = json.dumps(body).encode()
        target = collector(url, "blindspotx-health")
        await scrape(target)
        text = await scrape(target)
    assert value(text, "up") == 1
    assert value(text, "values_skipped_total", metric="blindspotx_component_up",
                 reason="over_limit") == 48  # 24 past the cap of 16, twice
    assert len([r for r in caplog.records if r.message == "status values skipped"]) == 1


def test_a_bad_target_is_refused_at_start_naming_it_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"targets\[0\] \(svc\): mapping: unknown mapping 'nope'"):
        parse_targets([{"name": "svc", "url": "http://x/", "mapping": "nope"}])
    with pytest.raises(ValueError, match=r"targets\[0\] \(svc\): url must be http"):
        parse_targets([{"name": "svc", "url": "ftp://x/", "mapping": "minixdr-ml"}])
    own = tmp_path / "own.yml"
    own.write_text("own:\n  metrics:\n    - name: own_x\n      type: histogram\n"
                   "      help: x\n      value: x\n")
    with pytest.raises(ValueError, match=r"own.yml line 3: own.metrics\[0\] \(own_x\): type"):
        parse_targets([{"name": "svc", "url": "http://x/", "mapping_file": str(own)}])


def test_a_users_mapping_may_not_redeclare_a_shipped_family_differently(tmp_path: Path) -> None:
    own = tmp_path / "own.yml"
    own.write_text("own:\n  metrics:\n    - name: minixdr_workflows_active\n      type: gauge\n"
                   "      help: something else\n      value: x\n")
    with pytest.raises(ValueError, match="minixdr_workflows_active' is declared elsewhere"):
        parse_targets([{"name": "svc", "url": "http://x/", "mapping_file": str(own)}])


def test_every_shipped_family_is_declared_by_the_exporter() -> None:
    declared = {s.name for s in jsonstatus.METRICS}
    for mapping in MAPPINGS.values():
        assert {m.name for m in mapping.metrics} <= declared


def test_no_targets_build_no_collectors() -> None:
    assert build(Settings("jsonstatus", {})) == ()
