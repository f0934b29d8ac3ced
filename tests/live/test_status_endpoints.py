"""The jsonstatus exporter on the live stack: a BlindspotX health component going down
pages through its own alert, at the receiver the routing names, and the other
components' alerts stay silent (a component is its own page, not a generic one).

The stand-in ``status-demo`` answers ``POST /chaos?component=NAME&state=down``; the stack
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
