"""Renders ``rules/<area>.rules.yml``: each area's recording rules, then one alerting rule
per alert level, with ``severity`` and ``team`` labels and the four annotations."""

from __future__ import annotations

from typing import Any

from generator.model import (
    Area,
    Catalogue,
    Level,
    Settings,
    Threshold,
    dashboard_url,
    format_duration,
    runbook_url,
)
from generator.render import render_template
from generator.settings import effective_for_seconds


def rule_labels(threshold: Threshold, level: Level) -> tuple[tuple[str, str], ...]:
    """The labels an alerting rule adds to its alerts, sorted by name."""
    labels = dict(threshold.static_labels)
    labels["severity"] = level.severity.value
    labels["team"] = threshold.team.value
    return tuple(sorted(labels.items()))


# Grafana's dashboard variables an alert's labels select, in the URL's order.
DASHBOARD_VARIABLES = ("job", "instance")


def alert_dashboard_url(area: Area, threshold: Threshold, settings: Settings) -> str:
    """The alert's dashboard with the alert's own job and instance selected
    (``?var-job=...&var-instance=...``), for the labels its series carry (``$labels``
    holds the expression's labels, not the rule's static ones)."""
    carried: set[str] = set()
    for level in threshold.levels:
        carried.update(name for name, _ in level.test.labels)
    query = "&".join(
        f"var-{name}={{{{ $labels.{name} }}}}" for name in DASHBOARD_VARIABLES if name in carried
    )
    url = dashboard_url(settings, area.name, threshold.panel.dashboard)
    return f"{url}?{query}" if query else url


def alert_annotations(
    area: Area, threshold: Threshold, settings: Settings
) -> tuple[tuple[str, str], ...]:
    """summary, description, runbook_url and dashboard_url (still Go templates)."""
    return (
        ("dashboard_url", alert_dashboard_url(area, threshold, settings)),
        ("description", threshold.description),
        ("runbook_url", runbook_url(settings, threshold.name)),
        ("summary", threshold.summary),
    )


def alerting_rule(
    area: Area, threshold: Threshold, level: Level, settings: Settings
) -> dict[str, Any]:
    return {
        "alert": threshold.name,
        "expr": threshold.condition(level),
        "for": format_duration(effective_for_seconds(level.for_seconds, settings)),
        "keep_firing_for": (
            format_duration(threshold.keep_firing_seconds) if threshold.keep_firing_seconds else ""
        ),
        "labels": rule_labels(threshold, level),
        "annotations": alert_annotations(area, threshold, settings),
    }


def groups(area: Area, settings: Settings) -> list[dict[str, Any]]:
    """Rule groups of one area: recording rules lead the area's default group, so the
    alerts of that group read values computed in the same evaluation."""
    by_name: dict[str, list[dict[str, Any]]] = {area.name: []}
    for rule in area.recording_rules:
        by_name[area.name].append(
            {"record": rule.record, "expr": rule.expr, "labels": tuple(sorted(rule.labels))}
        )
    for threshold in area.thresholds:
        group = by_name.setdefault(threshold.group or area.name, [])
        for level in sorted(threshold.levels, key=lambda lv: lv.severity.rank):
            group.append(alerting_rule(area, threshold, level, settings))
    return [{"name": name, "rules": rules} for name, rules in by_name.items() if rules]


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    out = {}
    for area in catalogue.areas:
        if not area.recording_rules and not area.thresholds:
            continue
        out[f"rules/{area.name}.rules.yml"] = render_template(
            "rules.yml.j2", area=area, groups=groups(area, settings)
        )
    return out
