"""The SLO burn-rate alerts on the live stack: healthy traffic fires nothing, 5 % of the
demo's requests failing fires the fast page tier within minutes, at the engineering
pager, and the ticket tiers the same burn trips are held back by it.

The windows are compressed through the generator's settings (``slo_window_divisor=60``:
the page tier's hour is a minute, its 5 minutes 5 seconds), never by editing generated
files; the stack renders its own rules with them. ``alert_for_override`` is 0 s here, so
a condition that holds at any evaluation would show at once.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from generator.model import Catalogue
from tests.helpers import post_json
from tests.live.conftest import LiveStack, StartLiveStack, demo_traffic, expected_receiver

pytestmark = pytest.mark.live

DIVISOR = 60
ALERT = "AppAvailabilitySLOBudgetBurn"
SLO_ALERTS = 'ALERTS{slo!="",severity=~"warning|critical"}'
# Healthy traffic watched for longer than the compressed page windows (1 and 6 minutes'
# worth of the 1h and 6h windows: the 1h window fills, the 6h one is a sixth full).
HEALTHY_SECONDS = 75.0
PAGE_TIMEOUT_S = 240.0
INHIBITION_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    return live_stack(members=["app", "probe"], settings={"slo_window_divisor": str(DIVISOR)})


@pytest.fixture(scope="module")
def traffic(stack: LiveStack) -> Iterator[list[int]]:
    """Requests to the demo every 20 ms (bounded to 20,000) for the whole module."""
    with demo_traffic(stack, 0.02, 20000) as statuses:
        yield statuses


def _alertmanager_alerts(stack: LiveStack, **filters: str) -> list[dict[str, object]]:
    query = urllib.parse.urlencode(
        [("filter", f'{k}="{v}"') for k, v in filters.items()]
        + [("inhibited", "true"), ("silenced", "true"), ("active", "true")]
    )
    with urllib.request.urlopen(f"{stack.alertmanager_url}/api/v2/alerts?{query}", timeout=5) as r:
        result: list[dict[str, object]] = json.loads(r.read())
    return result


def test_the_slo_rules_are_loaded_with_the_compressed_windows(stack: LiveStack) -> None:
    rules = (stack.out_dir / "rules" / "slo-app-availability.rules.yml").read_text("utf-8")
    assert "[5s]" in rules and "[1m]" in rules and "[12h]" in rules
    assert 'interval: "1m"' in rules  # the hourly group, once a compressed hour


def test_healthy_traffic_fires_no_slo_alert_then_5_percent_failing_pages(
    stack: LiveStack, catalogue: Catalogue, traffic: list[int]
) -> None:
    base = f"http://{stack.address('app')}"
    assert post_json(f"{base}/chaos?error_rate=0")[0] == 200
    # Healthy: the SLI is measured (the guard's traffic is there), and nothing burns.
    assert stack.wait_for_data(
        'slo:sli_events:rate1h{slo="app-availability"} >= 5.8', timeout=60
    ), "the demo's traffic never reached the page tier's minimum"
    deadline = time.monotonic() + HEALTHY_SECONDS
    while time.monotonic() < deadline:
        assert stack.query(SLO_ALERTS) == [], "an SLO alert on healthy traffic"
        time.sleep(1.0)
    assert stack.webhook.find(lambda d: d.name.endswith("BudgetBurn")) == []
    healthy = list(traffic)
    assert healthy and set(healthy) == {200}

    started = len(traffic)
    assert post_json(f"{base}/chaos?error_rate=0.05")[0] == 200
    try:
        delivery = stack.wait_for_alert(
            ALERT,
            expected_receiver(catalogue, "engineering", "critical"),
            timeout=PAGE_TIMEOUT_S,
            slo_window="1h",
        )
        burn = stack.query('slo:error_budget:burn_rate1h{slo="app-availability"}')
        # The ticket tiers fire in Prometheus too, and Alertmanager holds them back.
        ticket_seen = _wait_for_inhibited_ticket(stack)
    finally:
        post_json(f"{base}/chaos?error_rate=0")
    assert delivery.labels["slo_tier"] == "page"
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["slo"] == "app-availability"
    assert delivery.annotations["runbook_url"].endswith(f"/{ALERT}.md")
    assert burn and float(burn[0]["value"][1]) > 14.4
    # The page came from real failed requests, about one in twenty.
    failing = traffic[started:]
    assert failing and 0.02 < failing.count(500) / len(failing) < 0.1, (
        failing.count(500), len(failing))
    assert ticket_seen, "no ticket tier fired in Prometheus while the page tier did"
    assert stack.webhook.find(
        lambda d: d.name == ALERT and d.labels.get("slo_tier") == "ticket"
    ) == [], "a ticket tier reached a receiver while its page tier fired"


def _wait_for_inhibited_ticket(stack: LiveStack) -> bool:
    """True once a ticket tier of the SLO fires in Prometheus and Alertmanager reports it
    inhibited (by the firing page tier)."""
    deadline = time.monotonic() + INHIBITION_TIMEOUT_S
    while time.monotonic() < deadline:
        tickets = [
            a for a in _alertmanager_alerts(stack, alertname=ALERT, slo_tier="ticket")
        ]
        inhibited = [a for a in tickets if a["status"]["inhibitedBy"]]  # type: ignore[index]
        if inhibited:
            return True
        time.sleep(1.0)
    return False
