"""Security alerts fire live from lines the test appends to a real log, and reach security.

The stack scrapes a real security exporter tailing a JSON log the test owns. Six failed
logins from one address within seconds make a brute-force run: the SecurityBruteForce
page reaches the security team's critical receiver, the address lands in the exporter's
nginx deny-list, and it never appears in a metric.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator.model import Catalogue
from generator.stack import Member
from tests.helpers import scrape
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 30.0
ATTACKER = "203.0.113.66"


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("security-logs")


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, log_dir: Path) -> LiveStack:
    config = log_dir / "security.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "logs": [{"name": "auth", "path": str(log_dir / "auth.log"), "format": "json"}],
                "denylist.file": str(log_dir / "deny.conf"),
                "poll-interval": "100ms",
            }
        )
    )
    (log_dir / "auth.log").write_text("")
    member = Member(
        "security",
        "exporters.security",
        argv=(
            "-m",
            "exporters",
            "security",
            "--web.listen-address={listen}",
            f"--config.file={config}",
        ),
    )
    return live_stack(members=[member])


def test_failed_logins_from_one_source_page_security_as_brute_force(
    stack: LiveStack, log_dir: Path, catalogue: Catalogue
) -> None:
    started = time.monotonic()
    with open(log_dir / "auth.log", "a", encoding="utf-8") as log:
        for attempt in range(6):
            record = {
                "time": time.time(),
                "ip": ATTACKER,
                "event": "login_failed",
                "reason": "wrong_password",
                "user": f"user{attempt}",
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
    delivery = stack.wait_for_alert("SecurityBruteForce", timeout=PAGE_TIMEOUT_S, job="security")
    print(f"\nlog lines to page: {delivery.received_at - started:.2f} s -> {delivery.receiver}")
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["team"] == "security"
    assert delivery.receiver == expected_receiver(catalogue, "security", "critical")
    assert delivery.labels["instance"] == stack.address("security")
    assert delivery.annotations["runbook_url"].endswith("/SecurityBruteForce.md")
    assert f"deny {ATTACKER};" in (log_dir / "deny.conf").read_text()
    _, _, body = scrape(f"http://{stack.address('security')}/metrics")
    assert ATTACKER not in body
    failures = stack.query(
        'promfleet_security_auth_failures_total{job="security",reason="bad_password"}'
    )
    assert failures and float(failures[0]["value"][1]) == 6
