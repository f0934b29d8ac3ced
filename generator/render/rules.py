"""Renders ``rules/<area>.rules.yml``: each area's recording rules, then one alerting rule
per alert level, with ``severity`` and ``team`` labels and the four annotations.

One cross-cutting pass sets ``keep_firing_for`` (:func:`keep_firing_seconds`): an alert fed
by exporter series keeps firing after its evidence stops arriving, until the target-down
alert has had time to fire and mute it, so a dead exporter never reads as "resolved".
"""

from __future__ import annotations

from typing import Any

from generator.model import (
    Area,
    Catalogue,
    Level,
    Settings,
    Threshold,
    format_duration,
)
from generator.overrides import keep_label, split_conditions
from generator.render import render_template
from generator.render._alerts import alert_annotations, rule_labels
from generator.settings import duration_seconds, effective_for_seconds
from generator.versions import VersionError, gate_groups, parse_version

# Scrape and evaluation intervals between an exporter's last sample and the moment the
# target-down alert reaches Alertmanager: the failed scrape itself (up to one interval
# plus its timeout), the evaluation that sees it, the evaluation that fires it, and the
# other rule group's evaluation that would have resolved the alert.
TARGET_DOWN_MARGIN_INTERVALS = 4


def target_down_for_seconds(catalogue: Catalogue, settings: Settings) -> int | None:
    """The longest ``for`` of the routing policy's target-down alert, as rendered
    (``alert_for_override`` included); None when the catalogue has no such alert."""
    name = catalogue.routing.target_down_alert
    for _, threshold in catalogue.thresholds():
        if threshold.name == name:
            return max(effective_for_seconds(lv.for_seconds, settings) for lv in threshold.levels)
    return None


def keep_firing_seconds(
    threshold: Threshold, settings: Settings, target_down_for: int | None
) -> int:
    """How long ``threshold`` keeps firing once its condition stops holding.

    An alert fed by exporter series (``inhibited_by_target_down``) loses its condition the
    moment the exporter dies: its series go stale at the first failed scrape. It keeps
    firing for the target-down alert's ``for`` plus :data:`TARGET_DOWN_MARGIN_INTERVALS`
    intervals, so the target-down alert fires, and through Alertmanager's inhibition mutes
    the "resolved", before the alert could resolve. An explicit
    ``Threshold.keep_firing_seconds`` wins when it is longer.
    """
    own = threshold.keep_firing_seconds
    if not threshold.inhibited_by_target_down or target_down_for is None:
        return own
    interval = max(
        duration_seconds(settings.scrape_interval), duration_seconds(settings.evaluation_interval)
    )
    derived = target_down_for + TARGET_DOWN_MARGIN_INTERVALS * interval
    return max(own, int(-(-derived // 1)))


def alerting_rule(
    area: Area,
    threshold: Threshold,
    level: Level,
    settings: Settings,
    keep_firing: int = 0,
    expr: str = "",
) -> dict[str, Any]:
    """One level's rule; ``keep_firing`` is :func:`keep_firing_seconds`' answer, ``expr``
    replaces the level's condition (a per-target threshold's split)."""
    return {
        "alert": threshold.name,
        "expr": expr or threshold.condition(level),
        "for": format_duration(effective_for_seconds(level.for_seconds, settings)),
        "keep_firing_for": format_duration(keep_firing) if keep_firing else "",
        "labels": rule_labels(threshold, level),
        "annotations": alert_annotations(area, threshold, settings),
    }


def groups(
    area: Area, settings: Settings, target_down_for: int | None = None
) -> list[dict[str, Any]]:
    """Rule groups of one area: recording rules lead the area's default group, so the
    alerts of that group read values computed in the same evaluation. ``target_down_for``
    is :func:`target_down_for_seconds`' answer (None: no derived ``keep_firing_for``)."""
    by_name: dict[str, list[dict[str, Any]]] = {area.name: []}
    for rule in area.recording_rules:
        by_name[area.name].append(
            {"record": rule.record, "expr": rule.expr, "labels": tuple(sorted(rule.labels))}
        )
    for threshold in area.thresholds:
        group = by_name.setdefault(threshold.group or area.name, [])
        keep = keep_firing_seconds(threshold, settings, target_down_for)
        for level in sorted(threshold.levels, key=lambda lv: lv.severity.rank):
            if not threshold.targets:
                group.append(alerting_rule(area, threshold, level, settings, keep))
                continue
            for expr, own in split_conditions(threshold, level):
                group.append(alerting_rule(area, threshold, own, settings, keep, expr))
    if settings.cluster_label:
        for rendered in by_name.values():
            for item in rendered:
                item["expr"] = keep_label(item["expr"], settings.cluster_label)
    return [{"name": name, "rules": rules} for name, rules in by_name.items() if rules]


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """One file per area, through the version gate (:mod:`generator.versions`): a field
    ``prometheus_version`` cannot load is refused, or left out with a note."""
    out = {}
    target_down_for = target_down_for_seconds(catalogue, settings)
    target = parse_version(settings.prometheus_version)
    problems = []
    for area in catalogue.areas:
        if not area.recording_rules and not area.thresholds:
            continue
        path = f"rules/{area.name}.rules.yml"
        try:
            gated, notes = gate_groups(
                groups(area, settings, target_down_for), path, target, settings.version_gate
            )
        except VersionError as err:
            problems.append(str(err).split("\n", 1)[1])
            continue
        out[path] = render_template("rules.yml.j2", area=area, groups=gated, notes=notes)
    if problems:
        raise VersionError("rules the target Prometheus cannot load:\n" + "\n".join(problems))
    return out
