"""Renders ``alertmanager/alertmanager.yml``, its notification templates, and
``alertmanager/routing-tests.yml`` (labels -> expected receivers, for amtool).

The route tree: the Watchdog goes to the dead man's switch alone; then one route per
severity (its group_wait and group_interval; info only inside the daily digest window),
inside it one per team (the receiver), inside that one leaf per cooldown, for the alerts
whose levels have it, whose ``repeat_interval`` delivers that cooldown
(:func:`repeat_interval`); info alerts of one team and cooldown share a digest. Inhibition:
critical mutes warning and info, and warning mutes info, of the same alert on the same
series (instance, and the labels that tell a multi-target exporter's targets, GPUs or
mountpoints apart); the target-down alert mutes the alerts marked
``inhibited_by_target_down`` on the same instance.
"""

from __future__ import annotations

from typing import Any

from generator.model import (
    Catalogue,
    Receiver,
    RoutingPolicy,
    Settings,
    Severity,
    Team,
    format_duration,
)
from generator.render import render_template
from generator.settings import duration_seconds

TITLE = '{{ template "promfleet.title" . }}'
TEXT = '{{ template "promfleet.text" . }}'
DIGEST = "daily-digest"
DEFAULT_REPEAT_SECONDS = 4 * 3600
SECRET_KEYS = {
    "pagerduty": "routing_key",
    "slack": "api_url",
    "email": "auth_password",
    "opsgenie": "api_key",
    "webhook": "bearer_token",
}


def secret_file(settings: Settings, receiver: Receiver) -> str:
    """Where a receiver's secret is read from: ``<secrets_dir>/<receiver>.<key>``."""
    return f"{settings.secrets_dir.rstrip('/')}/{receiver.name}.{SECRET_KEYS[receiver.kind]}"


def secret_files(catalogue: Catalogue, settings: Settings) -> tuple[str, ...]:
    """Every secret file the rendered configuration names (none with the webhook override)."""
    if settings.webhook_override_url:
        return ()
    return tuple(
        sorted(
            secret_file(settings, r)
            for r in catalogue.routing.receivers
            if r.kind != "webhook" or dict(r.settings).get("bearer_token", "true") == "true"
        )
    )


def _receiver(receiver: Receiver, settings: Settings) -> dict[str, Any]:
    values = dict(receiver.settings)
    if settings.webhook_override_url:
        return {
            "name": receiver.name,
            "kind": "webhook",
            "url": settings.webhook_override_url,
            "send_resolved": receiver.send_resolved,
            "credentials_file": "",
        }
    return {
        "name": receiver.name,
        "kind": receiver.kind,
        "settings": values,
        "url": values.get("url", ""),
        "send_resolved": receiver.send_resolved,
        "secret_file": secret_file(settings, receiver),
        "credentials_file": secret_file(settings, receiver) if receiver.kind == "webhook" else "",
    }


def _route(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "receiver": None,
        "matchers": (),
        "group_by": (),
        "group_wait": None,
        "group_interval": None,
        "repeat_interval": None,
        "active_time_intervals": (),
        "routes": (),
    }
    base.update(values)
    return base


def _override(value: str | None, override: str) -> str | None:
    return override if (override and value is not None) else value


def _apply_overrides(route: dict[str, Any], settings: Settings) -> dict[str, Any]:
    route = dict(route)
    route["group_wait"] = _override(route["group_wait"], settings.alertmanager_group_wait)
    route["group_interval"] = _override(
        route["group_interval"], settings.alertmanager_group_interval
    )
    route["repeat_interval"] = _override(
        route["repeat_interval"], settings.alertmanager_repeat_interval
    )
    route["routes"] = tuple(_apply_overrides(r, settings) for r in route["routes"])
    return route


def receiver_for(policy: RoutingPolicy, team: str, severity: str, alertname: str) -> str:
    """The receiver the policy gives an alert (what amtool must confirm)."""
    if alertname == policy.watchdog_alert:
        return policy.deadmans_switch_receiver
    for route_team, route_severity, receiver in policy.routes:
        if route_team.value == team and route_severity.value == severity:
            return receiver
    return policy.default_receiver


def repeat_interval(cooldown_seconds: float, group_interval_seconds: float) -> str:
    """The ``repeat_interval`` that resends every ``cooldown_seconds``.

    Alertmanager resends only on a ``group_interval`` tick, and only when strictly more
    than ``repeat_interval`` has passed since the last notification was logged (which
    is a little after the tick that sent it). A repeat_interval equal to the cooldown
    therefore resends one tick late (15m with a 15m group_interval arrives every 30m);
    half a tick less lands on the tick the cooldown names. Validation makes every
    cooldown a whole number of ticks.
    """
    half = group_interval_seconds / 2
    return format_duration(max(cooldown_seconds - half, half))


def _group_interval_seconds(seconds: float, settings: Settings) -> float:
    if settings.alertmanager_group_interval:
        return duration_seconds(settings.alertmanager_group_interval)
    return seconds


def _alertname_matcher(names: list[str]) -> str:
    """``alertname="A"``, or an anchored alternation of several (names are identifiers)."""
    return f'alertname="{names[0]}"' if len(names) == 1 else f'alertname=~"{"|".join(names)}"'


def route_tree(catalogue: Catalogue, settings: Settings) -> dict[str, Any]:
    policy = catalogue.routing
    thresholds = [t for _, t in catalogue.thresholds()]
    watchdog = next((t for t in thresholds if t.name == policy.watchdog_alert), None)
    heartbeat = watchdog.levels[0].cooldown_seconds if watchdog and watchdog.levels else 300
    children = [
        _route(
            receiver=policy.deadmans_switch_receiver,
            matchers=(_alertname_matcher([policy.watchdog_alert]),),
            group_wait="0s",
            group_interval="1m",
            repeat_interval=repeat_interval(heartbeat, _group_interval_seconds(60, settings)),
        )
    ]
    by_severity = {p.severity: p for p in policy.severities}
    ticks = {
        s: _group_interval_seconds(p.group_interval_seconds, settings)
        for s, p in by_severity.items()
    }
    # One pass over the alerts (by name) gathers, under each (team, severity) route, the
    # alerts of each repeat_interval: one leaf each. A group belongs to one route, so the
    # info alerts of a team that share a cooldown arrive together in one digest.
    by_repeat: dict[tuple[Team, Severity], dict[str, list[str]]] = {}
    for t in sorted(thresholds, key=lambda x: x.name):
        if t.name == policy.watchdog_alert:
            continue
        for level in t.levels:
            every = repeat_interval(level.cooldown_seconds, ticks[level.severity])
            by_repeat.setdefault((t.team, level.severity), {}).setdefault(every, []).append(t.name)
    leaves: dict[tuple[Team, Severity], list[dict[str, Any]]] = {
        key: [
            _route(matchers=(_alertname_matcher(names),), repeat_interval=every)
            for every, names in sorted(groups.items(), key=lambda item: item[1])
        ]
        for key, groups in by_repeat.items()
    }
    for severity in sorted(Severity, key=lambda s: -s.rank):
        sev_policy = by_severity[severity]
        team_routes = []
        for team, route_severity, receiver in policy.routes:
            if route_severity != severity:
                continue
            team_routes.append(
                _route(
                    receiver=receiver,
                    matchers=(f'team="{team.value}"',),
                    routes=tuple(leaves.get((team, severity), ())),
                )
            )
        digest = sev_policy.digest and settings.info_digest
        children.append(
            _route(
                matchers=(f'severity="{severity.value}"',),
                group_by=("team", "severity") if digest else (),
                group_wait=format_duration(sev_policy.group_wait_seconds),
                group_interval=format_duration(sev_policy.group_interval_seconds),
                repeat_interval=repeat_interval(86_400, ticks[severity]) if digest else None,
                active_time_intervals=(DIGEST,) if digest else (),
                routes=tuple(team_routes),
            )
        )
    root = _route(
        receiver=policy.default_receiver,
        group_by=policy.group_by,
        group_wait="30s",
        group_interval="5m",
        repeat_interval=repeat_interval(
            DEFAULT_REPEAT_SECONDS, _group_interval_seconds(300, settings)
        ),
        routes=tuple(children),
    )
    return _apply_overrides(root, settings)


def series_labels(catalogue: Catalogue) -> tuple[str, ...]:
    """``equal`` of the severity inhibitions: the policy's labels, then every label that
    tells apart the series of an alert with several levels.

    A critical must mute the warning of the same series only: one postgres exporter
    (one ``instance``) watches several targets, one host several GPUs. Both levels of
    an alert carry the same label names, so a label absent from an alert is absent on
    both sides and compares equal there.
    """
    base = catalogue.routing.inhibit_equal
    extra = {
        name
        for _, t in catalogue.thresholds()
        if len(t.levels) > 1
        for level in t.levels
        for name in (*dict(level.test.labels), *dict(t.static_labels))
        if name not in base and name not in ("alertname", "severity", "team")
    }
    return (*base, *sorted(extra))


def inhibit_rules(catalogue: Catalogue) -> list[dict[str, Any]]:
    policy = catalogue.routing
    equal = series_labels(catalogue)
    rules = [
        {
            "source": ('severity="critical"',),
            "target": ('severity=~"warning|info"',),
            "equal": equal,
        },
        {"source": ('severity="warning"',), "target": ('severity="info"',), "equal": equal},
    ]
    muted = sorted(t.name for _, t in catalogue.thresholds() if t.inhibited_by_target_down)
    if muted:
        rules.append(
            {
                "source": (_alertname_matcher([policy.target_down_alert]),),
                "target": (_alertname_matcher(muted),),
                "equal": tuple(e for e in policy.inhibit_equal if e != "alertname"),
            }
        )
    return rules


def routing_cases(catalogue: Catalogue) -> list[dict[str, Any]]:
    """One case per alert level: its labels and the receivers it must reach."""
    policy = catalogue.routing
    cases = []
    for _, t in sorted(catalogue.thresholds(), key=lambda pair: pair[1].name):
        for level in sorted(t.levels, key=lambda lv: lv.severity.rank):
            labels = dict(level.test.labels) | dict(t.static_labels)
            labels |= {"alertname": t.name, "severity": level.severity.value, "team": t.team.value}
            cases.append(
                {
                    "name": f"{t.name} {level.severity.value}",
                    "labels": tuple(sorted(labels.items())),
                    "receivers": (
                        receiver_for(policy, t.team.value, level.severity.value, t.name),
                    ),
                }
            )
    return cases


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    policy = catalogue.routing
    start, end = policy.digest_window
    config = render_template(
        "alertmanager.yml.j2",
        secrets_dir=settings.secrets_dir,
        resolve_timeout=settings.alertmanager_resolve_timeout,
        time_intervals=[
            {"name": DIGEST, "start": start, "end": end, "location": policy.digest_location}
        ],
        root=route_tree(catalogue, settings),
        inhibit_rules=inhibit_rules(catalogue),
        receivers=[_receiver(r, settings) for r in sorted(policy.receivers, key=lambda r: r.name)],
        title=TITLE,
        text=TEXT,
    )
    return {
        "alertmanager/alertmanager.yml": config,
        "alertmanager/templates/promfleet.tmpl": render_template("notifications.tmpl.j2"),
        "alertmanager/routing-tests.yml": render_template(
            "routing_tests.yml.j2", cases=routing_cases(catalogue)
        ),
    }
