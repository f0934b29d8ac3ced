"""``history`` against a real Prometheus that scrapes a metrics endpoint the test sets and
alerts a real Alertmanager: an episode fires, is acknowledged, resolves, and shows with
its start, end and ack; an alert still firing shows as firing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import free_port
from tests.oncall.servers import (
    MetricsServer,
    alerts_named,
    needs_servers,
    oncall,
    query,
    running_alertmanager,
    running_prometheus,
    silences,
    wait_for,
)

pytestmark = [pytest.mark.live, needs_servers]

RULES = {
    "groups": [
        {
            "name": "demo",
            "interval": "1s",
            "rules": [
                {
                    "alert": "DemoErrors",
                    "expr": "demo_errors > 0",
                    "for": "2s",
                    "labels": {"severity": "critical", "team": "ops"},
                },
                {
                    "alert": "DemoStillFiring",
                    "expr": "demo_up == 1",
                    "for": "0s",
                    "labels": {"severity": "info", "team": "engineering"},
                },
            ],
        }
    ]
}


@dataclass(frozen=True)
class Stack:
    prometheus: str
    alertmanager: str
    ack: dict[str, Any]  # the silence the CLI made while DemoErrors fired


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """DemoErrors has fired, been acked by carol, and resolved; DemoStillFiring fires."""
    root = tmp_path_factory.mktemp("oncall-history")
    with (
        MetricsServer({"demo_up": 1, "demo_errors": 0}) as metrics,
        running_alertmanager(root / "am") as am,
        running_prometheus(root / "prometheus", metrics.address, am, RULES) as prometheus,
    ):
        metrics.set("demo_errors", 3)
        wait_for("DemoErrors to reach Alertmanager", lambda: alerts_named(am, "DemoErrors"))
        acked = oncall(
            "ack", "DemoErrors", "--for", "1h", "--comment", "looking", "--author", "carol",
            "--alertmanager", am,
        )  # fmt: skip
        assert acked.returncode == 0, acked.stderr
        (ack,) = silences(am)

        # Resolve it only once Prometheus has evaluated it firing after the ack, so the
        # episode surely spans the ack whatever the machine's load.
        def fired_after_ack() -> bool:
            found = query(prometheus, 'timestamp(ALERTS{alertname="DemoErrors"})')
            acked_at = when(ack["startsAt"]).timestamp()
            return any(float(s["value"][1]) > acked_at for s in found)

        wait_for("a firing evaluation after the ack", fired_after_ack)
        metrics.set("demo_errors", 0)
        wait_for(
            "DemoErrors to resolve in Prometheus",
            lambda: not query(prometheus, 'ALERTS{alertname="DemoErrors"}'),
        )
        yield Stack(prometheus, am, ack)


def history(stack: Stack, *args: str, alertmanager: str | None = None) -> Any:
    result = oncall(
        "history", *args, "--prometheus", stack.prometheus,
        "--alertmanager", alertmanager or stack.alertmanager,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result


def test_a_resolved_episode_has_its_start_end_duration_and_ack(stack: Stack) -> None:
    rows = history(stack, "--since", "1h", "--json")
    (episode,) = [r for r in rows if r["alertname"] == "DemoErrors"]
    started, ended = when(episode["started"]), when(episode["ended"])
    assert episode["firing"] is False
    assert started < when(stack.ack["startsAt"]) < ended
    assert episode["duration_seconds"] == pytest.approx((ended - started).total_seconds(), abs=0.01)
    assert episode["exact"] is True  # 1 s steps on a 1 s evaluation interval
    assert (episode["severity"], episode["team"]) == ("critical", "ops")
    assert episode["instance"] == episode["labels"]["instance"] != ""
    (ack,) = episode["acknowledged_by"]
    assert (ack["author"], ack["comment"], ack["silence_id"]) == (
        "carol",
        "looking",
        stack.ack["id"],
    )


def test_an_alert_still_firing_shows_as_firing(stack: Stack) -> None:
    rows = history(stack, "--since", "1h", "--json")
    (episode,) = [r for r in rows if r["alertname"] == "DemoStillFiring"]
    assert episode["firing"] is True and episode["ended"] is None
    assert episode["acknowledged_by"] == []
    assert episode["duration_seconds"] > 0
    # Newest first: DemoStillFiring started before DemoErrors.
    assert [r["alertname"] for r in rows] == ["DemoErrors", "DemoStillFiring"]


def test_alert_filters_the_other_alerts_out(stack: Stack) -> None:
    rows = history(stack, "--since", "1h", "--json", "--alert", "DemoStillFiring")
    assert [r["alertname"] for r in rows] == ["DemoStillFiring"]
    assert history(stack, "--since", "1h", "--json", "--alert", "Nothing") == []


def test_the_table_shows_who_acknowledged_and_what_still_fires(stack: Stack) -> None:
    lines = history(stack, "--since", "1h").stdout.splitlines()
    assert lines[0].split()[:4] == ["STARTED", "ENDED", "DURATION", "ALERTNAME"]
    errors = next(line for line in lines if "DemoErrors" in line)
    still = next(line for line in lines if "DemoStillFiring" in line)
    assert errors.rstrip().endswith("carol (looking)")
    assert " firing " in still


def test_without_alertmanager_the_history_shows_with_acks_unknown(stack: Stack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = oncall(
        "history", "--since", "1h", "--json", "--prometheus", stack.prometheus,
        "--alertmanager", closed,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "acknowledgements unknown" in result.stderr and closed in result.stderr
    rows = json.loads(result.stdout)
    assert {r["alertname"] for r in rows} == {"DemoErrors", "DemoStillFiring"}
    assert all(r["acknowledged_by"] is None for r in rows)


def test_without_prometheus_history_is_exit_2_naming_it(stack: Stack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = oncall("history", "--prometheus", closed, "--alertmanager", stack.alertmanager)
    assert result.returncode == 2
    assert "Prometheus is not reachable" in result.stderr and closed in result.stderr


@pytest.mark.parametrize("since", ["31d", "0h", "yesterday"])
def test_a_bad_since_is_exit_2(stack: Stack, since: str) -> None:
    result = oncall("history", "--since", since, "--prometheus", stack.prometheus)
    assert result.returncode == 2 and "--since" in result.stderr
