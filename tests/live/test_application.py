"""Real traffic on the demo service fires the application alerts through Alertmanager.

The stack runs the demo service (job ``app``) and the probe exporter watching its
``/healthz``. The tests turn the demo's chaos on (a share of the requests fail,
responses slow down, jobs fail, the health endpoint reports unhealthy), drive real
requests at it, and wait for the catalogue's alerts to reach the receiver the routing
policy names for their team and severity; failed logins are followed into Prometheus.
A quiet service that fails every request is not a page: the first test runs before any
load, so the 5-minute windows hold only its trickle of requests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from generator.model import Catalogue
from tests.helpers import post_json, scrape
from tests.live.conftest import LiveStack, StartLiveStack, demo_traffic, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 45.0
# Under load the page waits for the 5-minute request rate to pass 1 request a second,
# which takes the traffic fixture about 15 s on an idle machine; allow for a loaded one.
LOAD_PAGE_TIMEOUT_S = 120.0
ERRORS = "instance:promfleet_app_http_errors:ratio_rate5m"


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    return live_stack(members=["app", "probe"])


@pytest.fixture()
def traffic(stack: LiveStack) -> Iterator[list[int]]:
    """Requests to the demo every 50 ms (bounded to 3,000 requests) while the test runs."""
    with demo_traffic(stack, 0.05, 3000) as statuses:
        yield statuses


def test_a_quiet_service_failing_every_request_warns_and_does_not_page(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    # First in the module: no load has been driven yet, so the 5-minute request rate is
    # this trickle (one request every 2 s, plus nothing from the probe: /healthz is not
    # counted as traffic).
    base = f"http://{stack.address('app')}"
    instance = stack.address("app")
    stop = threading.Event()
    statuses: list[int] = []

    def trickle() -> None:
        for i in range(120):  # bounded: at most 4 minutes
            statuses.append(scrape(f"{base}/api/items/quiet-{i}", timeout=5)[0])
            if stop.wait(2.0):
                return

    assert post_json(f"{base}/chaos?error_rate=1")[0] == 200
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        # 30 errors a minute, every request failing: the burst warning, not a page.
        warning = stack.wait_for_alert(
            "AppAPIErrorBurst",
            expected_receiver(catalogue, "engineering", "warning"),
            timeout=PAGE_TIMEOUT_S * 2,
            instance=instance
        )
        # The error share is there for the page to see, and has been for a while...
        assert stack.wait_for_data(f'{ERRORS}{{instance="{instance}"}} > 0.9')
        # ...and with `for` at 0 s a page would already be pending or firing.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert (
                stack.query(f'ALERTS{{alertname="AppHighErrorRate",instance="{instance}"}}') == []
            )
            time.sleep(1.0)
    finally:
        stop.set()
        thread.join(timeout=10)
        post_json(f"{base}/chaos?error_rate=0")
    assert warning.labels["severity"] == "warning"
    assert warning.receiver == expected_receiver(catalogue, "engineering", "warning")
    assert stack.webhook.find(lambda d: d.name == "AppHighErrorRate") == []
    assert statuses and set(statuses) == {500}
    rate = stack.query(f'instance:promfleet_app_http_requests:rate5m{{instance="{instance}"}}')
    assert rate and float(rate[0]["value"][1]) < 1.0


def test_a_fifth_of_the_requests_failing_under_load_pages_the_engineering_critical_receiver(
    stack: LiveStack, catalogue: Catalogue, traffic: list[int]
) -> None:
    base = f"http://{stack.address('app')}"
    assert post_json(f"{base}/chaos?error_rate=0.2")[0] == 200
    try:
        delivery = stack.wait_for_alert(
            "AppHighErrorRate",
            expected_receiver(catalogue, "engineering", "critical"),
            timeout=LOAD_PAGE_TIMEOUT_S,
            instance=stack.address("app")
        )
    finally:
        post_json(f"{base}/chaos?error_rate=0")
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["team"] == "engineering"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "critical")
    assert delivery.annotations["runbook_url"].endswith("/AppHighErrorRate.md")
    # The page came from real failed requests, a fifth of them, at over 1 request a second.
    served = list(traffic)
    assert 0.1 < served.count(500) / len(served) < 0.35, (served.count(500), len(served))
    rate = stack.query(
        f'instance:promfleet_app_http_requests:rate5m{{instance="{stack.address("app")}"}}'
    )
    assert rate and float(rate[0]["value"][1]) >= 1.0


def test_an_unhealthy_health_endpoint_pages_through_the_probe(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    base = f"http://{stack.address('app')}"
    assert post_json(f"{base}/chaos?health=unhealthy")[0] == 200
    try:
        delivery = stack.wait_for_alert(
            "AppServiceUnhealthy",
            expected_receiver(catalogue, "engineering", "critical"),
            timeout=PAGE_TIMEOUT_S,
            severity="critical",
            target="app"
        )
    finally:
        post_json(f"{base}/chaos?health=healthy")
    assert delivery.labels["job"] == "probe"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "critical")
    status, _, body = scrape(f"{base}/healthz", timeout=5)
    assert (status, json.loads(body)["status"]) == (200, "healthy")


def test_failing_job_runs_warn_of_a_low_job_success_rate(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    base = f"http://{stack.address('app')}"
    # Every run of "report" fails: there is no successful run to divide by. Ten runs in
    # the hour are needed before the share means anything; the first is not counted
    # (a counter's first sample has nothing before it), so twelve.
    for _ in range(12):
        assert post_json(f"{base}/api/jobs/report/run?fail=1")[0] == 202
        time.sleep(1.2)  # one Prometheus scrape between runs, so the counter is seen rising
    delivery = stack.wait_for_alert(
        "AppJobSuccessRateLow",
        expected_receiver(catalogue, "engineering", "warning"),
        timeout=PAGE_TIMEOUT_S,
        job_name="report",
    )
    assert delivery.labels["severity"] == "warning"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")


def test_a_scheduled_job_whose_runs_fail_is_reported_stopped(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    base = f"http://{stack.address('app')}"
    # The stack's demo runs "demo-sync" every 5 s; two intervals without a success trip it.
    assert post_json(f"{base}/chaos?job_failure_rate=1")[0] == 200
    try:
        delivery = stack.wait_for_alert(
            "AppScheduledJobStopped",
            expected_receiver(catalogue, "engineering", "warning"),
            timeout=PAGE_TIMEOUT_S,
            job_name="demo-sync"
        )
    finally:
        post_json(f"{base}/chaos?job_failure_rate=0")
    assert delivery.labels["instance"] == stack.address("app")
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")


def test_failed_logins_reach_prometheus_by_reason(stack: LiveStack) -> None:
    base = f"http://{stack.address('app')}"
    for _ in range(3):
        assert post_json(f"{base}/api/login", {"user": "u", "password": "wrong"})[0] == 401
    assert post_json(f"{base}/api/login", {"user": "u", "password": "demo"})[0] == 200
    failed = stack.wait_for_data(
        'promfleet_app_logins_total{job="app",outcome="failure",reason="bad_password"} >= 3'
    )
    assert [float(s["value"][1]) for s in failed] == [3.0]
    ok = stack.query('promfleet_app_logins_total{job="app",outcome="success",reason="ok"}')
    assert [float(s["value"][1]) for s in ok] == [1.0]


def test_slow_responses_warn_of_the_mean_response_time(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    base = f"http://{stack.address('app')}"
    stop = threading.Event()
    statuses: list[int] = []

    def drive(worker: int) -> None:
        for i in range(40):  # bounded: 40 requests of 3 s at most per worker
            if stop.is_set():
                return
            statuses.append(scrape(f"{base}/api/items/{worker}-{i}", timeout=5)[0])

    # 3 s per request from 32 concurrent clients outweighs the fast requests earlier
    # tests made within the 5-minute window in about 20 s.
    assert post_json(f"{base}/chaos?latency_seconds=3")[0] == 200
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            for worker in range(32):
                pool.submit(drive, worker)
            try:
                delivery = stack.wait_for_alert(
                    "AppSlowResponses",
                    expected_receiver(catalogue, "engineering", "warning"),
                    timeout=90,
                    instance=stack.address("app")
                )
            finally:
                stop.set()
    finally:
        post_json(f"{base}/chaos?latency_seconds=0")
    assert delivery.labels["severity"] == "warning"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
    assert statuses and set(statuses) == {200}  # slow, not failing


def test_memory_operations_failing_warn_only_once_the_tier_is_busy_enough_to_judge(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    # B2BValue's rule: memory operations failing above 1 % warn engineering, at one
    # operation a second or more on the tier. The demo's steady traffic (3 operations per
    # tier every 5 s) sits under that floor: half of them failing is a high share of very
    # little, and must stay silent. Forty times the traffic with 5 % failing must warn.
    base = f"http://{stack.address('app')}"
    instance = stack.address("app")
    ratio = ("instance_tier:promfleet_app_memory_operations:failure_ratio_rate5m"
             f'{{instance="{instance}"}}')
    firing = f'ALERTS{{alertname="AppMemoryOperationFailures",instance="{instance}"}}'
    receiver = expected_receiver(catalogue, "engineering", "warning")
    assert post_json(f"{base}/chaos?memory_failure_rate=0.5")[0] == 200
    try:
        assert stack.wait_for_data(f"{ratio} > 0.01", timeout=60), \
            "the failure share never rose over 1 %"
        quiet_until = time.monotonic() + 20  # four evaluations with the share over 1 %
        while time.monotonic() < quiet_until:
            assert not stack.query(firing), "fired under the one-operation-a-second floor"
            time.sleep(1)
        assert not [d for d in stack.webhook.deliveries
                    if d.labels.get("alertname") == "AppMemoryOperationFailures"]

        assert post_json(f"{base}/chaos?memory_failure_rate=0.05&memory_load=40")[0] == 200
        delivery = stack.wait_for_alert("AppMemoryOperationFailures", receiver, timeout=120,
                                        instance=instance)
    finally:
        post_json(f"{base}/chaos?memory_failure_rate=0&memory_load=1")
    assert delivery.labels["severity"] == "warning"
    assert delivery.labels["tier"] in {"working", "long-term"}
    busy = stack.query(
        f'instance_tier:promfleet_app_memory_operations:rate5m{{instance="{instance}"}} >= 1')
    assert {r["metric"]["tier"] for r in busy} >= {delivery.labels["tier"]}
