"""The demo service as a process: chaos on demand, health JSON, two workers merged on one port."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from exporters.app import METRICS
from exporters.app.demo import BACKGROUND, ChaosState, DemoConfig, build_app
from tests.helpers import (
    REPO_ROOT,
    assert_matches_declaration,
    child_env,
    free_port,
    post_json,
    promtool_check_metrics,
    sample_value,
    scrape,
    serve_app,
)

REQUESTS = "promfleet_app_http_requests_total"
ITEM = {"method": "GET", "route": "/api/items/{item_id}", "tenant": ""}


@contextmanager
def demo(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m exporters.app.demo`` on a free port; yields its base URL."""
    port = free_port()
    full_env = child_env(env)
    with tempfile.TemporaryFile() as logs:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporters.app.demo", "--port", str(port), *args],
            cwd=REPO_ROOT,
            env=full_env,
            stdout=logs,
            stderr=logs,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):  # bounded: up to 20 s
                if proc.poll() is not None:
                    break
                try:
                    if scrape(f"{url}/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            if proc.poll() is not None:
                logs.seek(0)
                raise AssertionError(f"demo exited: {logs.read().decode(errors='replace')}")
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_chaos_error_rate_half_fails_exactly_every_other_request() -> None:
    with demo() as url:
        assert post_json(f"{url}/chaos?error_rate=0.5")[0] == 200
        statuses = [scrape(f"{url}/api/items/{i}")[0] for i in range(10)]
        text = scrape(f"{url}/metrics")[2]
    assert statuses.count(500) == 5 and statuses.count(200) == 5
    assert sample_value(text, REQUESTS, {**ITEM, "status": "5xx"}) == 5
    assert sample_value(text, REQUESTS, {**ITEM, "status": "2xx"}) == 5


def test_failed_logins_jobs_and_health_are_driven_on_demand() -> None:
    with demo("--job-interval", "0.2") as url:
        assert post_json(f"{url}/api/login", {"user": "u", "password": "wrong"})[0] == 401
        assert post_json(f"{url}/api/login", {"user": "u", "password": "demo"})[0] == 200
        assert post_json(f"{url}/api/jobs/report/run?fail=1")[0] == 202
        chaos = {"job_failure_rate": 1, "dependency.redis": False}
        assert post_json(f"{url}/chaos", chaos)[0] == 200
        status, _, body = scrape(f"{url}/healthz")
        assert (status, json.loads(body)["status"]) == (200, "degraded")
        assert post_json(f"{url}/chaos?health=unhealthy")[0] == 200
        assert scrape(f"{url}/healthz")[0] == 503
        assert post_json(f"{url}/chaos?error_rate=7")[0] == 400
        failures = None
        for _ in range(50):  # the scheduler runs every 0.2 s; bounded wait for a failed run
            text = scrape(f"{url}/metrics")[2]
            labels = {"job_name": "demo-sync", "outcome": "failure"}
            failures = sample_value(text, "promfleet_app_job_runs_total", labels)
            if failures:
                break
            time.sleep(0.1)
    logins = "promfleet_app_logins_total"
    assert sample_value(text, logins, {"outcome": "failure", "reason": "bad_password"}) == 1
    assert sample_value(text, logins, {"outcome": "success", "reason": "ok"}) == 1
    runs = "promfleet_app_job_runs_total"
    assert sample_value(text, runs, {"job_name": "report", "outcome": "failure"}) == 1
    assert failures is not None and failures >= 1
    assert promtool_check_metrics(text) == []
    not_exercised = {
        "promfleet_app_http_exceptions_total",
        "promfleet_app_workflows_started_total",
        "promfleet_app_workflows_completed_total",
        "promfleet_app_workflows_failed_total",
        "promfleet_app_workflow_duration_seconds",
        "promfleet_app_external_requests_total",
        "promfleet_app_external_request_duration_seconds",
        "promfleet_app_external_quota_used",
        "promfleet_app_external_quota_limit",
        "promfleet_app_deliveries_total",
    }
    assert_matches_declaration(text, METRICS, allow_missing=not_exercised)


def test_two_worker_processes_publish_one_merged_exposition(tmp_path: Path) -> None:
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    pids: dict[str, int] = {}
    sent = 0
    with demo("--workers", "2", env=env) as url:
        for i in range(400):  # a fresh connection each: the kernel spreads them over workers
            request = urllib.request.Request(
                f"{url}/api/items/{i}", headers={"Connection": "close"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                pid = response.headers["X-Worker-Pid"]
            pids[pid] = pids.get(pid, 0) + 1
            sent += 1
            if len(pids) == 2 and sent >= 20:
                break
        texts = [scrape(f"{url}/metrics")[2] for _ in range(4)]
    assert len(pids) == 2, f"requests reached only worker(s) {sorted(pids)}"
    # Whichever worker answers /metrics, it counts what both served.
    for text in texts:
        assert sample_value(text, REQUESTS, {**ITEM, "status": "2xx"}) == sent
        count = "promfleet_app_http_request_duration_seconds_count"
        assert sample_value(text, count, {"method": "GET", "route": "/api/items/{item_id}"}) == sent
    assert len(list(multiproc.iterdir())) >= 2  # each worker wrote its own files


def _spread(url: str, path: str) -> dict[str, set[int]]:
    """Statuses by worker pid, fresh connections until both workers have answered."""
    seen: dict[str, set[int]] = {}
    for sent in range(1, 401):  # the kernel spreads new connections over the two workers
        request = urllib.request.Request(f"{url}{path}", headers={"Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                pid, status = response.headers["X-Worker-Pid"], int(response.status)
        except urllib.error.HTTPError as err:
            pid, status = err.headers["X-Worker-Pid"], err.code
        seen.setdefault(pid, set()).add(status)
        if len(seen) == 2 and sent >= 10:
            break
    assert len(seen) == 2, f"requests reached only worker(s) {sorted(seen)}"
    return seen


def test_chaos_posted_to_one_worker_applies_to_every_worker() -> None:
    with demo("--workers", "2") as url:
        assert post_json(f"{url}/chaos?error_rate=1")[0] == 200
        failing = _spread(url, "/api/items/1")
        assert post_json(f"{url}/chaos", {"error_rate": 0, "health": "unhealthy"})[0] == 200
        healed = _spread(url, "/api/items/1")
        health = _spread(url, "/healthz")
    assert all(statuses == {500} for statuses in failing.values()), failing
    assert all(statuses == {200} for statuses in healed.values()), healed
    assert all(statuses == {503} for statuses in health.values()), health


def test_a_shared_chaos_file_is_reloaded_when_changed_and_a_bad_one_keeps_the_last_state(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "chaos.json")
    one, two = ChaosState(path), ChaosState(path)
    assert two.get().error_rate == 0.0  # no file yet: the defaults
    one.update({"error_rate": "0.25", "dependency.redis": "false"})
    assert two.get().error_rate == 0.25 and two.get().dependencies["redis"] is False
    two.update({"latency_seconds": "2"})
    assert one.get().error_rate == 0.25 and one.get().latency_seconds == 2.0
    for bad in ('{"error_rate": 9}', "[1]", '{"dependencies": ["redis"]}'):
        Path(path).write_text(bad)  # out of range, or not the shape written: not applied
        assert one.get().error_rate == 0.25, bad
    with pytest.raises(ValueError, match="error_rate"):
        one.update({"error_rate": "-1"})


@asynccontextmanager
async def demo_in_process() -> AsyncIterator[tuple[str, web.Application]]:
    """The demo app served by this test's event loop on a free port."""
    app = build_app(DemoConfig(job_interval_seconds=3600))
    async with serve_app(app) as url:
        yield url, app


@pytest.mark.anyio
async def test_finished_background_jobs_are_not_kept_by_the_demo() -> None:
    async with demo_in_process() as (url, app), aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.post(f"{url}/api/jobs/import/run?seconds=0") as response:
                assert response.status == 202
        for _ in range(100):  # bounded: the runs finish within a few loop turns
            if not app[BACKGROUND]:
                break
            await asyncio.sleep(0.01)
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
    assert app[BACKGROUND] == set()
    runs = {"job_name": "import", "outcome": "success"}
    assert sample_value(text, "promfleet_app_job_runs_total", runs) == 5


@pytest.mark.anyio
async def test_bad_input_to_the_demo_is_a_400_not_an_unhandled_exception() -> None:
    async with demo_in_process() as (url, _), aiohttp.ClientSession() as session:
        statuses = []
        for path, body in (
            ("/api/login", "[1, 2]"),
            ("/api/login", "not json"),
            ("/api/login", b"\xff\xfe"),
            ("/chaos", "[1, 2]"),
            ("/api/jobs/report/run?seconds=abc", ""),
            ("/api/jobs/report/run?seconds=nan", ""),
            ("/api/jobs/report/run?seconds=-5", ""),
            ("/api/jobs/report/run?seconds=601", ""),
            ("/chaos?latency_seconds=inf", ""),
        ):
            headers = {"Content-Type": "application/json"}
            async with session.post(f"{url}{path}", data=body, headers=headers) as response:
                statuses.append(response.status)
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
    assert statuses == [400] * 9
    assert "promfleet_app_http_exceptions_total{" not in text
    assert 'promfleet_app_job_runs_total{job_name="report"' not in text
