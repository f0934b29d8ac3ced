"""Alertmanager output: amtool accepts it, every alert level routes to its receivers, and
inhibition mutes what it should, both by a pure evaluation of the generated rules and
in a real ``prometheus-alertmanager`` on a free port."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.catalogue import load
from generator.catalogue.system import CPU_HIGH
from generator.model import Area, Catalogue, Settings, Severity, SeverityPolicy
from generator.render.alertmanager import render, secret_files
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
        assert rule["equal"][:2] == ["alertname", "instance"]
        # Multi-level alerts of multi-target exporters and multi-GPU hosts.
        assert {"target", "gpu"} <= set(rule["equal"])
    assert any(r["equal"] == ["instance"] for r in rules)  # target down: the whole exporter


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


def routing_cases(root: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load((root / "routing-tests.yml").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = doc["tests"]
    return cases


@needs_amtool
def test_every_alert_level_routes_to_its_receivers_in_amtool(rendered: Path) -> None:
    cases = routing_cases(rendered.parent)
    levels = sum(len(t.levels) for _, t in load().thresholds())
    assert len(cases) == levels
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


def test_each_alert_levels_cooldown_is_how_often_it_is_resent(rendered: Path) -> None:
    leaves = list(leaf_routes(config(rendered)["route"], {}))
    checked = 0
    for _, threshold in load().thresholds():
        for level in threshold.levels:
            labels = {"alertname": threshold.name, "severity": level.severity.value}
            labels["team"] = threshold.team.value
            leaf = next(
                (
                    r
                    for r in leaves
                    if r["all_matchers"] and all(matches(m, labels) for m in r["all_matchers"])
                ),
                None,
            )
            assert leaf is not None, labels
            every = resent_every(seconds(leaf["repeat_interval"]), seconds(leaf["group_interval"]))
            assert every == level.cooldown_seconds, (threshold.name, level.severity, leaf)
            checked += 1
    assert checked == sum(len(t.levels) for _, t in load().thresholds())


def test_a_team_route_has_one_leaf_per_cooldown(rendered: Path) -> None:
    """Alerts of one team, severity and cooldown share a leaf: with the info route's
    group_by (team, severity), one leaf is one group, so they arrive as one digest."""
    severity_routes = config(rendered)["route"]["routes"][1:]  # after the Watchdog's
    leaves = 0
    for team_route in (t for s in severity_routes for t in s.get("routes", [])):
        intervals = [leaf["repeat_interval"] for leaf in team_route.get("routes", [])]
        assert len(intervals) == len(set(intervals)), team_route
        leaves += len(intervals)
    cooldowns = {
        (t.team, level.severity, level.cooldown_seconds)
        for _, t in load().thresholds()
        if t.name != POLICY.watchdog_alert
        for level in t.levels
    }
    assert leaves == len(cooldowns)


def test_info_is_delivered_only_in_the_daily_digest_window(rendered: Path) -> None:
    doc = config(rendered)
    info = next(r for r in doc["route"]["routes"] if r.get("matchers") == ['severity="info"'])
    assert info["active_time_intervals"] == ["daily-digest"]
    names = [t["name"] for t in doc["time_intervals"]]
    assert "daily-digest" in names


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


class _Deliveries(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that records (arrival, alertname) for every alert notified, and
    the alert names of each notification."""

    log: list[tuple[float, str]]
    notifications: list[tuple[str, ...]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for received in body["alerts"]:
            self.log.append((time.monotonic(), received["labels"]["alertname"]))
        self.notifications.append(tuple(sorted(a["labels"]["alertname"] for a in body["alerts"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def webhook_receiver(
    notifications: list[tuple[str, ...]] | None = None,
) -> Iterator[tuple[str, list[tuple[float, str]]]]:
    log: list[tuple[float, str]] = []
    notified = notifications if notifications is not None else []
    handler = type("Deliveries", (_Deliveries,), {"log": log, "notifications": notified})
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
    with webhook_receiver() as (hook, log):
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


def digest_catalogue() -> Catalogue:
    """Three info alerts of one team: two share a long cooldown, one resends every tick.

    The digest window is the whole day, so the test need not run at 09:00 UTC.
    """
    base = dataclasses.replace(CPU_HIGH.levels[0], severity=Severity.INFO)
    alerts = tuple(
        dataclasses.replace(
            CPU_HIGH,
            name=name,
            levels=(dataclasses.replace(base, cooldown_seconds=ticks * TICK_SECONDS),),
        )
        for name, ticks in (("DigestDaily", 600), ("DigestAlsoDaily", 600), ("DigestOwn", 1))
    )
    area = Area("digest", "Digest", "Info alerts.", (), alerts)
    policy = dataclasses.replace(
        POLICY,
        severities=tuple(
            # A second of group_wait: both alerts of the one request are in the group
            # before its first flush.
            SeverityPolicy(
                p.severity, group_wait_seconds=1, group_interval_seconds=TICK_SECONDS,
                digest=p.digest,
            )
            for p in POLICY.severities
        ),
        digest_window=("00:00", "24:00"),
    )
    return Catalogue(areas=(area,), routing=policy)


@needs_alertmanager
def test_a_teams_info_alerts_of_one_cooldown_arrive_together_in_one_digest(
    tmp_path: Path,
) -> None:
    notifications: list[tuple[str, ...]] = []
    with webhook_receiver(notifications) as (hook, log):
        path = rendered_with_webhook(tmp_path, digest_catalogue(), hook)
        with running_alertmanager(path, tmp_path) as url:
            _http(
                f"{url}/api/v2/alerts",
                [
                    {
                        "labels": alert(name, "info", instance=f"host-{i}:9101"),
                        "annotations": {"summary": "test"},
                    }
                    for i, name in enumerate(("DigestDaily", "DigestAlsoDaily", "DigestOwn"))
                ],
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                sum(1 for _, n in log if n == "DigestOwn") < 3
                or not any("DigestDaily" in n for n in notifications)
            ):
                time.sleep(0.2)
    daily = [n for n in notifications if "DigestDaily" in n or "DigestAlsoDaily" in n]
    # One message with both (different instances, one team): a digest, sent once.
    assert daily == [("DigestAlsoDaily", "DigestDaily")], notifications
    own = [n for n in notifications if "DigestOwn" in n]
    assert len(own) >= 3 and all(n == ("DigestOwn",) for n in own), notifications
