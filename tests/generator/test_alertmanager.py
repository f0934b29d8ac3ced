"""Alertmanager output: amtool accepts it, every alert level routes to its receivers, and
inhibition mutes what it should, both by a pure evaluation of the generated rules and
in a real ``prometheus-alertmanager`` on a free port."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import http.server
import itertools
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.catalogue import load
from generator.catalogue.meta import WATCHDOG
from generator.catalogue.system import CPU_HIGH
from generator.model import Area, Catalogue, Category, Settings, Severity, SeverityPolicy
from generator.render.alertmanager import FALLBACK_CASES, render, routing_table, secret_files
from generator.routing import POLICY
from tests.helpers import free_port

AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (.ci/setup)")
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None, reason="prometheus-alertmanager not installed (.ci/setup)"
)

Labels = Mapping[str, str]


def write(root: Path, settings: Settings) -> Path:
    for path, text in render(load(), settings).items():
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return root / "alertmanager" / "alertmanager.yml"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alertmanager/ rendered with a secrets dir whose files exist."""
    root = tmp_path_factory.mktemp("am")
    settings = Settings(secrets_dir=str(root / "secrets"))
    for name in secret_files(load(), settings):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text("not-a-real-secret", encoding="utf-8")
    return write(root, settings)


def config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


# Pure evaluation of the generated inhibit rules ---------------------------------------

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def matches(matcher: str, labels: Labels) -> bool:
    """Alertmanager's matcher semantics: a missing label is the empty string; regexes are
    anchored."""
    found = _MATCHER.match(matcher)
    assert found, f"matcher not in the quoted form: {matcher!r}"
    name, op, value = found.groups()
    actual = labels.get(name, "")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    hit = re.fullmatch(value, actual) is not None
    return hit if op == "=~" else not hit


def inhibited(rules: Sequence[Mapping[str, Any]], target: Labels, firing: Sequence[Labels]) -> bool:
    for rule in rules:
        if not all(matches(m, target) for m in rule["target_matchers"]):
            continue
        for source in firing:
            if source is target or source == target:
                continue
            if all(matches(m, source) for m in rule["source_matchers"]) and all(
                source.get(label, "") == target.get(label, "") for label in rule["equal"]
            ):
                return True
    return False


def alert(name: str, severity: str, instance: str = "host-1:9101", **extra: str) -> dict[str, str]:
    return {
        "alertname": name,
        "severity": severity,
        "instance": instance,
        "team": "ops",
        "job": "system",
        **extra,
    }


CRIT_FDS = alert("SystemFileDescriptorsHigh", "critical")
WARN_FDS = alert("SystemFileDescriptorsHigh", "warning")
WARN_FDS_OTHER = alert("SystemFileDescriptorsHigh", "warning", instance="host-2:9101")
TARGET_DOWN = alert("PromfleetTargetDown", "critical")
CPU = alert("SystemCPUHigh", "warning")
CPU_OTHER = alert("SystemCPUHigh", "warning", instance="host-2:9101")
RULE_FAILURES = alert("PrometheusRuleEvaluationFailures", "critical")
DISK = alert("SystemDiskSpaceHigh", "critical")
# One postgres exporter (one instance) watches several targets.
PG = {"instance": "pg-exporter:9187", "job": "postgres"}
PG_CRIT = alert("PostgresConnectionsHigh", "critical", **PG, target="orders")
PG_WARN = alert("PostgresConnectionsHigh", "warning", **PG, target="orders")
PG_WARN_OTHER = alert("PostgresConnectionsHigh", "warning", **PG, target="billing")
# A training exporter whose instance is relabelled to the host name, like the system
# exporter's: its target going down says nothing about the host's disks.
TRAINING_DOWN = alert("PromfleetTargetDown", "critical", instance="host-1", job="training")
DISK_SAME_HOST = alert("SystemDiskSpaceHigh", "warning", instance="host-1")
SYSTEM_DOWN = alert("PromfleetTargetDown", "critical", instance="host-1")

# (target, firing alongside it, muted?)
INHIBITION_CASES: list[tuple[str, dict[str, str], list[dict[str, str]], bool]] = [
    ("critical mutes the warning of the same alert", WARN_FDS, [CRIT_FDS], True),
    ("critical does not mute another instance", WARN_FDS_OTHER, [CRIT_FDS], False),
    ("critical does not mute another alert", CPU, [DISK], False),
    ("critical mutes the warning of the same target", PG_WARN, [PG_CRIT], True),
    ("critical does not mute another target of the exporter", PG_WARN_OTHER, [PG_CRIT], False),
    ("a critical alone is not muted", CRIT_FDS, [], False),
    ("target down mutes the alerts it blinds", CPU, [TARGET_DOWN], True),
    ("target down does not mute another instance", CPU_OTHER, [TARGET_DOWN], False),
    ("target down does not mute unmarked alerts", RULE_FAILURES, [TARGET_DOWN], False),
    ("target down does not mute itself", TARGET_DOWN, [], False),
    ("another job's target down does not mute the host", DISK_SAME_HOST, [TRAINING_DOWN], False),
    ("its own job's target down mutes the host", DISK_SAME_HOST, [SYSTEM_DOWN], True),
]


@pytest.mark.parametrize(
    ("target", "others", "muted"),
    [pytest.param(t, o, m, id=name) for name, t, o, m in INHIBITION_CASES],
)
def test_the_generated_inhibit_rules_mute_exactly_what_they_should(
    rendered: Path, target: dict[str, str], others: list[dict[str, str]], muted: bool
) -> None:
    rules = config(rendered)["inhibit_rules"]
    assert inhibited(rules, target, [target, *others]) is muted


def test_severity_inhibition_compares_every_label_that_tells_an_alerts_series_apart(
    rendered: Path,
) -> None:
    rules = config(rendered)["inhibit_rules"]
    severity_rules = [r for r in rules if "alertname" in r["equal"]]
    assert len(severity_rules) == 2
    for rule in severity_rules:
        assert rule["equal"][:3] == ["alertname", "instance", "job"]
        # Multi-level alerts of multi-target exporters and multi-GPU hosts.
        assert {"target", "gpu"} <= set(rule["equal"])
    # Target down: the whole exporter, of that job only.
    assert any(r["equal"] == ["instance", "job"] for r in rules)


# amtool ----------------------------------------------------------------------------------


@needs_amtool
def test_amtool_check_config_accepts_the_configuration(rendered: Path) -> None:
    result = subprocess.run(
        [str(AMTOOL), "check-config", str(rendered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "templates" in result.stdout


def test_every_receiver_reads_its_secret_from_a_file(rendered: Path) -> None:
    text = rendered.read_text(encoding="utf-8")
    for key in ("routing_key_file", "api_url_file", "auth_password_file", "api_key_file"):
        assert key in text
    webhooks = [r for r in config(rendered)["receivers"] if "webhook_configs" in r]
    secured = [r for r in webhooks if "http_config" in r["webhook_configs"][0]]
    assert secured and all(
        r["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"] for r in secured
    )
    # Pushover's two have no _file form on 0.25: placeholders that with-secrets.sh fills.
    (pushover,) = [r for r in config(rendered)["receivers"] if "pushover_configs" in r]
    settings = pushover["pushover_configs"][0]
    assert settings["user_key"] == f"@secret:{pushover['name']}.user_key@"
    assert settings["token"] == f"@secret:{pushover['name']}.token@"


def test_every_receiver_is_told_when_an_alert_resolves_but_the_heartbeat(rendered: Path) -> None:
    for receiver in config(rendered)["receivers"]:
        (kind,) = [k for k in receiver if k.endswith("_configs")]
        resolved = receiver[kind][0]["send_resolved"]
        if receiver["name"] == POLICY.deadmans_switch_receiver:
            assert resolved is False  # any request counts as a heartbeat there
        else:
            assert resolved is True, receiver["name"]


def routing_cases(root: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load((root / "routing-tests.yml").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = doc["tests"]
    return cases


@needs_amtool
def test_every_alert_level_routes_to_its_receivers_in_amtool(rendered: Path) -> None:
    cases = routing_cases(rendered.parent)
    catalogue = load()
    levels = sum(len(t.levels) for _, t in catalogue.thresholds())
    # Each SLO: one case per enabled burn tier, and its absent-SLI alert.
    slo_alerts = sum(len(s.enabled_tiers) + 1 for a in catalogue.areas for s in a.slos)
    assert len(cases) == levels + slo_alerts + len(FALLBACK_CASES)
    failures = []
    for case in cases:
        labels = [f"{k}={v}" for k, v in sorted(case["labels"].items())]
        result = subprocess.run(
            [
                str(AMTOOL),
                "config",
                "routes",
                "test",
                f"--config.file={rendered}",
                f"--verify.receivers={','.join(case['receivers'])}",
                *labels,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            failures.append(f"{case['name']}: {result.stdout.strip()} {result.stderr.strip()}")
    assert not failures, "\n".join(failures)


@needs_amtool
def test_amtool_notices_a_case_routed_to_the_wrong_receiver(rendered: Path) -> None:
    result = subprocess.run(
        [
            str(AMTOOL),
            "config",
            "routes",
            "test",
            f"--config.file={rendered}",
            "--verify.receivers=ops-chat",
            "alertname=SystemDiskSpaceHigh",
            "severity=critical",
            "team=ops",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0


def amtool_receivers(path: Path, labels: Mapping[str, str]) -> list[str]:
    """The receivers amtool resolves ``labels`` to, in delivery order."""
    assert AMTOOL is not None
    result = subprocess.run(
        [str(AMTOOL), "config", "routes", "test", f"--config.file={path}",
         *(f"{k}={v}" for k, v in sorted(labels.items()))],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return result.stdout.strip().split(",")


def kinds(path: Path) -> dict[str, str]:
    """Receiver name -> its integration (the one ``*_configs`` key)."""
    return {
        r["name"]: next(k.removesuffix("_configs") for k in r if k.endswith("_configs"))
        for r in config(path)["receivers"]
    }


PAGING = {"pagerduty", "opsgenie", "pushover"}


@needs_amtool
@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"alertname": "X", "severity": "critical", "team": "dba"}, id="unknown team"),
        pytest.param({"alertname": "X", "severity": "critical"}, id="no team"),
        pytest.param({"alertname": "X", "severity": "critical", "team": "ops"}, id="ops"),
        pytest.param(
            {"alertname": "X", "severity": "critical", "team": "engineering"}, id="engineering"
        ),
        pytest.param({"alertname": "X", "severity": "critical", "team": "security"}, id="security"),
        pytest.param(
            {"alertname": "X", "severity": "critical", "team": "management"}, id="management"
        ),
        pytest.param({"alertname": "X", "severity": "page", "team": "ops"}, id="unknown severity"),
        pytest.param({"alertname": "X", "team": "ops"}, id="no severity"),
    ],
)
def test_a_page_reaches_a_person_whatever_its_labels(
    rendered: Path, labels: dict[str, str]
) -> None:
    """Written by hand, not from the policy: amtool's answer must include a receiver that
    rings a phone; a critical one also reaches a second, different integration."""
    receivers = amtool_receivers(rendered, labels)
    by_kind = kinds(rendered)
    assert any(by_kind[r] in PAGING for r in receivers), receivers
    if labels.get("severity") == "critical":
        assert len({by_kind[r] for r in receivers}) >= 2, receivers
        assert "management-pager" in receivers  # after the escalation delay
    if labels.get("team") in (None, "dba") or labels.get("severity") != "critical":
        assert "ops-pager" in receivers


@needs_amtool
def test_security_pages_the_security_on_call_and_tells_the_siem(rendered: Path) -> None:
    labels = {"alertname": "SecurityBruteForce", "severity": "critical", "team": "security"}
    receivers = amtool_receivers(rendered, labels)
    assert {"security-pager", "security-siem"} <= set(receivers)
    assert kinds(rendered)["security-pager"] == "pushover"


@needs_amtool
@pytest.mark.parametrize("failing", ["pagerduty", "email", "slack", "webhook", "opsgenie"])
def test_the_alert_that_notifications_fail_goes_by_another_integration(
    rendered: Path, failing: str
) -> None:
    labels = {
        "alertname": "AlertmanagerNotificationsFailing", "severity": "critical", "team": "ops",
        "integration": failing, "instance": "alertmanager:9093", "job": "alertmanager",
    }
    receivers = amtool_receivers(rendered, labels)
    by_kind = kinds(rendered)
    others = [r for r in receivers if by_kind[r] != failing and r != "management-pager"]
    assert others, receivers  # at once, not only after the escalation delay


@needs_amtool
def test_the_watchdog_reaches_the_dead_mans_switch_and_anchors_the_digest(
    rendered: Path,
) -> None:
    labels = {"alertname": "Watchdog", "severity": "info", "team": "ops"}
    assert amtool_receivers(rendered, labels) == ["deadmans-switch", "daily-digest"]


@needs_amtool
@pytest.mark.parametrize("team", ["ops", "engineering", "security", "management", "dba"])
def test_info_goes_to_the_digest_and_nowhere_else(rendered: Path, team: str) -> None:
    labels = {"alertname": "AppRestarted", "severity": "info", "team": team}
    assert amtool_receivers(rendered, labels) == ["daily-digest"]


def leaf_routes(route: Mapping[str, Any], inherited: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    merged = {**inherited, **{k: v for k, v in route.items() if k != "routes"}}
    merged["all_matchers"] = [*inherited.get("all_matchers", []), *route.get("matchers", [])]
    children = route.get("routes", [])
    if not children:
        yield merged
    for child in children:
        yield from leaf_routes(child, merged)


def seconds(duration: str) -> float:
    return sum(
        float(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}[u]
        for n, u in re.findall(r"(\d+)(ms|d|h|m|s)", duration)
    )


def resent_every(repeat: float, group_interval: float) -> float:
    """When Alertmanager resends an unchanged group: on the first group_interval tick at
    which strictly more than ``repeat`` has passed since the last notification was logged
    (a few milliseconds after the tick that sent it)."""
    return (int(repeat // group_interval) + 1) * group_interval


def test_resent_every_models_the_tick_after_the_repeat_interval() -> None:
    assert resent_every(900, 900) == 1800  # a repeat equal to the tick arrives one tick late
    assert resent_every(450, 900) == 900
    assert resent_every(1200, 900) == 1800


def team_leaves(path: Path) -> list[dict[str, Any]]:
    """The leaves under a team route (not the Watchdog's, the escalation's or the digest)."""
    return [
        leaf
        for leaf in leaf_routes(config(path)["route"], {})
        if any(m.startswith("team=") for m in leaf["all_matchers"])
    ]


def test_each_alert_levels_cooldown_is_how_often_it_is_resent(rendered: Path) -> None:
    leaves = team_leaves(rendered)
    digest = {p.severity for p in POLICY.severities if p.digest}
    checked = 0
    for _, threshold in load().thresholds():
        for level in threshold.levels:
            if level.severity in digest:
                continue  # one digest a day, tested below
            labels = {"alertname": threshold.name, "severity": level.severity.value}
            labels["team"] = threshold.team.value
            matched = [r for r in leaves if all(matches(m, labels) for m in r["all_matchers"])]
            assert matched, labels
            for leaf in matched:  # every receiver of the team, each on the same cooldown
                every = resent_every(
                    seconds(leaf["repeat_interval"]), seconds(leaf["group_interval"])
                )
                assert every == level.cooldown_seconds, (threshold.name, level.severity, leaf)
            checked += 1
    assert checked == sum(
        1 for _, t in load().thresholds() for lv in t.levels if lv.severity not in digest
    )


def test_a_team_route_has_one_leaf_per_cooldown(rendered: Path) -> None:
    routes = config(rendered)["route"]["routes"]
    team_routes = [
        t for s in routes for t in s.get("routes", []) if any(
            m.startswith("team=") for m in t.get("matchers", [])
        )
    ]
    seen = set()
    for team_route in team_routes:
        intervals = [leaf["repeat_interval"] for leaf in team_route.get("routes", [])]
        assert len(intervals) == len(set(intervals)), team_route
        severity = next(
            s["matchers"][0] for s in routes if team_route in s.get("routes", [])
        )
        seen.update((team_route["matchers"][0], severity, i) for i in intervals)
    digest = {p.severity for p in POLICY.severities if p.digest}
    cooldowns = {
        (t.team, level.severity, level.cooldown_seconds)
        for _, t in load().thresholds()
        if t.name != POLICY.watchdog_alert
        for level in t.levels
        if level.severity not in digest
    }
    assert len(seen) == len(cooldowns)


def test_the_digest_is_one_group_flushed_once_a_day(rendered: Path) -> None:
    doc = config(rendered)
    info = next(r for r in doc["route"]["routes"] if r.get("matchers") == ['severity="info"'])
    assert info["receiver"] == "daily-digest"
    assert info["group_by"] == ["severity"]
    assert seconds(info["group_interval"]) == 86_400
    assert resent_every(seconds(info["repeat_interval"]), 86_400) == 86_400
    assert "routes" not in info  # one group: the Watchdog anchors every flush
    # No time interval mutes a flush: Alertmanager drops the resolved alerts of a muted one.
    assert "time_intervals" not in doc
    assert "active_time_intervals" not in json.dumps(doc)


def test_the_escalation_route_waits_for_each_critical_alert_on_its_own(rendered: Path) -> None:
    routes = config(rendered)["route"]["routes"]
    (escalation,) = [r for r in routes if r.get("receiver") == "management-pager"]
    assert escalation["matchers"] == ['severity="critical"']
    assert escalation["group_by"] == ["..."]  # one group per alert: each waits its own delay
    assert seconds(escalation["group_wait"]) == POLICY.escalation_delay_seconds == 1800
    assert escalation["continue"] is True
    # Before the severity routes, which stop at their last receiver.
    assert routes.index(escalation) < next(
        i for i, r in enumerate(routes) if r.get("matchers") == ['severity="critical"']
        and r is not escalation
    )


def test_the_webhook_override_keeps_receiver_names(tmp_path: Path) -> None:
    path = write(tmp_path, Settings(webhook_override_url="http://127.0.0.1:1/hook"))
    receivers = config(path)["receivers"]
    assert sorted(r["name"] for r in receivers) == sorted(r.name for r in load().routing.receivers)
    for receiver in receivers:
        assert set(receiver) == {"name", "webhook_configs"}
        assert receiver["webhook_configs"][0]["url"] == "http://127.0.0.1:1/hook"


# A real Alertmanager ---------------------------------------------------------------------


def _http(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


@contextlib.contextmanager
def running_alertmanager(path: Path, root: Path) -> Iterator[str]:
    """A real Alertmanager on a free loopback port with the config at ``path``; its URL."""
    assert ALERTMANAGER is not None
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={path}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"alertmanager did not become ready: {err[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("am-live")
    # Receivers become webhooks to a closed port: nothing leaves the machine.
    path = write(root, Settings(webhook_override_url=f"http://127.0.0.1:{free_port()}/"))
    with running_alertmanager(path, root) as url:
        yield url


def _inhibited_by(url: str, labels: Labels, want: bool) -> bool:
    """Whether Alertmanager reports the alert with ``labels`` as inhibited.

    The inhibitor learns of new source alerts asynchronously: a muted alert is polled
    for up to 10 s until it shows as muted; an unmuted one is watched for 1.5 s to be
    sure it stays unmuted.
    """
    deadline = time.monotonic() + (10 if want else 1.5)
    while True:
        alerts = _http(f"{url}/api/v2/alerts?active=true&inhibited=true&silenced=true")
        mine = [a for a in alerts if a["labels"] == dict(labels)]
        assert len(mine) == 1, mine
        state = bool(mine[0]["status"]["inhibitedBy"])
        if state or time.monotonic() > deadline:  # muted shows up; unmuted must stay
            return state
        time.sleep(0.2)


@needs_alertmanager
@pytest.mark.parametrize(
    ("target", "others", "muted"),
    [pytest.param(t, o, m, id=name) for name, t, o, m in INHIBITION_CASES],
)
def test_a_real_alertmanager_inhibits_as_the_pure_evaluation_says(
    alertmanager: str, target: dict[str, str], others: list[dict[str, str]], muted: bool
) -> None:
    # Each case uses its own instance names, so cases never see each other's alerts.
    suffix = f"-{abs(hash((tuple(sorted(target.items())), muted, len(others)))) % 10**8}"

    def unique(labels: Mapping[str, str]) -> dict[str, str]:
        return {**labels, "instance": labels["instance"] + suffix}

    posted = [unique(target), *(unique(o) for o in others)]
    _http(
        f"{alertmanager}/api/v2/alerts",
        [{"labels": labels, "annotations": {"summary": "test"}} for labels in posted],
    )
    assert _inhibited_by(alertmanager, posted[0], muted) is muted


# Cooldowns as a real Alertmanager delivers them ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Notification:
    """One webhook request as Alertmanager sent it."""

    at: float  # time.monotonic() on arrival
    receiver: str
    alerts: tuple[tuple[str, str, dict[str, str], dict[str, str]], ...]  # name, status, ...

    def names(self, status: str | None = None) -> tuple[str, ...]:
        return tuple(sorted(n for n, s, _, _ in self.alerts if status in (None, s)))


class _Deliveries(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that records every notification, and (arrival, alertname) for
    every alert notified to ``only`` (every receiver when empty)."""

    log: list[tuple[float, str]]
    received: list[Notification]
    only: str

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.monotonic()
        self.received.append(
            Notification(
                now,
                body["receiver"],
                tuple(
                    (a["labels"]["alertname"], a["status"], a["labels"], a["annotations"])
                    for a in body["alerts"]
                ),
            )
        )
        if self.only in ("", body["receiver"]):
            for received in body["alerts"]:
                self.log.append((now, received["labels"]["alertname"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def webhook_receiver(
    received: list[Notification] | None = None, only: str = ""
) -> Iterator[tuple[str, list[tuple[float, str]]]]:
    log: list[tuple[float, str]] = []
    handler = type(
        "Deliveries",
        (_Deliveries,),
        {"log": log, "received": received if received is not None else [], "only": only},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def rendered_with_webhook(root: Path, catalogue: Catalogue, hook: str) -> Path:
    """``catalogue``'s alertmanager.yml under ``root``, every receiver a webhook to ``hook``."""
    path = root / "alertmanager" / "alertmanager.yml"
    path.parent.mkdir(parents=True)
    outputs = render(catalogue, Settings(webhook_override_url=hook))
    path.write_text(outputs["alertmanager/alertmanager.yml"], encoding="utf-8")
    return path


TICK_SECONDS = 2  # group_interval of the scaled-down policy below


def scaled_down_catalogue() -> Catalogue:
    """Two warnings whose cooldowns are one and two group_interval ticks of 2 s.

    The real policy's ticks are minutes; only the scale differs, the route tree is the
    renderer's own. (Not validated: validation refuses cooldowns under a minute.)
    """
    base = CPU_HIGH.levels[0]
    alerts = tuple(
        dataclasses.replace(
            CPU_HIGH,
            name=name,
            levels=(dataclasses.replace(base, cooldown_seconds=ticks * TICK_SECONDS),),
        )
        for name, ticks in (("ResentEveryTick", 1), ("ResentEveryTwoTicks", 2))
    )
    area = Area("scaled", "Scaled", "Cooldowns of a few seconds.", (), alerts)
    policy = dataclasses.replace(
        POLICY,
        severities=tuple(
            SeverityPolicy(p.severity, group_wait_seconds=0, group_interval_seconds=TICK_SECONDS)
            for p in POLICY.severities
        ),
    )
    return Catalogue(areas=(area,), routing=policy)


@needs_alertmanager
def test_a_real_alertmanager_resends_each_alert_every_cooldown(tmp_path: Path) -> None:
    # Warnings go to two receivers; the cooldown is counted at one of them.
    with webhook_receiver(only="tickets") as (hook, log):
        path = rendered_with_webhook(tmp_path, scaled_down_catalogue(), hook)
        with running_alertmanager(path, tmp_path) as url:
            _http(
                f"{url}/api/v2/alerts",
                [
                    {
                        "labels": alert(name, "warning", instance="host-9:9101"),
                        "annotations": {"summary": "test"},
                    }
                    for name in ("ResentEveryTick", "ResentEveryTwoTicks")
                ],
            )
            # Enough deliveries for three gaps each (about 8 s when the cooldowns hold).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                sum(1 for _, n in log if n == name) < 4
                for name in ("ResentEveryTick", "ResentEveryTwoTicks")
            ):
                time.sleep(0.2)
    for name, ticks in (("ResentEveryTick", 1), ("ResentEveryTwoTicks", 2)):
        times = [t for t, n in log if n == name]
        assert len(times) >= 3, (name, log)
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        median = gaps[len(gaps) // 2]
        # Resent on the cooldown's own tick, not one tick later (the off-by-one-tick
        # repeat_interval resends every (ticks + 1) ticks).
        assert abs(median - ticks * TICK_SECONDS) < TICK_SECONDS / 2, (name, gaps)


def _post(url: str, alerts: Sequence[Mapping[str, str]], resolved: bool = False) -> None:
    """Post alerts as Prometheus does; ``resolved`` ends them now."""
    now = datetime.datetime.now(datetime.UTC)
    body = []
    for labels in alerts:
        entry: dict[str, Any] = {
            "labels": dict(labels),
            "annotations": {
                "summary": f"{labels['alertname']} test",
                "runbook_url": f"https://runbooks.example.org/{labels['alertname']}.md",
            },
        }
        if resolved:
            entry["startsAt"] = (now - datetime.timedelta(seconds=2)).isoformat()
            entry["endsAt"] = now.isoformat()
        body.append(entry)
    _http(f"{url}/api/v2/alerts", body)


def _wait(predicate: Any, timeout: float, what: str, received: list[Notification]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            seen = [(n.receiver, n.names()) for n in received]
            pytest.fail(f"no {what} within {timeout:.0f}s; received: {seen}")
        time.sleep(0.1)


DIGEST_SECONDS = 4  # the day of the real policy, compressed


def digest_catalogue() -> Catalogue:
    """The Watchdog and one info alert, with the digest period compressed to seconds."""
    info = dataclasses.replace(
        CPU_HIGH.levels[0], severity=Severity.INFO, cooldown_seconds=DIGEST_SECONDS
    )
    transient = dataclasses.replace(CPU_HIGH, name="RestartedBetweenDigests", levels=(info,))
    area = Area("digest", "Digest", "Info alerts.", (), (transient, WATCHDOG))
    policy = dataclasses.replace(
        POLICY,
        severities=tuple(
            SeverityPolicy(
                p.severity,
                group_wait_seconds=1,
                group_interval_seconds=DIGEST_SECONDS if p.digest else 1,
                digest=p.digest,
            )
            for p in POLICY.severities
        ),
    )
    return Catalogue(areas=(area,), routing=policy)


WATCHDOG_LABELS = {
    "alertname": "Watchdog", "severity": "info", "team": "ops",
    "instance": "prometheus", "job": "prometheus",
}
TRANSIENT = alert("RestartedBetweenDigests", "info", team="engineering")


@needs_alertmanager
def test_an_info_alert_that_fires_and_resolves_between_two_digests_is_in_the_next(
    tmp_path: Path,
) -> None:
    """A quiet day: only the Watchdog is firing. An application restarts (an info alert
    fires and resolves) between two digests: the next digest holds it, and nothing
    reaches anyone outside the digest."""
    received: list[Notification] = []
    with webhook_receiver(received) as (hook, _):
        path = rendered_with_webhook(tmp_path, digest_catalogue(), hook)
        with running_alertmanager(path, tmp_path) as url:
            _post(url, [WATCHDOG_LABELS])

            def digests() -> list[Notification]:
                return [n for n in received if n.receiver == "daily-digest"]

            _wait(lambda: bool(digests()), 30, "first digest", received)
            first = digests()[0]
            _post(url, [TRANSIENT])
            _post(url, [TRANSIENT], resolved=True)
            resolved_after = time.monotonic()

            def holds_it() -> list[Notification]:
                return [n for n in digests() if "RestartedBetweenDigests" in n.names("resolved")]

            _wait(lambda: bool(holds_it()), 30, "digest with the resolved alert", received)
    (digest,) = holds_it()[:1]
    assert digest.at > resolved_after and digest is not first
    every = digests()
    assert all("Watchdog" in n.names("firing") for n in every), [n.names() for n in every]
    # Only at a flush tick, never when an alert arrives: Alertmanager may be late, not early.
    gaps = [b.at - a.at for a, b in itertools.pairwise(every)]
    assert all(gap > DIGEST_SECONDS * 0.75 for gap in gaps), gaps
    # Info reaches the digest only (the Watchdog also its heartbeat service).
    assert {n.receiver for n in received} == {"daily-digest", "deadmans-switch"}
    assert all(n.names() == ("Watchdog",) for n in received if n.receiver == "deadmans-switch")


@needs_alertmanager
def test_without_the_watchdog_in_the_digest_alertmanager_drops_such_an_alert(
    tmp_path: Path,
) -> None:
    """Why the Watchdog anchors the digest: Alertmanager 0.25 does not notify a group that
    holds only resolved alerts and was never notified (dispatch's DedupStage)."""
    received: list[Notification] = []
    with webhook_receiver(received) as (hook, _):
        path = rendered_with_webhook(tmp_path, digest_catalogue(), hook)
        with running_alertmanager(path, tmp_path) as url:
            _post(url, [TRANSIENT])
            _post(url, [TRANSIENT], resolved=True)
            # Three digest periods: it would have been in the first.
            time.sleep(3 * DIGEST_SECONDS + 1)
            alerts = _http(f"{url}/api/v2/alerts?active=true&silenced=true&inhibited=true")
            assert alerts == []  # resolved: gone from Alertmanager too
            # The path itself works: an alert that is still firing arrives in a digest.
            _post(url, [WATCHDOG_LABELS])
            _wait(
                lambda: any(n.receiver == "daily-digest" for n in received), 30,
                "digest of a firing alert", received,
            )
    assert all("RestartedBetweenDigests" not in n.names() for n in received), [
        (n.receiver, n.names()) for n in received
    ]


# The real policy's 30 minutes, compressed; long enough that a loaded machine still pages,
# acknowledges and resolves well inside it, which the test needs before escalation is due.
ESCALATION_SECONDS = 12


def escalation_catalogue() -> Catalogue:
    critical = dataclasses.replace(
        CPU_HIGH.levels[0], severity=Severity.CRITICAL, cooldown_seconds=60
    )
    pages = dataclasses.replace(
        CPU_HIGH, name="PagesNow", levels=(critical,), category=Category.SYSTEM_OUTAGE
    )
    area = Area("escalation", "Escalation", "A critical alert.", (), (pages, WATCHDOG))
    policy = dataclasses.replace(
        POLICY,
        severities=tuple(
            SeverityPolicy(p.severity, group_wait_seconds=0, group_interval_seconds=1)
            for p in POLICY.severities
        ),
        escalation_delay_seconds=ESCALATION_SECONDS,
    )
    return Catalogue(areas=(area,), routing=policy)


@needs_alertmanager
def test_a_critical_alert_unacknowledged_for_its_delay_pages_management(tmp_path: Path) -> None:
    """Three critical alerts page the ops on-call at once. One is acknowledged with
    ``promfleet-oncall ack``, one resolves before the delay: only the third reaches
    management, after the delay, with its name, instance and runbook."""
    received: list[Notification] = []
    unacked = alert("PagesNow", "critical", instance="db-1:9187")
    acked = alert("PagesNow", "critical", instance="db-2:9187")
    resolves = alert("PagesNow", "critical", instance="db-3:9187")
    with webhook_receiver(received) as (hook, _):
        path = rendered_with_webhook(tmp_path, escalation_catalogue(), hook)
        with running_alertmanager(path, tmp_path) as url:
            posted = time.monotonic()
            _post(url, [unacked, acked, resolves])

            def paged(instance: str) -> bool:
                return any(
                    n.receiver == "ops-pager"
                    and any(a[2]["instance"] == instance for a in n.alerts)
                    for n in received
                )

            _wait(lambda: all(paged(a["instance"]) for a in (unacked, acked, resolves)), 30,
                  "page of all three", received)
            # Acknowledged through the on-call command, as the engineer would.
            ack = subprocess.run(
                [sys.executable, "-m", "oncall", "--alertmanager", url, "ack", "PagesNow",
                 f"instance={acked['instance']}", "--for", "2h", "--comment", "looking",
                 "--author", "on-call"],
                capture_output=True, text=True, timeout=60, check=False,
            )
            assert ack.returncode == 0, ack.stdout + ack.stderr
            assert "escalation to management is muted too" in ack.stdout
            _post(url, [resolves], resolved=True)
            acted_after = time.monotonic() - posted
            assert acted_after < ESCALATION_SECONDS * 0.75, (
                f"paging, acknowledging and resolving took {acted_after:.1f} s: too close to "
                f"the {ESCALATION_SECONDS} s delay for the test to tell escalation apart"
            )

            def escalated() -> list[Notification]:
                return [n for n in received if n.receiver == "management-pager"]

            _wait(lambda: bool(escalated()), 60, "escalation", received)
            # The other two would have been flushed at the same moment; give them time.
            time.sleep(3)
    first = escalated()[0]
    assert first.at - posted >= ESCALATION_SECONDS * 0.9  # never early
    instances = {a[2]["instance"] for n in escalated() for a in n.alerts}
    assert instances == {unacked["instance"]}, [n.alerts for n in escalated()]
    name, status, labels, annotations = first.alerts[0]
    assert (name, status) == ("PagesNow", "firing")
    assert annotations["runbook_url"].endswith("/PagesNow.md")
    assert labels["team"] == "ops"


@needs_alertmanager
def test_a_real_alertmanager_holds_back_the_inhibited_warning_and_delivers_the_rest(
    tmp_path: Path,
) -> None:
    received: list[Notification] = []
    suffix = "-delivery"
    crit = {**PG_CRIT, "instance": PG_CRIT["instance"] + suffix}
    held = {**PG_WARN, "instance": PG_WARN["instance"] + suffix}
    other = {**PG_WARN_OTHER, "instance": PG_WARN_OTHER["instance"] + suffix}
    training_down = {**TRAINING_DOWN, "instance": "host-7"}
    disk = {**DISK_SAME_HOST, "instance": "host-7"}
    with webhook_receiver(received) as (hook, _):
        settings = Settings(
            webhook_override_url=hook, alertmanager_group_wait="1s",
            alertmanager_group_interval="1s",
        )
        path = write(tmp_path, settings)
        with running_alertmanager(path, tmp_path) as url:
            _post(url, [crit, held, other, training_down, disk])

            def delivered(labels: Mapping[str, str], receiver: str) -> bool:
                return any(
                    n.receiver == receiver and any(a[2] == dict(labels) for a in n.alerts)
                    for n in received
                )

            _wait(
                lambda: delivered(crit, "ops-pager") and delivered(other, "tickets")
                and delivered(disk, "tickets") and delivered(training_down, "ops-pager"),
                30, "pages and tickets", received,
            )
            time.sleep(3)  # three more flush ticks for the held-back warning to show
    assert not any(a[2] == held for n in received for a in n.alerts)


# with-secrets.sh -------------------------------------------------------------------------


def _with_secrets(tmp_path: Path, secrets: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    directory = tmp_path / "secrets"
    directory.mkdir(exist_ok=True)
    for name, value in secrets.items():
        (directory / name).write_text(value, encoding="utf-8")
    script = Path(__file__).resolve().parents[2] / "alertmanager" / "with-secrets.sh"
    config = script.parent / "alertmanager.yml"
    return subprocess.run(
        ["sh", str(script), str(config), str(tmp_path / "run.yml"), str(directory)],
        capture_output=True, text=True, timeout=30, check=False,
    )


GOOD_SECRETS = {"security-pager.user_key": "u" * 30 + "\n", "security-pager.token": "t" * 30}


@needs_amtool
def test_with_secrets_writes_a_private_copy_that_amtool_accepts(tmp_path: Path) -> None:
    done = _with_secrets(tmp_path, GOOD_SECRETS)
    assert done.returncode == 0, done.stderr
    running = tmp_path / "run.yml"
    pushover = next(r for r in config(running)["receivers"] if "pushover_configs" in r)
    settings = pushover["pushover_configs"][0]
    assert (settings["user_key"], settings["token"]) == ("u" * 30, "t" * 30)  # no newline
    assert running.stat().st_mode & 0o077 == 0
    check = subprocess.run(
        [str(AMTOOL), "check-config", str(running)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        pytest.param(
            {"security-pager.user_key": "u" * 30}, "security-pager.token is missing", id="missing"
        ),
        pytest.param(
            {**GOOD_SECRETS, "security-pager.token": '"; evil: x'},
            "security-pager.token holds more than letters and digits",
            id="not a key",
        ),
        pytest.param(
            {**GOOD_SECRETS, "security-pager.token": ""},
            "security-pager.token is missing or empty",
            id="empty",
        ),
    ],
)
def test_with_secrets_refuses_a_bad_secret_and_writes_nothing(
    tmp_path: Path, secrets: dict[str, str], message: str
) -> None:
    done = _with_secrets(tmp_path, secrets)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "run.yml").exists()
    assert not list(tmp_path.glob("run.yml.tmp*"))


def test_the_readme_shows_the_routing_policys_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- routing:start -->\n", "<!-- routing:end -->"
    shown = readme[readme.index(start) + len(start) : readme.index(end)]
    assert shown == routing_table(POLICY)
