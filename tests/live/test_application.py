"""Real traffic on the demo service fires the application alerts through Alertmanager.

The stack runs the demo service (job ``app``) and the probe exporter watching its
``/healthz``. The test turns the demo's chaos on (half the requests fail, the health
endpoint reports unhealthy), drives real requests at it, and waits for the catalogue's
alerts to reach the receiver the routing policy names for their team and severity.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from generator.model import Catalogue
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver, load_catalogue

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 45.0


def _post(url: str) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    live = live_stack(members=["app", "probe"])
    live.wait_for_targets_up(timeout=30)
    return live


@pytest.fixture()
def traffic(stack: LiveStack) -> Iterator[list[int]]:
    """Requests to the demo every 50 ms (bounded to 60 s) while the test runs."""
    base = f"http://{stack.address('app')}"
    statuses: list[int] = []
    stop = threading.Event()

    def drive() -> None:
        for i in range(1200):
            if stop.wait(0.05):
                return
            statuses.append(_get(f"{base}/api/items/{i}"))

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(timeout=10)


def test_half_the_requests_failing_pages_the_engineering_critical_receiver(
    stack: LiveStack, catalogue: Catalogue, traffic: list[int]
) -> None:
    base = f"http://{stack.address('app')}"
    assert _post(f"{base}/chaos?error_rate=0.5") == 200
    try:
        delivery = stack.wait_for_alert(
            "AppHighErrorRate", timeout=PAGE_TIMEOUT_S, instance=stack.address("app")
        )
    finally:
        _post(f"{base}/chaos?error_rate=0")
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["team"] == "engineering"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "critical")
    assert delivery.annotations["runbook_url"].endswith("/AppHighErrorRate.md")
    assert 500 in traffic and 200 in traffic  # the alert came from real failed requests


def test_an_unhealthy_health_endpoint_pages_through_the_probe(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    base = f"http://{stack.address('app')}"
    assert _post(f"{base}/chaos?health=unhealthy") == 200
    try:
        delivery = stack.wait_for_alert(
            "AppServiceUnhealthy", timeout=PAGE_TIMEOUT_S, severity="critical", target="app"
        )
    finally:
        _post(f"{base}/chaos?health=healthy")
    assert delivery.labels["job"] == "probe"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "critical")
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        assert json.loads(response.read())["status"] == "healthy"
