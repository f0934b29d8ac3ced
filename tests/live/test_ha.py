"""The HA topology live on loopback (``make run TOPOLOGY=ha``): two Prometheus replicas
evaluate the same condition and three Alertmanagers gossip, yet a page arrives once; an
acknowledgement made on one peer holds on the others; after one Alertmanager and one
Prometheus are killed, a new alert still arrives at every receiver (no page lost), at
most once per surviving Alertmanager: in the failover Alertmanager's cluster promises
at-least-once, and a loaded machine can make both survivors send.

"Once" is checked over a quiet period after the first delivery that outlasts the
cluster's dedup window: a peer at position ``n`` waits ``n`` times the peer timeout
(15 s) before it sends what no other peer sent, so a duplicate would arrive within it.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator.model import Catalogue
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver
from tests.live.webhook import Delivery
from tests.oncall.servers import MetricsServer, alerts_named, oncall, query, wait_for

pytestmark = pytest.mark.live

ALERT = "HADemoCondition"
PEER_TIMEOUT_SECONDS = 15  # Alertmanager's --cluster.peer-timeout default
QUIET_SECONDS = 3 * PEER_TIMEOUT_SECONDS  # past the last of three peers' waits


def _rules(path: Path) -> Path:
    rule = {
        "alert": ALERT,
        "expr": "ha_demo_condition > 0",
        "labels": {"severity": "critical", "team": "ops"},
        "annotations": {"summary": "demo condition {{ $labels.case }}",
                        "description": "the HA test's condition",
                        "runbook_url": "http://runbooks.invalid/HADemoCondition.md"},
    }
    path.write_text(yaml.safe_dump({"groups": [{"name": "ha-demo", "rules": [rule]}]}),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def condition() -> Iterator[MetricsServer]:
    with MetricsServer({'ha_demo_condition{case="first"}': 0}) as server:
        yield server


@pytest.fixture(scope="module")
def ha(live_stack: StartLiveStack, condition: MetricsServer,
       tmp_path_factory: pytest.TempPathFactory) -> LiveStack:
    rules = _rules(tmp_path_factory.mktemp("ha-rules") / "ha.rules.yml")
    return live_stack(members=(), topology="ha", extra_targets={"hademo": (condition.address,)},
                      extra_rule_files=(rules,))


def _deliveries(live: LiveStack, case: str) -> list[Delivery]:
    return live.webhook.find(lambda d: d.name == ALERT and d.status == "firing"
                             and d.labels.get("case") == case)


def _exactly_once(live: LiveStack, case: str, pager: str) -> Counter[str]:
    """Wait for the page of ``case`` at ``pager``, then through the quiet period; each
    receiver it reached got it once."""
    first = live.wait_for_alert(ALERT, pager, timeout=120, case=case)
    assert "replica" not in first.labels, first.labels  # dropped before it left
    while time.monotonic() < first.received_at + QUIET_SECONDS:
        time.sleep(1)
    counts = Counter(d.receiver for d in _deliveries(live, case))
    assert counts[pager] == 1 and set(counts.values()) == {1}, counts
    return counts


def _no_page_lost(live: LiveStack, case: str, pager: str) -> Counter[str]:
    """After a peer is killed: the page of ``case`` reaches every receiver, at most once
    per surviving Alertmanager. Until the cluster declares the dead peer gone, the
    survivors wait their turn by their old positions, and one whose turn comes before
    the other's notification log has reached it by gossip (a loaded machine) sends too:
    Alertmanager's cluster promises at-least-once delivery, never exactly-once."""
    first = live.wait_for_alert(ALERT, pager, timeout=120, case=case)
    assert "replica" not in first.labels, first.labels
    while time.monotonic() < first.received_at + QUIET_SECONDS:
        time.sleep(1)
    counts = Counter(d.receiver for d in _deliveries(live, case))
    survivors = 2
    assert counts[pager] >= 1 and max(counts.values()) <= survivors, counts
    return counts


def _silenced(url: str, case: str, silence: str) -> bool:
    """Whether every copy of ``case`` that peer ``url`` holds is muted by ``silence``."""
    found = [a for a in alerts_named(url, ALERT) if a["labels"].get("case") == case]
    return bool(found) and all(a["status"]["silencedBy"] == [silence] for a in found)


def test_a_condition_pages_once_an_ack_holds_on_every_peer_and_a_kill_loses_no_page(
    ha: LiveStack, condition: MetricsServer, catalogue: Catalogue
) -> None:
    stack = ha.stack
    pager = expected_receiver(catalogue, "ops", "critical")
    replicas = [stack.server_url(f"prometheus-{i}") for i in range(2)]
    peers = [stack.server_url(f"alertmanager-{i}") for i in range(3)]
    condition.set('ha_demo_condition{case="first"}', 1)

    # Both replicas fire it, every peer holds it, and one notification leaves per receiver.
    for url in replicas:
        wait_for(f"{url} to fire {ALERT}", lambda url=url: query(
            url, f'ALERTS{{alertname="{ALERT}", alertstate="firing"}}'), timeout=120)
    for url in peers:
        wait_for(f"{url} to hold {ALERT}", lambda url=url: alerts_named(url, ALERT), timeout=60)
    receivers = _exactly_once(ha, "first", pager)

    # Acknowledged on the first peer, the silence reaches the other two by gossip.
    done = oncall("ack", ALERT, "case=first", "--for", "1h", "--comment", "on it",
                  "--author", "alice", "--alertmanager", peers[0])
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"silence ([0-9a-f-]{36})", done.stdout)
    assert match, done.stdout
    silence = match.group(1)

    for url in peers[1:]:
        wait_for(f"the ack to hold on {url}",
                 lambda url=url: _silenced(url, "first", silence), timeout=60)

    # Lose the peer the ack was made on and one replica, as a crash would.
    stack.kill("alertmanager-0")
    stack.kill("prometheus-0")
    condition.set('ha_demo_condition{case="after-kill"}', 1)
    after = _no_page_lost(ha, "after-kill", pager)
    assert set(after) == set(receivers)

    # The ack held on the survivors: each still mutes the acknowledged alert by that
    # silence, and it was not paged again beyond the failover's at-least-once (at most
    # one more copy, sent with the new alert by a survivor whose turn came first).
    for url in peers[1:]:
        assert _silenced(url, "first", silence), alerts_named(url, ALERT)
    for d in ha.webhook.find(lambda d: d.name == ALERT):  # shown when the test fails
        print("delivered", round(d.received_at, 1), d.receiver, d.status, d.labels.get("case"))
    again = Counter(d.receiver for d in _deliveries(ha, "first"))
    assert set(again) == set(receivers) and max(again.values()) <= 2, again
