"""A dead exporter does not turn its pages into "resolved": its alerts keep firing after
their series vanish, until the target-down alert fires and Alertmanager mutes them.

The stack scrapes a real training exporter reading a status directory the test owns. The
directory goes away, so the exporter publishes ``promfleet_training_source_up 0`` and the
source-down alert fires; then the exporter itself is killed. Its series go stale at the
next scrape, and without ``keep_firing_for`` the alert would resolve within a second or
two, long before the target-down alert's ``for``. Every ``for`` is 10 s here (so
``keep_firing_for`` is 10 s plus four 1 s intervals): the webhook must receive the
target-down page and no "resolved" for the source-down alert before it, nor after while
the exporter stays down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.model import Catalogue
from tests.live.conftest import LiveStack, StartLiveStack, training_member
from tests.live.webhook import Delivery

pytestmark = pytest.mark.live

ALERT = "TrainingStatusSourceDown"
FOR = "10s"
TIMEOUT_S = 90.0
# After Prometheus resolved the alert, how long Alertmanager gets to (wrongly) deliver
# the "resolved": many 1 s group intervals.
MUTED_CHECK_S = 8.0


@pytest.fixture(scope="module")
def status_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("training-status")


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, status_dir: Path) -> LiveStack:
    return live_stack(members=[training_member(status_dir)], settings={"alert_for_override": FOR})


def _resolved(delivery: Delivery) -> bool:
    return delivery.name == ALERT and delivery.status == "resolved"


def _wait_until_gone_from_prometheus(stack: LiveStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while stack.query(f'ALERTS{{alertname="{ALERT}"}}'):
        if time.monotonic() > deadline:
            raise AssertionError(f"{ALERT} still active in Prometheus after {timeout:.0f}s")
        time.sleep(0.5)


def test_a_killed_exporter_keeps_its_alert_firing_until_the_target_down_page_mutes_it(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    target_down = catalogue.routing.target_down_alert
    instance = stack.address("training")
    moved = status_dir.with_name(status_dir.name + "-away")
    status_dir.rename(moved)
    try:
        firing = stack.wait_for_alert(ALERT, timeout=TIMEOUT_S, job="training")
        assert firing.labels["instance"] == instance
        killed_at = time.monotonic()
        stack.stop_member("training")
        down = stack.wait_for_alert(
            target_down, timeout=TIMEOUT_S, job="training", instance=instance
        )
        print(
            f"\nexporter killed to {target_down}: {down.received_at - killed_at:.1f} s; "
            f"{ALERT} firing since {killed_at - firing.received_at:.1f} s before the kill"
        )
        early = stack.webhook.find(lambda d: _resolved(d) and d.received_at < down.received_at)
        assert early == [], f"{ALERT} was reported resolved before {target_down} fired: {early}"
        # The evidence stays gone: Prometheus resolves the alert once keep_firing_for has
        # passed, and Alertmanager, with the target-down alert firing, mutes the "resolved".
        _wait_until_gone_from_prometheus(stack, TIMEOUT_S)
        with pytest.raises(AssertionError, match="no resolved"):
            stack.webhook.wait_for(_resolved, MUTED_CHECK_S, what=f"resolved {ALERT}")
        assert stack.query(
            f'ALERTS{{alertname="{target_down}",alertstate="firing",job="training"}}'
        ), f"{target_down} stopped firing while the exporter was down"
    finally:
        moved.rename(status_dir)
        stack.start_member("training")
