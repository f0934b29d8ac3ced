"""The jsonstatus exporter on the live stack: a BlindspotX health component going down
pages through its own alert, at the receiver the routing names, and the other
components' alerts stay silent (a component is its own page, not a generic one); a
Mini-XDR agent whose heartbeat is late, an organisation that sends no event and a burst
of incidents each alert for that agent or organisation alone.

The stand-in ``status-demo`` takes its faults from ``POST /chaos`` (a component down, an
agent's heartbeat or an organisation's last event made old, incidents opened); the stack
runs the real rules, with ``for`` compressed as every live test compresses it.
"""

from __future__ import annotations

import time

import pytest

from generator.model import Catalogue
from tests.helpers import post_json, scrape
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 90.0
OTHERS = ("BlindspotXRedisDown", "BlindspotXOAuthDown", "BlindspotXDriftMonitorDown")


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    return live_stack(members=["status-demo", "jsonstatus"])


def test_blindspotx_s_database_down_pages_its_own_alert_and_nothing_else(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    demo = f"http://{stack.address('status-demo')}"
    status, _, body = scrape(f"{demo}/api/health", timeout=5)
    assert status == 200 and '"healthy"' in body
    assert post_json(f"{demo}/chaos?component=nosuch&state=down")[0] == 400
    assert post_json(f"{demo}/chaos?component=database&state=down")[0] == 200
    try:
        assert scrape(f"{demo}/api/health", timeout=5)[0] == 503  # as BlindspotX answers
        pager = expected_receiver(catalogue, "engineering", "critical")
        delivery = stack.wait_for_alert("BlindspotXDatabaseDown", pager,
                                        timeout=PAGE_TIMEOUT_S)
        # The exporter read the 503's body (listed as valid), so it is up, and the other
        # components are read as up: none of their alerts is even pending.
        up = stack.query('promfleet_jsonstatus_up{target="blindspotx"}')
        assert [s["value"][1] for s in up] == ["1"], up
        time.sleep(5)  # a few more evaluations with the database still down
        others = stack.query(
            'ALERTS{alertname=~"' + "|".join(OTHERS) + '"} or '
            'ALERTS{alertname="JsonStatusEndpointDown"}')
        assert others == [], others
    finally:
        post_json(f"{demo}/chaos?component=database&state=healthy")
    assert delivery.labels["severity"] == "critical"
    assert delivery.receiver == pager
    resolved = stack.wait_for_alert("BlindspotXDatabaseDown", pager, timeout=PAGE_TIMEOUT_S,
                                    status="resolved")
    assert resolved.labels["alertname"] == "BlindspotXDatabaseDown"


def test_one_agent_s_late_heartbeat_warns_engineering_for_that_agent_only_and_resolves(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    demo = f"http://{stack.address('status-demo')}"
    receiver = expected_receiver(catalogue, "engineering", "warning")
    assert post_json(f"{demo}/chaos?agent=forensics&heartbeat_age=600")[0] == 200
    try:
        delivery = stack.wait_for_alert("MiniXdrAgentHeartbeatLate", receiver,
                                        timeout=PAGE_TIMEOUT_S, agent="forensics")
        time.sleep(3)  # more evaluations: the other agents' heartbeats stay fresh
        late = stack.query('ALERTS{alertname="MiniXdrAgentHeartbeatLate"}')
        assert {s["metric"]["agent"] for s in late} == {"forensics"}, late
    finally:
        post_json(f"{demo}/chaos?agent=forensics&heartbeat_age=0")
    assert delivery.labels["severity"] == "warning"
    assert delivery.labels["target"] == "minixdr-orchestrator"
    stack.wait_for_alert("MiniXdrAgentHeartbeatLate", receiver, timeout=PAGE_TIMEOUT_S,
                         status="resolved", agent="forensics")


def test_an_organisation_silent_for_two_hours_pages_security_once_not_also_a_warning(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    demo = f"http://{stack.address('status-demo')}"
    pager = expected_receiver(catalogue, "security", "critical")
    assert post_json(f"{demo}/chaos?organisation=acme&event_age=7200")[0] == 200
    try:
        delivery = stack.wait_for_alert("MiniXdrNoEvents", pager, timeout=PAGE_TIMEOUT_S,
                                        organisation="acme")
        time.sleep(5)  # both levels hold; the warning is inhibited by its critical twin
        firing = stack.query('ALERTS{alertname="MiniXdrNoEvents",alertstate="firing"}')
        assert {(s["metric"]["organisation"], s["metric"]["severity"]) for s in firing} == {
            ("acme", "critical"), ("acme", "warning")}, firing
    finally:
        post_json(f"{demo}/chaos?organisation=acme&event_age=0")
    assert delivery.labels["severity"] == "critical"
    warnings = stack.webhook.find(lambda d: d.name == "MiniXdrNoEvents"
                                  and d.labels.get("severity") == "warning")
    assert warnings == [], warnings
    stack.wait_for_alert("MiniXdrNoEvents", pager, timeout=PAGE_TIMEOUT_S,
                         status="resolved", organisation="acme")


def test_a_burst_of_incidents_for_one_organisation_warns_security_for_it_alone(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    demo = f"http://{stack.address('status-demo')}"
    receiver = expected_receiver(catalogue, "security", "warning")
    assert post_json(f"{demo}/chaos?organisation=globex&incidents=25")[0] == 200
    delivery = stack.wait_for_alert("MiniXdrIncidentVolumeHigh", receiver,
                                    timeout=PAGE_TIMEOUT_S, organisation="globex")
    assert delivery.labels["severity"] == "warning"
    time.sleep(3)  # more evaluations: the other organisations' volumes stay low
    volume = stack.query('ALERTS{alertname="MiniXdrIncidentVolumeHigh"}')
    assert {s["metric"]["organisation"] for s in volume} == {"globex"}, volume
