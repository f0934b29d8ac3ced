"""Security alerts fire live from lines the test appends to a real log, and reach security.

The stack scrapes a real security exporter tailing a JSON log the test owns, with the
real rules (``for`` set to 0 so that each condition shows within seconds). In module
order, as they happen in production:

- a normal mix of traffic, with a deploy's configuration change, leaves every security
  alert silent (not even pending);
- six failed logins from one address within seconds make a brute-force run: the
  SecurityBruteForce page reaches the security team's critical receiver, the address
  lands in the exporter's nginx deny-list, and it never appears in a metric;
- a slow spread of failed logins from many addresses, each under the brute-force
  threshold (credential stuffing), starts no brute-force run but fires
  SecurityAuthFailuresHigh, which reaches the security receiver; the same failures do
  not also count as security events enough to fire SecurityEventsHigh;
- twelve SQL-injection requests from one address block it in the deny-list (reason
  sql_injection) and warn of attack patterns, and the threat level, held at high by the
  failed logins before, has warned the security team.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters.security.demo import Mix, Traffic
from generator.catalogue import security as catalogue_security
from generator.model import Catalogue
from runner import Member
from tests.helpers import scrape
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 60.0
ATTACKER = "203.0.113.66"
DEPLOYER = "deploy-bot"
# Evaluations (1 s each) in which nothing may even be pending after normal traffic.
QUIET_EVALUATIONS = 10


def append(log_dir: Path, records: list[dict[str, Any]]) -> None:
    with open(log_dir / "auth.log", "a", encoding="utf-8") as log:
        for record in records:
            log.write(json.dumps(record) + "\n")
            log.flush()


def counter(stack: LiveStack, promql: str) -> float:
    result = stack.query(f"sum({promql})")
    return float(result[0]["value"][1]) if result else 0.0


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {timeout:.0f}s")
        time.sleep(0.5)


def security_alerts(stack: LiveStack) -> list[dict[str, Any]]:
    """Security alerts pending or firing now, in Prometheus."""
    return stack.query('ALERTS{team="security"}')


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
                "config-change.deployers": [DEPLOYER],
            }
        )
    )
    (log_dir / "auth.log").write_text("")
    member = Member(
        "security",
        argv=(
            "-m",
            "exporters",
            "security",
            "--web.listen-address={listen}",
            f"--config.file={config}",
        ),
    )
    return live_stack(members=[member])


def test_a_normal_mix_of_traffic_and_a_deploys_config_change_leave_security_silent(
    stack: LiveStack, log_dir: Path
) -> None:
    traffic = Traffic(20.0, Mix(), random.Random(11))
    now = time.time()
    records = [traffic.line(now + i / 20.0) for i in range(300)]
    records.append({"time": now, "event": "config_changed", "user": DEPLOYER, "setting": "x"})
    append(log_dir, records)
    lines = 'promfleet_security_log_lines_total{job="security"}'
    wait_until(lambda: counter(stack, lines) >= len(records), PAGE_TIMEOUT_S, "every line read")
    deploys = 'promfleet_security_config_changes_total{job="security",origin="deploy_pipeline"}'
    assert counter(stack, deploys) == 1
    # Every rule has been evaluated on the counts several times: nothing pending or firing.
    evaluated = 0
    seen_at = time.monotonic()
    while evaluated < QUIET_EVALUATIONS:
        assert security_alerts(stack) == []
        if time.monotonic() - seen_at >= 1.0:
            evaluated += 1
            seen_at = time.monotonic()
        time.sleep(0.2)
    assert not stack.webhook.find(lambda d: d.labels.get("team") == "security")


def test_failed_logins_from_one_source_page_security_as_brute_force(
    stack: LiveStack, log_dir: Path, catalogue: Catalogue
) -> None:
    started = time.monotonic()
    before = counter(
        stack, 'promfleet_security_auth_failures_total{job="security",reason="bad_password"}'
    )
    append(
        log_dir,
        [
            {
                "time": time.time(),
                "ip": ATTACKER,
                "event": "login_failed",
                "reason": "wrong_password",
                "user": f"user{attempt}",
            }
            for attempt in range(6)
        ],
    )
    delivery = stack.wait_for_alert(
        "SecurityBruteForce",
        expected_receiver(catalogue, "security", "critical"),
        timeout=PAGE_TIMEOUT_S,
        job="security")
    print(f"\nlog lines to page: {delivery.received_at - started:.2f} s -> {delivery.receiver}")
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["team"] == "security"
    assert delivery.receiver == expected_receiver(catalogue, "security", "critical")
    assert delivery.labels["instance"] == stack.address("security")
    assert delivery.annotations["runbook_url"].endswith("/SecurityBruteForce.md")
    assert f"deny {ATTACKER};" in (log_dir / "deny.conf").read_text()
    _, _, body = scrape(f"http://{stack.address('security')}/metrics")
    assert ATTACKER not in body
    failures = 'promfleet_security_auth_failures_total{job="security",reason="bad_password"}'
    wait_until(lambda: counter(stack, failures) - before == 6, PAGE_TIMEOUT_S, "six failures")


def test_a_slow_spread_of_failed_logins_from_many_sources_is_caught_as_credential_stuffing(
    stack: LiveStack, log_dir: Path, catalogue: Catalogue
) -> None:
    detections = 'promfleet_security_brute_force_detections_total{job="security"}'
    runs_before = counter(stack, detections)
    per_source = catalogue_security.BRUTE_FORCE_FAILURES - 2  # each source under the policy
    sources = catalogue_security.AUTH_FAILURES_PER_HOUR // per_source + 5
    started = time.monotonic()
    # Spread out: round after round, every source tries once more with another user.
    for attempt in range(per_source):
        append(
            log_dir,
            [
                {
                    "time": time.time(),
                    "ip": f"198.51.100.{source + 1}",
                    "status": 401,  # as the login endpoint answers it
                    "event": "login_failed",
                    "reason": "user_not_found",
                    "user": f"leaked{source}-{attempt}",
                }
                for source in range(sources)
            ],
        )
    delivery = stack.wait_for_alert(
        "SecurityAuthFailuresHigh",
        expected_receiver(catalogue, "security", "warning"),
        timeout=PAGE_TIMEOUT_S,
        job="security"
    )
    print(f"\nlog lines to alert: {delivery.received_at - started:.2f} s -> {delivery.receiver}")
    assert delivery.labels["severity"] == "warning"
    assert delivery.receiver == expected_receiver(catalogue, "security", "warning")
    assert delivery.labels["instance"] == stack.address("security")
    assert delivery.annotations["runbook_url"].endswith("/SecurityAuthFailuresHigh.md")
    unknown = 'promfleet_security_auth_failures_total{job="security",reason="unknown_user"}'
    assert counter(stack, unknown) == sources * per_source
    # No source reached the brute-force threshold: no run started, nothing for the
    # deny-list, and this alert, not SecurityBruteForce, is the one that caught it.
    assert counter(stack, detections) == runs_before
    deny = log_dir / "deny.conf"
    assert not deny.exists() or "198.51.100." not in deny.read_text()
    # Each failed login answered 401 is one event, not also an access_denied one: fewer
    # than SecurityEventsHigh's 100 in all, which stays silent over several evaluations.
    events = 'promfleet_security_events_total{job="security"}'
    wait_until(lambda: counter(stack, events) >= sources * per_source, PAGE_TIMEOUT_S, "events")
    assert counter(stack, events) < catalogue_security.EVENTS_PER_HOUR
    for _ in range(QUIET_EVALUATIONS):
        assert not stack.query('ALERTS{alertname="SecurityEventsHigh"}')
        time.sleep(1.0)


def test_sql_injection_from_one_source_blocks_it_warns_and_the_threat_level_stays_high(
    stack: LiveStack, log_dir: Path, catalogue: Catalogue
) -> None:
    # Last in the module: the brute-force run and the credential stuffing before it hold
    # the threat level at high or above (more than 50 failed logins in the hour), which
    # SecurityThreatLevelHigh warns of; twelve SQL-injection requests from one address
    # then make an attack run that blocks it, and more than ten of a kind in 10 minutes
    # warn of attack patterns.
    source = "203.0.113.99"
    blocks = 'promfleet_security_denylist_blocks_total{job="security",reason="sql_injection"}'
    attacks = 'promfleet_security_attacks_total{job="security",kind="sql_injection"}'
    blocks_before, attacks_before = counter(stack, blocks), counter(stack, attacks)
    append(log_dir, [
        {"time": time.time(), "ip": source, "method": "GET", "path": "/api/v1/orders",
         "query": f"id={n}%27%20OR%20%271%27%3D%271", "status": 404, "user": "-"}
        for n in range(12)
    ])
    warning = expected_receiver(catalogue, "security", "warning")
    delivery = stack.wait_for_alert("SecurityAttackPatterns", warning,
                                    timeout=PAGE_TIMEOUT_S, job="security")
    assert delivery.labels["kind"] == "sql_injection"
    wait_until(lambda: counter(stack, attacks) - attacks_before == 12, PAGE_TIMEOUT_S,
               "twelve sql_injection attacks counted")
    wait_until(lambda: counter(stack, blocks) - blocks_before == 1, PAGE_TIMEOUT_S,
               "one sql_injection block")
    entry = [line for line in (log_dir / "deny.conf").read_text().splitlines()
             if line.startswith(f"deny {source};")]
    assert len(entry) == 1 and entry[0].endswith("automatic sql_injection"), entry
    _, _, body = scrape(f"http://{stack.address('security')}/metrics")
    assert source not in body

    level = stack.query('instance:promfleet_security_threat:level{job="security"}')
    assert level and float(level[0]["value"][1]) >= 2, level
    threat = stack.wait_for_alert("SecurityThreatLevelHigh", warning,
                                  timeout=PAGE_TIMEOUT_S, job="security")
    assert threat.labels["severity"] == "warning"
    assert threat.labels["instance"] == stack.address("security")
