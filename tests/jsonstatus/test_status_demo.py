"""The status stand-in's faults: what ``/chaos`` accepts, refuses, and what the bodies say."""

from __future__ import annotations

import datetime

import pytest

from exporters.jsonstatus.demo import Faults, bodies

NOW = 1_800_000_000.0


def _age(stamp: str) -> float:
    return NOW - datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_healthy_bodies_are_fresh_and_each_fault_changes_only_its_own_field() -> None:
    healthy = bodies(NOW)
    faults = Faults()
    faults.apply({"agent": "forensics", "heartbeat_age": "600"})
    faults.apply({"organisation": "acme", "event_age": "7200"})
    faults.apply({"organisation": "globex", "incidents": "25"})
    faults.apply({"organisation": "globex", "incidents": "5"})
    faulty = bodies(NOW, faults)
    agents = faulty["/api/orchestrator/status"]["agents"]
    assert _age(agents["forensics"]["last_heartbeat"]) == 600
    assert all(_age(a["last_heartbeat"]) < 30 for n, a in agents.items() if n != "forensics")
    before = {o["slug"]: o for o in healthy["/api/telemetry/status"]["organizations"]}
    after = {o["slug"]: o for o in faulty["/api/telemetry/status"]["organizations"]}
    assert _age(after["acme"]["last_event_at"]) == 7200
    assert _age(after["globex"]["last_event_at"]) < 30
    assert after["globex"]["incidents"]["total"] == before["globex"]["incidents"]["total"] + 30
    assert after["acme"]["incidents"]["total"] == before["acme"]["incidents"]["total"]
    assert faulty["/api/health"] == healthy["/api/health"]
    faults.apply({"agent": "forensics", "heartbeat_age": "0"})
    assert _age(bodies(NOW, faults)["/api/orchestrator/status"]["agents"]["forensics"][
        "last_heartbeat"]) == 0


@pytest.mark.parametrize(("query", "names"), [
    ({"agent": "nosuch", "heartbeat_age": "60"}, "unknown agent 'nosuch'"),
    ({"agent": "forensics", "heartbeat_age": "-1"}, "heartbeat_age must be between"),
    ({"agent": "forensics", "heartbeat_age": "soon"}, "heartbeat_age must be a number"),
    ({"agent": "forensics"}, "heartbeat_age must be a number"),
    ({"organisation": "umbrella", "event_age": "60"}, "unknown organisation 'umbrella'"),
    ({"organisation": "acme"}, "needs event_age= or incidents="),
    ({"organisation": "acme", "incidents": "1e9"}, "incidents must be between"),
    ({"component": "database", "state": "sideways"}, "state in healthy, down"),
    ({"colour": "red"}, "expected component=&state="),
])
def test_a_bad_chaos_request_is_refused_naming_what_is_wrong_and_changes_nothing(
    query: dict[str, str], names: str,
) -> None:
    faults = Faults()
    with pytest.raises(ValueError, match=names.replace("(", r"\(")):
        faults.apply(query)
    assert faults.as_dict() == Faults().as_dict()
