"""What ``ack`` and ``unack`` refuse, through the real CLI against a real Alertmanager:
exit status 2, a message that says what is firing instead, and nothing silenced."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port
from tests.oncall.servers import (
    alerts_named,
    needs_servers,
    oncall,
    post_alerts,
    running_alertmanager,
    silences,
    wait_for,
)

pytestmark = [pytest.mark.live, needs_servers]


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_alertmanager(tmp_path_factory.mktemp("oncall-am")) as url:
        post_alerts(
            url,
            [
                {"alertname": "DiskFull", "severity": "critical", "team": "ops", "instance": "a"},
                {"alertname": "DiskFull", "severity": "warning", "team": "ops", "instance": "b"},
                {"alertname": "CpuHigh", "severity": "warning", "team": "ops", "instance": "a"},
                {"alertname": "Swap", "severity": "info", "team": "ops", "instance": "a"},
                {"alertname": "Swap", "severity": "info", "team": "ops", "instance": "b"},
            ],
        )
        yield url


def state(url: str) -> list[tuple[str, str, str]]:
    """Every silence as (id, state, updatedAt): what a refused command must not change."""
    return sorted((s["id"], s["status"]["state"], s["updatedAt"]) for s in silences(url))


def refused(am: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI; assert it exits 2 and silences nothing."""
    before = state(am)
    result = oncall(*args, "--alertmanager", am)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert state(am) == before
    return result


ACK = ("--for", "1h", "--comment", "looking")


def test_an_unknown_alert_is_refused_with_the_names_that_fire(am: str) -> None:
    result = refused(am, "ack", "DiskFul", *ACK)
    assert "DiskFul is not firing now. Firing: CpuHigh, DiskFull, Swap" in result.stderr


def test_matchers_that_match_nothing_firing_are_refused_with_that_alert_labels(am: str) -> None:
    result = refused(am, "ack", "DiskFull", "instance=c", *ACK)
    assert 'no firing DiskFull matches instance="c"' in result.stderr
    assert 'instance="a"' in result.stderr and 'instance="b"' in result.stderr


def test_two_matching_alerts_are_refused_without_all_matching(am: str) -> None:
    result = refused(am, "ack", "DiskFull", "team=ops", *ACK)
    assert "2 firing alerts match; nothing acknowledged" in result.stderr
    assert "--all-matching" in result.stderr


def test_all_matching_acknowledges_both_with_one_silence(am: str) -> None:
    before = {s["id"] for s in silences(am)}
    result = oncall("ack", "Swap", "--all-matching", *ACK, "--alertmanager", am)
    assert result.returncode == 0, result.stderr
    new: list[dict[str, Any]] = [s for s in silences(am) if s["id"] not in before]
    assert len(new) == 1
    assert new[0]["comment"] == "ack: looking"
    assert new[0]["createdBy"] == "test-oncall"
    assert new[0]["matchers"] == [
        {"name": "alertname", "value": "Swap", "isRegex": False, "isEqual": True}
    ]
    wait_for(
        "both Swap alerts to be silenced by the one ack",
        lambda: all(a["status"]["silencedBy"] == [new[0]["id"]] for a in alerts_named(am, "Swap")),
    )


@pytest.mark.parametrize("duration", ["2x", "0m", "8d", "90", "-1h", ""])
def test_a_bad_for_is_refused(am: str, duration: str) -> None:
    result = refused(am, "ack", "CpuHigh", "--for", duration, "--comment", "looking")
    assert "--for" in result.stderr


def test_a_missing_or_empty_comment_is_refused(am: str) -> None:
    assert "--comment" in refused(am, "ack", "CpuHigh", "--for", "1h").stderr
    assert "--comment" in refused(am, "ack", "CpuHigh", "--for", "1h", "--comment", " ").stderr


@pytest.mark.parametrize("matcher", ["instance", "instance!=a", "instance=~a", "1x=a"])
def test_a_malformed_matcher_is_refused(am: str, matcher: str) -> None:
    assert "matcher" in refused(am, "ack", "CpuHigh", matcher, *ACK).stderr


def test_an_alertmanager_that_does_not_answer_is_exit_2_naming_its_url() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    for args in (("ack", "CpuHigh", *ACK), ("alerts",), ("unack", "x")):
        result = oncall(*args, "--alertmanager", closed)
        assert result.returncode == 2, (args, result.stderr)
        assert closed in result.stderr


def test_an_unknown_or_expired_silence_cannot_be_unacked(am: str) -> None:
    unknown = refused(am, "unack", "00000000-0000-0000-0000-000000000000")
    assert "no silence" in unknown.stderr
    assert "no silence" in refused(am, "unack", "not-an-id").stderr

    made = oncall("ack", "CpuHigh", *ACK, "--alertmanager", am)
    assert made.returncode == 0, made.stderr
    (silence_id,) = [s["id"] for s in silences(am) if s["matchers"][0]["value"] == "CpuHigh"]
    first = oncall("unack", silence_id, "--alertmanager", am)
    assert first.returncode == 0, first.stderr
    assert "already expired" in refused(am, "unack", silence_id).stderr


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "promfleet-oncall"
    result = subprocess.run(
        [str(script), "ack", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "escalation to management" in " ".join(result.stdout.split())
