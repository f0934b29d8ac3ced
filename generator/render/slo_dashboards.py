"""Renders ``grafana/dashboards/<area>-slo.json`` (uid ``promfleet-<area>-slo``): one
dashboard per area with SLOs, four panels per SLO:

- the SLI over the period (a stat, red under the objective, the objective drawn);
- the error budget left over the period (a stat: red when overspent);
- the SLI over 1h and 1d (uptime over the day, for the probes) beside the objective;
- the burn rate over every window the tiers read, each tier's factor drawn as a
  threshold (so the dashboard and the pager never disagree).

The objective is a number of the catalogue entry: it is drawn as a threshold and named
in each title, not queried.
"""

from __future__ import annotations

import json
from typing import Any

from generator.model import SLO, Area, Catalogue, Settings, dashboard_uid, runbook_url
from generator.render import MARKER
from generator.render._grafana import DATASOURCE_REF, dashboard_variables
from generator.render._slo import (
    DASHBOARD_KEY,
    PERIOD_RATIO,
    RATIO,
    REMAINING,
    nominal,
    tier_plans,
    windows,
)

SCHEMA_VERSION = 39
SEL = 'job=~"$job",instance=~"$instance"'
TIER_COLORS = {"page": "red", "ticket": "orange"}


def _sel(slo: SLO) -> str:
    return f'{{slo="{slo.slo}",{SEL}}}'


def _legend(slo: SLO, prefix: str = "") -> str:
    extra = [label for label in slo.by if label != "job"]
    parts = [prefix] if prefix else []
    parts += [f"{{{{{label}}}}}" for label in extra] or ["{{job}}"]
    return " ".join(parts)


def _steps(steps: list[tuple[float | None, str]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def _panel(
    panel_id: int,
    title: str,
    description: str,
    kind: str,
    unit: str,
    targets: list[tuple[str, str]],
    thresholds: list[tuple[float | None, str]],
    x: int,
    y: int,
    link: str,
) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if kind == "timeseries":
        custom = {
            "drawStyle": "line",
            "fillOpacity": 10,
            "lineWidth": 1,
            "showPoints": "never",
            "thresholdsStyle": {"mode": "dashed"},
        }
    options: dict[str, Any]
    if kind == "stat":
        options = {
            "colorMode": "background",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        }
    else:
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    return {
        "datasource": dict(DATASOURCE_REF),
        "description": description,
        "fieldConfig": {
            "defaults": {"custom": custom, "thresholds": _steps(thresholds), "unit": unit},
            "overrides": [],
        },
        "gridPos": {"h": 8, "w": 6 if kind == "stat" else 12, "x": x, "y": y},
        "id": panel_id,
        "links": [
            {
                "asDropdown": False,
                "icon": "doc",
                "includeVars": False,
                "keepTime": False,
                "tags": [],
                "targetBlank": True,
                "title": "Runbook",
                "tooltip": "Runbook",
                "type": "link",
                "url": link,
            }
        ],
        "options": options,
        "targets": [
            {
                "datasource": dict(DATASOURCE_REF),
                "expr": expr,
                "legendFormat": legend,
                "refId": chr(ord("A") + index),
            }
            for index, (expr, legend) in enumerate(targets)
        ],
        "title": title,
        "type": kind,
    }


def slo_panels(slo: SLO, first_id: int, y: int, settings: Settings) -> list[dict[str, Any]]:
    objective = round(slo.objective_percent / 100, 9)
    budget = round(1 - objective, 9)
    period = nominal(slo.period_seconds)
    link = runbook_url(settings, slo.burn_alert)
    head = f"{slo.title} ({slo.objective_percent:g} % over {period})"
    tiers = sorted(tier_plans(slo, settings), key=lambda p: p.factor)
    burn_steps: list[tuple[float | None, str]] = [(None, "green")]
    for plan in tiers:
        burn_steps.append((round(plan.factor, 6), TIER_COLORS[plan.tier.tier]))
    tier_text = "; ".join(
        f"{p.tier.name} above {p.factor:g}x over {p.window} and "
        f"{nominal(p.tier.short_window_seconds)}"
        for p in tiers
    ) or "no tier enabled"
    shown = [w for w in windows(slo)]
    sli_windows = [w for w in (3600, 86400) if w in shown] or [3600]
    return [
        _panel(
            first_id,
            f"{head}: SLI over {period}",
            f"{slo.description} Over the whole {period} period; red under the objective "
            f"of {slo.objective_percent:g} %. Alert {slo.absent_alert}: info when the SLI has "
            "no series while its job is scraped.",
            "stat",
            "percentunit",
            [(f"1 - {PERIOD_RATIO}{_sel(slo)}", _legend(slo))],
            [(None, "red"), (objective, "green")],
            0,
            y,
            link,
        ),
        _panel(
            first_id + 1,
            f"{slo.title}: error budget left over {period}",
            f"Share of the {period} error budget ({(1 - objective) * 100:.3g} % of events may "
            "be bad) not yet spent: 1 untouched, 0 spent, below 0 overspent.",
            "stat",
            "percentunit",
            [(f"{REMAINING}{_sel(slo)}", _legend(slo))],
            [(None, "red"), (0, "orange"), (0.25, "green")],
            6,
            y,
            link,
        ),
        _panel(
            first_id + 2,
            f"{slo.title}: SLI over {' and '.join(nominal(w) for w in sli_windows)}",
            f"{slo.description} The objective ({slo.objective_percent:g} %) is drawn.",
            "timeseries",
            "percentunit",
            [
                (f"1 - {RATIO.format(nominal(w))}{_sel(slo)}", _legend(slo, nominal(w)))
                for w in sli_windows
            ],
            [(None, "red"), (objective, "green")],
            12,
            y,
            link,
        ),
        _panel(
            first_id + 3,
            f"{slo.title}: burn rate per window",
            "How many times faster than the period allows the error budget burns, per "
            f"window (1 = spent exactly at the period's end). Alert {slo.burn_alert}: "
            f"{tier_text}.",
            "timeseries",
            "short",
            [
                (f"{RATIO.format(nominal(w))}{_sel(slo)} / {budget:.6g}", _legend(slo, nominal(w)))
                for w in shown
            ],
            burn_steps,
            0,
            y + 8,
            link,
        ),
    ]


def area_dashboard(area: Area, settings: Settings) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    for index, slo in enumerate(area.slos):
        panels.extend(slo_panels(slo, 1 + 4 * index, 16 * index, settings))
    return {
        "annotations": {
            "list": [
                {
                    "datasource": dict(DATASOURCE_REF),
                    "enable": True,
                    "expr": 'ALERTS{alertstate="firing",alertname!~"Watchdog",slo!="",'
                    f"{SEL}}}",
                    "hide": False,
                    "iconColor": "red",
                    "name": "Firing SLO alerts",
                    "step": "60s",
                    "textFormat": "{{slo}} {{slo_tier}} {{slo_window}}",
                    "titleFormat": "{{alertname}}",
                    "useValueForTime": False,
                }
            ]
        },
        "description": (
            f"{area.title} service-level objectives: SLI, error budget and burn rates "
            f"({MARKER}: the source is generator/)"
        ),
        "editable": False,
        "graphTooltip": 1,
        "links": [],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["promfleet", area.name, "slo"],
        "templating": {"list": dashboard_variables()},
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": f"promfleet / {area.title} / SLOs",
        "uid": dashboard_uid(area.name, DASHBOARD_KEY),
        "version": 1,
    }


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    return {
        f"grafana/dashboards/{area.name}-{DASHBOARD_KEY}.json": json.dumps(
            area_dashboard(area, settings), indent=2, sort_keys=True, ensure_ascii=False
        )
        for area in catalogue.areas
        if area.slos
    }
