"""Grafana output: each catalogue area's dashboards, the alerts overview, and provisioning.

Every alert's panel draws that alert's level values as thresholds, so the dashboard and
the pager never disagree. Dashboards are built as Python data and serialised with
``json.dumps`` (a JSON template would need escaping everywhere); the provisioning YAML
comes from the ``grafana_*.yaml.j2`` templates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from generator.model import (
    Area,
    Catalogue,
    Level,
    Panel,
    Settings,
    Severity,
    TargetThreshold,
    Threshold,
    dashboard_uid,
    dashboard_url,
    format_duration,
    runbook_url,
)
from generator.render import MARKER, render_template
from generator.render._grafana import DATASOURCE_REF, DATASOURCE_UID, dashboard_variables
from topology import GRAFANA_DATASOURCE_URL_ENV as DATASOURCE_URL_ENV
from topology import GRAFANA_ROOT as CONTAINER_ROOT

SCHEMA_VERSION = 39
DASHBOARDS_DIR = "grafana/dashboards"

OK_COLOR = "green"
SEVERITY_COLORS = {Severity.INFO: "blue", Severity.WARNING: "orange", Severity.CRITICAL: "red"}
PANEL_WIDTH = 12
PANEL_HEIGHT = 8


# Thresholds ---------------------------------------------------------------------------


def _fires(op: str, value: float, level_value: float) -> bool:
    """Whether ``value <op> level_value`` holds: the alerting rule's comparison."""
    if op == ">":
        return value > level_value
    if op == ">=":
        return value >= level_value
    if op == "<":
        return value < level_value
    if op == "<=":
        return value <= level_value
    if op == "==":
        return value == level_value
    return value != level_value


def threshold_steps(threshold: Threshold) -> list[dict[str, Any]]:
    """Grafana's absolute threshold steps for an alert's levels.

    Grafana colours a value with the last step whose value it meets or exceeds (``>=``),
    and the first step (value ``null``) stands for minus infinity. The steps are the
    alert's own comparison sampled where its answer can change: at each level's value
    and just above it (``math.nextafter``), so ``> 0`` leaves 0 green and colours
    anything above it, ``== 0`` on an up-like signal colours 0 alone and leaves 1 green,
    and ``<= v`` keeps ``v`` in the level's colour. A value is coloured by the most
    severe level that fires there, green where none does.
    """

    def color(value: float) -> str:
        firing = [lv.severity for lv in threshold.levels if _fires(threshold.op, value, lv.value)]
        if not firing:
            return OK_COLOR
        return SEVERITY_COLORS[max(firing, key=lambda severity: severity.rank)]

    points = sorted(
        {float(lv.value) for lv in threshold.levels}
        | {math.nextafter(float(lv.value), math.inf) for lv in threshold.levels}
    )
    steps: list[dict[str, Any]] = [{"color": color(-math.inf), "value": None}]
    for point in points:
        here = color(point)
        if here != steps[-1]["color"]:
            steps.append({"color": here, "value": _step_value(point)})
    return steps


def _step_value(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _human_duration(seconds: int) -> str:
    return format_duration(seconds)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _levels_text(op: str, levels: Sequence[Level]) -> str:
    return "; ".join(
        f"{level.severity.value} when {op} {_number(level.value)} "
        f"for {_human_duration(level.for_seconds)}"
        for level in sorted(levels, key=lambda lv: lv.severity.rank)
    )


def matcher_text(target: TargetThreshold) -> str:
    """A per-target override's matchers as PromQL writes them: ``instance=~"db-.*"``."""
    return ", ".join(f'{label}{op}"{value}"' for label, op, value in target.matchers)


def alert_summary_line(threshold: Threshold) -> str:
    """One sentence naming each level (and each per-target override's levels): shown in
    the panel description and the runbook."""
    text = f"Alert {threshold.name}: {_levels_text(threshold.op, threshold.levels)}."
    for target in threshold.targets:
        text += (f" For {{{matcher_text(target)}}}: "
                 f"{_levels_text(threshold.op, target.levels)}.")
    return text


def target_threshold_lines(threshold: Threshold) -> list[tuple[str, str, Severity]]:
    """(PromQL, legend, severity) of a line per per-target override level: a team's own
    value for some targets is drawn beside the catalogue's, dashed in its severity's
    colour, so the panel shows where those targets alert."""
    return [
        (f"vector({_number(level.value)})",
         f"{level.severity.value} threshold for {{{matcher_text(target)}}}",
         level.severity)
        for target in threshold.targets
        for level in sorted(target.levels, key=lambda lv: -lv.severity.rank)
    ]


# Panels ----------------------------------------------------------------------------------


def _grid(index: int, width: int = PANEL_WIDTH, height: int = PANEL_HEIGHT) -> dict[str, int]:
    per_row = 24 // width
    return {
        "h": height,
        "w": width,
        "x": (index % per_row) * width,
        "y": (index // per_row) * height,
    }


def _link(title: str, url: str) -> dict[str, Any]:
    return {
        "asDropdown": False,
        "icon": "doc",
        "includeVars": False,
        "keepTime": False,
        "tags": [],
        "targetBlank": True,
        "title": title,
        "tooltip": title,
        "type": "link",
        "url": url,
    }


def _options(kind: str) -> dict[str, Any]:
    if kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind in ("stat", "gauge"):
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
        }
    return {"showHeader": True, "cellHeight": "sm"}


def panel_json(
    panel: Panel,
    panel_id: int,
    grid: dict[str, int],
    *,
    steps: Sequence[dict[str, Any]] | None = None,
    description_suffix: str = "",
    links: Sequence[dict[str, Any]] = (),
    lines: Sequence[tuple[str, str, Severity]] = (),
) -> dict[str, Any]:
    """One Grafana panel for a catalogue :class:`Panel`; ``steps`` draws thresholds and
    ``lines`` (a time series panel's only) per-target thresholds as dashed series."""
    custom: dict[str, Any] = {}
    defaults: dict[str, Any] = {"unit": panel.unit}
    if steps:
        defaults["thresholds"] = {"mode": "absolute", "steps": list(steps)}
        custom["thresholdsStyle"] = {"mode": "dashed" if panel.kind == "timeseries" else "line"}
        if panel.kind != "timeseries":
            defaults["color"] = {"mode": "thresholds"}
    else:
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": OK_COLOR, "value": None}]}
        custom["thresholdsStyle"] = {"mode": "off"}
    if panel.kind == "timeseries":
        custom.update(
            {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}
        )
    defaults["custom"] = custom
    if panel.value_names:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {
                    _number(value): {"color": color, "index": index, "text": text}
                    for index, (value, text, color) in enumerate(panel.value_names)
                },
            }
        ]
    target: dict[str, Any] = {
        "datasource": dict(DATASOURCE_REF),
        "expr": panel.expr,
        "legendFormat": panel.legend,
        "refId": "A",
    }
    if panel.kind == "table":
        target.update({"format": "table", "instant": True})
    targets = [target]
    overrides: list[dict[str, Any]] = []
    if panel.kind == "timeseries":
        for index, (expr, legend, severity) in enumerate(lines):
            ref = chr(ord("B") + index)
            targets.append({"datasource": dict(DATASOURCE_REF), "expr": expr,
                            "legendFormat": legend, "refId": ref})
            overrides.append({
                "matcher": {"id": "byNames", "options": {"mode": "include", "names": [legend]}},
                "properties": [
                    {"id": "color",
                     "value": {"fixedColor": SEVERITY_COLORS[severity], "mode": "fixed"}},
                    {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
                ],
            })
        if lines:  # a filled constant would shade the panel below it
            custom["fillOpacity"] = 0
    description = panel.description.strip()
    if description_suffix:
        description = f"{description} {description_suffix}".strip()
    return {
        "datasource": dict(DATASOURCE_REF),
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "gridPos": grid,
        "id": panel_id,
        "links": list(links),
        "options": _options(panel.kind),
        "targets": targets,
        "title": panel.title,
        "type": panel.kind,
    }


# Dashboards ---------------------------------------------------------------------------


def always_firing(catalogue: Catalogue) -> tuple[str, ...]:
    """Alerts that fire all the time by design (the Watchdog, and any alert whose levels
    have no silent case and no ``for``): as annotations they would be a band that never
    ends, hiding the alerts that mean something."""
    names = {catalogue.routing.watchdog_alert}
    names.update(
        threshold.name
        for _, threshold in catalogue.thresholds()
        if all(not level.test.quiet and level.for_seconds == 0 for level in threshold.levels)
    )
    return tuple(sorted(names))


def annotation_expr(always_firing: Sequence[str] = ()) -> str:
    """The firing alerts drawn as annotations, leaving out the always-firing ones."""
    excluded = f',alertname!~"{"|".join(sorted(always_firing))}"' if always_firing else ""
    return f'ALERTS{{alertstate="firing"{excluded},job=~"$job",instance=~"$instance"}}'


def _dashboard(
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    panels: list[dict[str, Any]],
    links: list[dict[str, Any]],
    always_firing: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "annotations": {
            "list": [
                {
                    "datasource": dict(DATASOURCE_REF),
                    "enable": True,
                    "expr": annotation_expr(always_firing),
                    "hide": False,
                    "iconColor": "red",
                    "name": "Firing alerts",
                    "step": "60s",
                    "textFormat": "{{severity}} {{team}}",
                    "titleFormat": "{{alertname}}",
                    "useValueForTime": False,
                }
            ]
        },
        # JSON has no comments: the generator's marker rides in the description.
        "description": f"{description} ({MARKER}: the source is generator/)",
        "editable": False,
        "graphTooltip": 1,
        "links": links,
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": tags,
        "templating": {"list": dashboard_variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
    }


def area_dashboard(
    area: Area, settings: Settings, key: str = "", always_firing: Sequence[str] = ()
) -> dict[str, Any]:
    """One of the area's dashboards (``key`` "" is the main one): a panel per alert placed
    there (with its thresholds), then the extra panels placed there. ``always_firing``
    names the alerts left out of the firing-alert annotations."""
    panels: list[dict[str, Any]] = []
    for threshold in area.thresholds:
        if threshold.panel.dashboard != key:
            continue
        index = len(panels)
        panels.append(
            panel_json(
                threshold.panel,
                index + 1,
                _grid(index),
                steps=threshold_steps(threshold) if threshold.panel.alert_thresholds else None,
                description_suffix=alert_summary_line(threshold),
                links=[_link(f"Runbook: {threshold.name}", runbook_url(settings, threshold.name))],
                lines=target_threshold_lines(threshold) if threshold.panel.alert_thresholds
                else (),
            )
        )
    for extra in area.panels:
        if extra.dashboard != key:
            continue
        index = len(panels)
        panels.append(panel_json(extra, index + 1, _grid(index)))
    # A split area's dashboards link to each other; an unsplit one only to the overview.
    links = [_link("Alerts overview", dashboard_url(settings, "alerts"))]
    links.extend(
        _link(area.dashboard_title(other), dashboard_url(settings, area.name, other))
        for other in area.dashboard_keys()
        if other != key
    )
    title = f"promfleet / {area.dashboard_title(key)}"
    tags = ["promfleet", area.name, key] if key else ["promfleet", area.name]
    return _dashboard(
        dashboard_uid(area.name, key),
        title,
        area.description,
        tags,
        panels,
        links,
        always_firing,
    )


def dashboard_file(area: str, key: str = "") -> str:
    """Where an area's dashboard is written: ``<area>.json``, ``<area>-<key>.json``."""
    return f"{DASHBOARDS_DIR}/{area}-{key}.json" if key else f"{DASHBOARDS_DIR}/{area}.json"


ALERTS_FIRING = 'ALERTS{alertstate="firing",job=~"$job",instance=~"$instance"}'


def alerts_panels() -> list[Panel]:
    """The overview's panels, from ``ALERTS{alertstate="firing"}``."""
    return [
        Panel(
            title="Firing alerts by severity",
            expr=f"count by (severity) ({ALERTS_FIRING})",
            unit="short",
            description="How many alerts fire now, per severity (critical pages at once).",
            legend="{{severity}}",
            kind="stat",
            expect_data=False,
        ),
        Panel(
            title="Firing alerts by team",
            expr=f"count by (team) ({ALERTS_FIRING})",
            unit="short",
            description="How many alerts fire now, per owning team.",
            legend="{{team}}",
            kind="stat",
            expect_data=False,
        ),
        Panel(
            title="Firing alerts over time by severity",
            expr=f"count by (severity) ({ALERTS_FIRING})",
            unit="short",
            description="Firing alerts per severity over the selected time range.",
            legend="{{severity}}",
            kind="timeseries",
            expect_data=False,
        ),
        Panel(
            title="Firing alerts",
            expr=ALERTS_FIRING,
            unit="none",
            description="Every firing alert with its labels: alertname, severity, team, instance.",
            legend="{{alertname}}",
            kind="table",
            expect_data=False,
        ),
    ]


def alerts_dashboard(catalogue: Catalogue, settings: Settings) -> dict[str, Any]:
    """The alerts overview (uid ``promfleet-alerts``), linking to every area dashboard."""
    overview = alerts_panels()
    panels = [
        panel_json(overview[0], 1, _grid(0)),
        panel_json(overview[1], 2, _grid(1)),
        panel_json(overview[2], 3, {"h": PANEL_HEIGHT, "w": 24, "x": 0, "y": PANEL_HEIGHT}),
        panel_json(overview[3], 4, {"h": 12, "w": 24, "x": 0, "y": 2 * PANEL_HEIGHT}),
    ]
    links = [
        _link(area.dashboard_title(key), dashboard_url(settings, area.name, key))
        for area in catalogue.areas
        for key in area.dashboard_keys()
    ]
    return _dashboard(
        dashboard_uid("alerts"),
        "promfleet / Alerts",
        "What fires now across the fleet, by severity and team.",
        ["promfleet", "alerts"],
        panels,
        links,
        always_firing(catalogue),
    )


def dashboard_text(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """``grafana/``: provisioning YAML, each area's dashboards and ``alerts.json``."""
    out: dict[str, str] = {
        "grafana/provisioning/datasources/prometheus.yaml": render_template(
            "grafana_datasource.yaml.j2",
            uid=DATASOURCE_UID,
            url_env=DATASOURCE_URL_ENV,
            scrape_interval=settings.scrape_interval,
        ),
        "grafana/provisioning/dashboards/promfleet.yaml": render_template(
            "grafana_dashboards.yaml.j2", path=f"{CONTAINER_ROOT}/dashboards"
        ),
    }
    quiet = always_firing(catalogue)
    for area in catalogue.areas:
        if area.name == "alerts":
            raise ValueError("area name 'alerts' is taken by the alerts overview dashboard")
        for key in area.dashboard_keys():
            out[dashboard_file(area.name, key)] = dashboard_text(
                area_dashboard(area, settings, key, quiet)
            )
    out[f"{DASHBOARDS_DIR}/alerts.json"] = dashboard_text(alerts_dashboard(catalogue, settings))
    return out
