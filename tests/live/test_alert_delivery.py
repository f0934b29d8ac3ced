"""Real conditions page the right receiver; an inhibited alert stays silent.

A real target goes down (the test stops the system exporter the stack scrapes) and the
catalogue's target-down alert reaches its team's receiver with severity, team and a
runbook that exists. A fixture exporter replays a catalogue alert's critical test series
live, so that alert's warning and critical levels are both true: only the critical one
may arrive, Alertmanager inhibiting its warning twin on the same instance.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest

from generator.model import Catalogue, Severity, Threshold
from runner.stack import http_json
from tests.live.conftest import (
    REPO_ROOT,
    LiveStack,
    StartLiveStack,
    expected_receiver,
)
from tests.live.promql import metric_names
from tests.live.replay import ReplayExporter, is_constant, split_series
from tests.live.webhook import Delivery

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 30.0


def _twin_threshold(catalogue: Catalogue) -> Threshold:
    """An alert with a warning and a critical level whose critical firing series are
    exporter series (constant ones preferred: they hold the same value live)."""
    candidates = []
    for area, threshold in catalogue.thresholds():
        severities = {level.severity for level in threshold.levels}
        if not {Severity.WARNING, Severity.CRITICAL} <= severities:
            continue
        critical = next(lv for lv in threshold.levels if lv.severity == Severity.CRITICAL)
        names = {split_series(s.series)[0] for s in critical.test.firing}
        if not critical.test.firing or names & {"up", "ALERTS", "ALERTS_FOR_STATE"}:
            continue
        constant = all(is_constant(s.values) for s in critical.test.firing)
        candidates.append((not constant, area.name != "system", threshold.name, threshold))
    assert candidates, "no catalogue alert has both a warning and a critical level"
    return sorted(candidates, key=lambda c: c[:3])[0][3]


def _series_job(threshold: Threshold) -> str:
    critical = next(lv for lv in threshold.levels if lv.severity == Severity.CRITICAL)
    for series in critical.test.firing:
        text = series.series
        marker = 'job="'
        if marker in text:
            return text.split(marker, 1)[1].split('"', 1)[0]
    return "system"


@pytest.fixture(scope="module")
def twin(catalogue: Catalogue) -> Iterator[tuple[Threshold, ReplayExporter]]:
    threshold = _twin_threshold(catalogue)
    critical = next(lv for lv in threshold.levels if lv.severity == Severity.CRITICAL)
    with ReplayExporter(critical.test.firing, critical.test.interval_seconds) as replay:
        yield threshold, replay


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, twin: tuple[Threshold, ReplayExporter]) -> LiveStack:
    threshold, replay = twin
    return live_stack(members=["system"],
                      extra_targets={_series_job(threshold): (replay.address,)})


def _assert_runbook_resolves(stack: LiveStack, delivery: Delivery) -> None:
    url = delivery.annotations.get("runbook_url", "")
    assert url, f"{delivery.name} has no runbook_url: {delivery.annotations}"
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    assert name == f"{delivery.name}.md"
    assert (REPO_ROOT / "runbooks" / name).is_file(), f"{url} names no file in runbooks/"
    assert (stack.out_dir / "runbooks" / name).is_file(), f"{url}: not rendered"


def test_a_critical_alert_inhibits_its_warning_twin_on_the_same_instance(
    stack: LiveStack, twin: tuple[Threshold, ReplayExporter], catalogue: Catalogue
) -> None:
    threshold, replay = twin
    critical = stack.wait_for_alert(
        threshold.name,
        expected_receiver(catalogue, threshold.team, "critical"),
        timeout=PAGE_TIMEOUT_S,
        severity="critical",
        instance=replay.address,
    )
    assert critical.receiver == expected_receiver(catalogue, threshold.team, "critical")
    assert critical.labels["team"] == threshold.team
    _assert_runbook_resolves(stack, critical)

    # The warning is true too: Prometheus fires it, Alertmanager holds it back.
    selector = (f'ALERTS{{alertname="{threshold.name}",severity="warning",'
                f'alertstate="firing",instance="{replay.address}"}}')
    assert stack.wait_for_data(selector, timeout=10), "the warning level is not firing"
    filters = urllib.parse.urlencode(
        [("filter", f'alertname="{threshold.name}"'), ("filter", 'severity="warning"'),
         ("filter", f'instance="{replay.address}"')])
    deadline = time.monotonic() + 10
    states: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        alerts = http_json(f"{stack.alertmanager_url}/api/v2/alerts?{filters}")
        states = [a["status"] for a in alerts]
        if states and all(s.get("inhibitedBy") for s in states):
            break
        time.sleep(0.5)
    assert states, "Alertmanager never received the warning"
    assert all(s["state"] == "suppressed" and s["inhibitedBy"] for s in states), json.dumps(
        states)
    leaked = stack.webhook.find(lambda d: d.name == threshold.name
                                and d.labels.get("severity") == "warning"
                                and d.labels.get("instance") == replay.address)
    assert leaked == [], f"the inhibited warning was delivered: {leaked}"


def _target_down_threshold(catalogue: Catalogue) -> Threshold:
    """The routing policy's target-down alert (other alerts on `up` alone, such as a whole
    job being absent, are not about one stopped target)."""
    name = catalogue.routing.target_down_alert
    found = [t for _, t in catalogue.thresholds()
             if t.name == name and metric_names(t.signal) == {"up"}]
    assert found, f"the target-down alert {name} is not a catalogue alert on `up` alone"
    return found[0]


def test_a_stopped_exporter_pages_its_team_with_severity_and_a_runbook_that_exists(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    threshold = _target_down_threshold(catalogue)
    instance = stack.address("system")
    started = time.monotonic()
    stack.stop_member("system")
    try:
        # Its only level: the pager of its team.
        (level,) = threshold.levels
        delivery = stack.wait_for_alert(
            threshold.name,
            expected_receiver(catalogue, threshold.team, level.severity),
            timeout=PAGE_TIMEOUT_S,
            job="system",
            instance=instance,
        )
        print(f"\ncondition to page: {delivery.received_at - started:.2f} s "
              f"({threshold.name} -> {delivery.receiver})")
    finally:
        stack.start_member("system")
    severity = delivery.labels["severity"]
    assert severity in {level.severity.value for level in threshold.levels}
    assert delivery.labels["team"] == threshold.team
    assert delivery.receiver == expected_receiver(catalogue, threshold.team, severity)
    _assert_runbook_resolves(stack, delivery)
