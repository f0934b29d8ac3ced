"""The demo access log: every line parses, normal traffic is never flagged, the notable
lines are counted as what they are, and an hour stays under every security alert."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporters.security import parse_logs
from exporters.security.demo import Mix, Traffic, append, main
from exporters.security.detect import BruteForcePolicy
from exporters.security.engine import Engine, Snapshot

START = 1_800_000_000.0


def _count(traffic: Traffic, lines: int, per_second: float) -> Snapshot:
    """Feed ``lines`` demo lines, ``per_second`` apart in log time, to the real engine."""
    engine = Engine(parse_logs([{"name": "access", "path": "unused.log"}]), BruteForcePolicy())
    block = "".join(json.dumps(traffic.line(START + i / per_second)) + "\n"
                    for i in range(lines))
    engine.process("access", block.encode("utf-8"))
    return engine.snapshot()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_hours_of_demo_traffic_stay_under_every_security_alert_threshold(seed: int) -> None:
    snap = _count(Traffic(2.0, Mix(), random.Random(seed)), 2 * 7200, 2.0)
    hours = 2.0
    assert snap.logs["access"].lines == 2 * 7200
    assert sum(snap.logs["access"].skipped.values()) == 0
    assert sum(snap.auth_failures.values()) / hours < 50  # SecurityAuthFailures
    assert sum(snap.events.values()) / hours < 100  # SecurityEventsHigh
    assert snap.rate_limited / hours < 100
    assert max(snap.attacks.values()) / hours < 10  # per kind, a fortiori per 10 minutes
    assert snap.brute_force_detections == 0
    assert sum(snap.sensitive.values()) == 0
    assert snap.privilege_escalations == snap.cross_tenant == sum(snap.config_changes.values()) == 0
    # ...while every panel of the security dashboard moves.
    assert snap.denied["401"] > 0 and snap.denied["403"] > 0 and snap.rate_limited > 0
    assert snap.auth_failures["http_401"] > 0 and snap.auth_failures["bad_password"] > 0
    assert sum(snap.attacks.values()) > 0


def test_normal_traffic_alone_is_never_flagged() -> None:
    quiet = Mix(0, 0, 0, 0, 0)
    snap = _count(Traffic(5.0, quiet, random.Random(7)), 5000, 5.0)
    assert sum(snap.events.values()) == 0
    assert sum(snap.attacks.values()) == 0
    assert sum(snap.auth_failures.values()) == 0


def test_every_attack_probe_is_counted_as_an_attack_from_outside_the_loopback() -> None:
    attacks_only = Mix(0, 0, 0, 0, attacks_per_hour=3600)
    traffic = Traffic(1.0, attacks_only, random.Random(3))
    lines = [traffic.line(START + i) for i in range(300)]
    assert all(line["ip"].startswith("203.0.113.") for line in lines)
    snap = _count(Traffic(1.0, attacks_only, random.Random(3)), 300, 1.0)
    assert snap.events["attack"] == 300
    assert all(snap.attacks[kind] > 0 for kind in snap.attacks)


def test_a_mix_the_rate_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="too low"):
        Traffic(0.001, Mix(), random.Random(0))


def test_the_log_is_rotated_to_dot_one_past_its_size_limit(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    traffic = Traffic(2.0, Mix(), random.Random(0))
    assert not append(log, [traffic.line(START)] * 50, max_bytes=1000)
    first = log.read_text(encoding="utf-8")
    assert append(log, [traffic.line(START + 1)], max_bytes=1000)
    assert (tmp_path / "access.log.1").read_text(encoding="utf-8") == first
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1


def test_once_writes_a_minute_of_lines_and_the_loop_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    once = tmp_path / "once" / "access.log"
    assert main(["--log", str(once), "--once", "--rate", "3", "--seed", "1"]) == 0
    assert len(once.read_text(encoding="utf-8").splitlines()) == 180

    loop = tmp_path / "loop.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporters.security.demo", "--log", str(loop),
         "--interval", "100ms", "--rate", "50"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while (not loop.exists() or loop.stat().st_size < 2000) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert '"event": "stopped"' in err
    lines = loop.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 5
    assert all(json.loads(line)["status"] for line in lines)  # whole lines only
