"""Renders ``alertmanager/alertmanager.yml``, its notification templates,
``alertmanager/routing-tests.yml`` (labels -> expected receivers, for amtool) and
``alertmanager/with-secrets.sh`` (puts the secrets Alertmanager 0.25 cannot read from a
file into a private copy of the configuration).

The route tree, in order:

1. The Watchdog goes to the dead man's switch, and on (``continue``) into the digest,
   whose always-firing anchor it is (below).
2. Every critical alert also matches the escalation route (``continue``): its receiver is
   the management tier, its ``group_wait`` the escalation delay, and it groups by every
   label, so each alert waits its own delay. An alert that resolves first is never sent
   there (Alertmanager does not notify a group that has only resolved alerts and was
   never notified); an acknowledged alert is silenced, which mutes it on every route, so
   acknowledging stops the escalation with no second silence.
3. One route per severity (its group_wait and group_interval), inside it one route per
   team and receiver, each but the team's last with ``continue``, then the severity's
   fallback with no team matcher, which only an alert of an unknown or missing team
   reaches. Inside each team route, one leaf per cooldown, whose ``repeat_interval``
   delivers that cooldown (:func:`repeat_interval`).
4. The digest severity (info) is one route and one group for every team: flushed every
   ``group_interval`` (a day), never at other times. Alertmanager drops an alert that
   fired and resolved between two flushes when the group's last notification and the
   current one hold no firing alert, and a time interval that mutes a flush drops its
   resolved alerts too; the Watchdog is always firing in this group, so every flush
   notifies, and each resolved alert is delivered in the next digest.

An alert with no known severity goes to the root's receiver (the ops pager).

Inhibition: critical mutes warning and info, and warning mutes info, of the same alert
on the same series (job, instance, and the labels that tell a multi-target exporter's
targets, GPUs or mountpoints apart); the target-down alert mutes the alerts marked
``inhibited_by_target_down`` of the same job and instance.
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
from generator.overrides import with_cluster_routing
from generator.render import render_template
from generator.render._slo import alert_labels as slo_alert_labels
from generator.render._slo import tier_plans
from generator.settings import duration_seconds

DEFAULT_REPEAT_SECONDS = 4 * 3600
# One secret per receiver kind, read from ``<secrets_dir>/<receiver>.<key>``. Pushover's
# two are written into the configuration by with-secrets.sh (Alertmanager 0.25 has no
# ``_file`` form for them).
SECRET_KEYS = {
    "pagerduty": ("routing_key",),
    "slack": ("api_url",),
    "email": ("auth_password",),
    "opsgenie": ("api_key",),
    "webhook": ("bearer_token",),
    "pushover": ("user_key", "token"),
}
INJECTED_KINDS = frozenset({"pushover"})


def secret_placeholder(receiver: Receiver, key: str) -> str:
    """What the committed configuration holds where with-secrets.sh puts a secret."""
    return f"@secret:{receiver.name}.{key}@"


def secret_file(settings: Settings, receiver: Receiver, key: str = "") -> str:
    """Where a receiver's secret is read from: ``<secrets_dir>/<receiver>.<key>``."""
    key = key or SECRET_KEYS[receiver.kind][0]
    return f"{settings.secrets_dir.rstrip('/')}/{receiver.name}.{key}"


def secret_files(catalogue: Catalogue, settings: Settings) -> tuple[str, ...]:
    """Every secret file the rendered configuration names or with-secrets.sh reads (none
    with the webhook override)."""
    if settings.webhook_override_url:
        return ()
    return tuple(
        sorted(
            secret_file(settings, r, key)
            for r in catalogue.routing.receivers
            for key in SECRET_KEYS[r.kind]
        )
    )


def _receiver(receiver: Receiver, settings: Settings, role: str = "") -> dict[str, Any]:
    """A receiver for the template; ``role`` (``digest``, ``escalation`` or empty) picks
    the notification templates its messages use."""
    values = dict(receiver.settings)
    prefix = f"promfleet.{role}." if role else "promfleet."
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
        "placeholders": {
            key: secret_placeholder(receiver, key) for key in SECRET_KEYS[receiver.kind]
        },
        "title": f'{{{{ template "{prefix}title" . }}}}',
        "text": f'{{{{ template "{prefix}text" . }}}}',
    }


def _route(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "receiver": None,
        "matchers": (),
        "group_by": (),
        "group_wait": None,
        "group_interval": None,
        "repeat_interval": None,
        "continue": False,
        "routes": (),
        # The group_wait is an escalation delay, which the group_wait override leaves alone.
        "escalation": False,
    }
    base.update(values)
    return base


def _override(value: str | None, override: str) -> str | None:
    return override if (override and value is not None) else value


def _apply_overrides(route: dict[str, Any], settings: Settings) -> dict[str, Any]:
    route = dict(route)
    if not route["escalation"]:
        route["group_wait"] = _override(route["group_wait"], settings.alertmanager_group_wait)
    route["group_interval"] = _override(
        route["group_interval"], settings.alertmanager_group_interval
    )
    route["repeat_interval"] = _override(
        route["repeat_interval"], settings.alertmanager_repeat_interval
    )
    route["routes"] = tuple(_apply_overrides(r, settings) for r in route["routes"])
    return route


def digest_severities(policy: RoutingPolicy, settings: Settings) -> frozenset[Severity]:
    """The severities delivered only in the digest (none when the setting turns it off)."""
    if not settings.info_digest:
        return frozenset()
    return frozenset(p.severity for p in policy.severities if p.digest)


def receivers_for(
    policy: RoutingPolicy, labels: dict[str, str], settings: Settings
) -> tuple[str, ...]:
    """The receivers the policy gives an alert with ``labels``, in the order Alertmanager
    delivers them (what amtool must confirm): worked out from the policy's table, not
    from the rendered tree, so a test of one against the other can fail."""
    digests = digest_severities(policy, settings)
    out: list[str] = []
    if labels.get("alertname") == policy.watchdog_alert:
        out.append(policy.deadmans_switch_receiver)
        if not digests:
            return tuple(out)
    known = {s.value: s for s in Severity}
    severity = known.get(labels.get("severity", ""))
    if severity is None:
        return (*out, policy.default_receiver)
    if severity == Severity.CRITICAL:
        out.append(policy.escalation_receiver)
    team = labels.get("team", "")
    route = next(
        (r for r in policy.routes if r.severity == severity and r.team and r.team.value == team),
        None,
    ) or next((r for r in policy.routes if r.severity == severity and r.team is None), None)
    if route is None:
        return (*out, policy.default_receiver)
    if severity in digests:
        return (*out, route.receivers[0])
    return (*out, *route.receivers)


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


def _escalation_route(catalogue: Catalogue, settings: Settings, tick: float) -> dict[str, Any]:
    """Every critical alert, each in its own group (``...``), delivered to the management
    tier once it has fired unacknowledged for its delay; one leaf per other delay."""
    policy = catalogue.routing
    delays: dict[int, list[str]] = {}
    for _, t in sorted(catalogue.thresholds(), key=lambda pair: pair[1].name):
        delay = t.escalation_delay_seconds or policy.escalation_delay_seconds
        if delay != policy.escalation_delay_seconds and any(
            level.severity == Severity.CRITICAL for level in t.levels
        ):
            delays.setdefault(delay, []).append(t.name)
    leaves = tuple(
        _route(
            matchers=(_alertname_matcher(names),),
            group_wait=format_duration(delay),
            escalation=True,
        )
        for delay, names in sorted(delays.items())
    )
    return _route(
        receiver=policy.escalation_receiver,
        matchers=(f'severity="{Severity.CRITICAL.value}"',),
        group_by=("...",),
        group_wait=format_duration(policy.escalation_delay_seconds),
        group_interval=format_duration(tick),
        repeat_interval=repeat_interval(policy.escalation_repeat_seconds, tick),
        routes=leaves,
        escalation=True,
        **{"continue": True},
    )


def route_tree(catalogue: Catalogue, settings: Settings) -> dict[str, Any]:
    policy = catalogue.routing
    thresholds = [t for _, t in catalogue.thresholds()]
    digests = digest_severities(policy, settings)
    watchdog = next((t for t in thresholds if t.name == policy.watchdog_alert), None)
    heartbeat = watchdog.levels[0].cooldown_seconds if watchdog and watchdog.levels else 300
    children = [
        _route(
            receiver=policy.deadmans_switch_receiver,
            matchers=(_alertname_matcher([policy.watchdog_alert]),),
            group_wait="0s",
            group_interval="1m",
            repeat_interval=repeat_interval(heartbeat, _group_interval_seconds(60, settings)),
            # On into the digest, whose anchor it is.
            **{"continue": bool(digests)},
        )
    ]
    by_severity = {p.severity: p for p in policy.severities}
    ticks = {
        s: _group_interval_seconds(p.group_interval_seconds, settings)
        for s, p in by_severity.items()
    }
    children.append(_escalation_route(catalogue, settings, ticks.get(Severity.CRITICAL, 300)))
    # One pass over the alerts (by name) gathers, under each (team, severity) route, the
    # alerts of each repeat_interval: one leaf each.
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
    for severity in sorted(by_severity, key=lambda s: -s.rank):
        sev_policy = by_severity[severity]
        matcher = (f'severity="{severity.value}"',)
        if severity in digests:
            period = sev_policy.group_interval_seconds
            digest = next(r for r in policy.routes if r.severity == severity)
            children.append(
                _route(
                    receiver=digest.receivers[0],
                    matchers=matcher,
                    group_by=("severity",),
                    group_wait=format_duration(sev_policy.group_wait_seconds),
                    group_interval=format_duration(period),
                    repeat_interval=repeat_interval(period, period),
                )
            )
            continue
        routes = [r for r in policy.routes if r.severity == severity]
        # Known teams first, then the fallback, which no team matcher limits.
        routes.sort(key=lambda r: r.team is None)
        team_routes = []
        for route in routes:
            for index, receiver in enumerate(route.receivers):
                last = index == len(route.receivers) - 1
                team_routes.append(
                    _route(
                        receiver=receiver,
                        matchers=(f'team="{route.team.value}"',) if route.team else (),
                        routes=tuple(leaves.get((route.team, severity), ())) if route.team else (),
                        **{"continue": not last},
                    )
                )
        children.append(
            _route(
                matchers=matcher,
                group_wait=format_duration(sev_policy.group_wait_seconds),
                group_interval=format_duration(sev_policy.group_interval_seconds),
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
        if name not in base and name not in ("alertname", "severity", "team", "category")
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
    slo_equal = slo_inhibit_equal(catalogue)
    if slo_equal:
        # An SLO's firing page tier mutes its ticket tiers: the same burn, told once.
        rules.append(
            {"source": ('slo_tier="page"',), "target": ('slo_tier="ticket"',), "equal": slo_equal}
        )
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


def slo_inhibit_equal(catalogue: Catalogue) -> tuple[str, ...]:
    """``equal`` of the page-mutes-ticket inhibition: ``slo`` and every label an SLO is
    kept per (a label absent from both alerts compares equal), so a page for one probed
    target mutes that target's tickets only; and the labels the routing policy adds to
    every inhibition beyond its own (a ``cluster_label``: one cluster's page never mutes
    another's ticket)."""
    slos = [slo for area in catalogue.areas for slo in area.slos]
    if not slos:
        return ()
    kept = sorted({label for slo in slos for label in slo.by})
    added = [label for label in catalogue.routing.inhibit_equal
             if label not in RoutingPolicy.inhibit_equal and label not in kept]
    return ("slo", *kept, *added)


# Alerts no catalogue entry makes (a hand-written rule, a typo): the fallbacks.
FALLBACK_CASES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("critical of a team no route knows", (("severity", "critical"), ("team", "dba"))),
    ("critical with no team", (("severity", "critical"),)),
    ("warning of a team no route knows", (("severity", "warning"), ("team", "dba"))),
    ("warning with no team", (("severity", "warning"),)),
    ("info of a team no route knows", (("severity", "info"), ("team", "dba"))),
    ("an unknown severity", (("severity", "Critical"), ("team", "ops"))),
    ("no severity", (("team", "ops"),)),
)


def routing_cases(catalogue: Catalogue, settings: Settings) -> list[dict[str, Any]]:
    """One case per alert level, then the fallbacks: labels and the receivers, in order."""
    policy = catalogue.routing
    cases = []
    for _, t in sorted(catalogue.thresholds(), key=lambda pair: pair[1].name):
        for level in sorted(t.levels, key=lambda lv: lv.severity.rank):
            labels = dict(level.test.labels) | dict(t.labels(level)) | {"alertname": t.name}
            cases.append(
                {
                    "name": f"{t.name} {level.severity.value}",
                    "labels": tuple(sorted(labels.items())),
                    "receivers": receivers_for(policy, labels, settings),
                }
            )
    for area in catalogue.areas:
        for slo in area.slos:
            by = {k: v for k, v in slo.test_labels if k in slo.by}
            for plan in (*tier_plans(slo, settings), None):
                alert = slo.burn_alert if plan else slo.absent_alert
                labels = dict(slo_alert_labels(slo, plan)) | by | {"alertname": alert}
                cases.append(
                    {
                        "name": f"{alert} {plan.tier.name if plan else 'absent'}",
                        "labels": tuple(sorted(labels.items())),
                        "receivers": receivers_for(policy, labels, settings),
                    }
                )
    for name, pairs in FALLBACK_CASES:
        labels = {"alertname": "HandWrittenAlert", "instance": "host-1:9100", **dict(pairs)}
        cases.append(
            {
                "name": f"fallback: {name}",
                "labels": tuple(sorted(labels.items())),
                "receivers": receivers_for(policy, labels, settings),
            }
        )
    return cases


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    if settings.cluster_label:  # alerts of two clusters never group or mute each other
        catalogue = with_cluster_routing(catalogue, settings.cluster_label)
    policy = catalogue.routing
    injected = sorted(
        (r.name, key)
        for r in policy.receivers
        if r.kind in INJECTED_KINDS and not settings.webhook_override_url
        for key in SECRET_KEYS[r.kind]
    )
    roles = {policy.escalation_receiver: "escalation"}
    for route in policy.routes:
        if route.severity in digest_severities(policy, settings):
            roles.update({name: "digest" for name in route.receivers})
    config = render_template(
        "alertmanager.yml.j2",
        secrets_dir=settings.secrets_dir,
        resolve_timeout=settings.alertmanager_resolve_timeout,
        root=route_tree(catalogue, settings),
        inhibit_rules=inhibit_rules(catalogue),
        receivers=[
            _receiver(r, settings, roles.get(r.name, ""))
            for r in sorted(policy.receivers, key=lambda r: r.name)
        ],
        injected=injected,
    )
    return {
        "alertmanager/alertmanager.yml": config,
        "alertmanager/templates/promfleet.tmpl": render_template("notifications.tmpl.j2"),
        "alertmanager/routing-tests.yml": render_template(
            "routing_tests.yml.j2", cases=routing_cases(catalogue, settings)
        ),
        "alertmanager/with-secrets.sh": render_template(
            "with_secrets.sh.j2", secrets_dir=settings.secrets_dir
        ),
    }


def routing_table(policy: RoutingPolicy) -> str:
    """The policy as the README shows it: who gets each (team, severity), then each
    receiver's integration and whom it reaches."""
    severities = sorted({r.severity for r in policy.routes}, key=lambda s: -s.rank)
    teams: list[Team | None] = [*sorted({r.team for r in policy.routes if r.team}), None]
    cell = {(r.team, r.severity): ", ".join(f"`{n}`" for n in r.receivers) for r in policy.routes}
    lines = [
        "| team | " + " | ".join(s.value for s in severities) + " |",
        "|---" * (len(severities) + 1) + "|",
    ]
    for team in teams:
        name = f"`{team.value}`" if team else "any other, or none"
        lines.append(
            f"| {name} | " + " | ".join(cell.get((team, s), "") for s in severities) + " |"
        )
    delay = format_duration(policy.escalation_delay_seconds)
    lines += [
        "",
        f"Every critical alert still firing and not acknowledged after {delay} (or its "
        f"entry's `escalation_delay_seconds`) also goes to `{policy.escalation_receiver}`. "
        f"The `{policy.watchdog_alert}` goes to `{policy.deadmans_switch_receiver}` and "
        "into the digest; an alert with no known severity goes to "
        f"`{policy.default_receiver}`.",
        "",
        "| receiver | integration | reaches | resolved |",
        "|---|---|---|---|",
    ]
    for r in sorted(policy.receivers, key=lambda r: r.name):
        resolved = "yes" if r.send_resolved else f"no: {r.no_resolved_reason}"
        lines.append(f"| `{r.name}` | {r.kind} | {r.reaches} | {resolved} |")
    return "\n".join(lines) + "\n"
