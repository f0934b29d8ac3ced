"""Runbooks: ``runbooks/<AlertName>.md`` for every alert, and the index ``runbooks/README.md``.

Each runbook names its severity levels with their thresholds, the owning team, and the
five sections on-call reads (Meaning, Impact, Diagnosis with the PromQL to run,
Mitigation, Escalation), and links to the alert's dashboard. Its URL is the alert's
``runbook_url`` (:func:`generator.model.runbook_url`).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jinja2

from generator.model import (
    Catalogue,
    Level,
    Settings,
    Severity,
    TargetThreshold,
    Threshold,
    dashboard_uid,
    dashboard_url,
    format_duration,
    runbook_url,
)
from generator.render import MARKER, new_environment

SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def human(value: float, unit: str) -> str:
    """A threshold as written in the catalogue, with a reading in the panel's unit."""
    text = _number(value)
    if unit == "percentunit":
        return f"{text} ({_number(round(value * 100, 6))}%)"
    if unit in ("bytes", "decbytes") and value >= 1024:
        size, index = float(value), 0
        names = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
        while size >= 1024 and index < len(names) - 1:
            size, index = size / 1024, index + 1
        return f"{text} ({_number(round(size, 2))} {names[index]})"
    if unit == "s" and value >= 60 and float(value).is_integer():
        return f"{text} ({format_duration(int(value))})"
    if unit == "percent":
        return f"{text}%"
    return text


def _fences_on_own_lines(text: str) -> list[str]:
    """``On the host: ```sh`` becomes two lines: a fence only opens at a line's start."""
    lines: list[str] = []
    for line in text.strip("\n").splitlines():
        at = line.find("```")
        if at > 0 and line[:at].strip():
            lines.extend([line[:at].rstrip(), line[at:]])
        else:
            lines.append(line)
    return lines


def step(text: str, index: int) -> str:
    """One numbered step; later lines are indented so code fences stay inside the item."""
    marker = f"{index}. "
    lines = _fences_on_own_lines(text) or [""]
    pad = " " * len(marker)
    rest = [f"{pad}{line}" if line.strip() else "" for line in lines[1:]]
    return "\n".join([marker + lines[0], *rest])


_TEMPLATE_FIELD = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def untemplate(text: str) -> str:
    """Alert text without Prometheus template syntax: ``{{ $labels.instance }}`` -> `<instance>`."""

    def repl(match: re.Match[str]) -> str:
        inner = match.group(1)
        label = re.fullmatch(r"\$labels\.(\w+)", inner)
        if label:
            return f"`<{label.group(1)}>`"
        if inner.startswith("$value"):
            return "`<value>`"
        return f"`{inner}`"

    return _TEMPLATE_FIELD.sub(repl, text)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: str) -> str:
    """Text safe inside inline code (one line, no backticks closing it early)."""
    return " ".join(str(text).split()).replace("`", "'")


@cache  # one environment per process: compiling the templates costs more than a render
def _env() -> jinja2.Environment:
    env = new_environment()  # Markdown, escaped where it matters by the filters below
    env.filters.update(human=human, step=step, cell=cell, code=code, untemplate=untemplate)
    return env


def _target_levels(target: TargetThreshold) -> list[Level]:
    return sorted(target.levels, key=lambda level: -level.severity.rank)


def _levels(threshold: Threshold) -> list[Level]:
    return sorted(threshold.levels, key=lambda level: -level.severity.rank)


def _tidy(text: str) -> str:
    """At most one blank line in a row, one newline at the end."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """``runbooks/<Alert>.md`` per alert plus ``runbooks/README.md``."""
    env = _env()
    template = env.get_template("runbook.md.j2")
    out: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    # A static alert an SLO overlaps names that SLO, and what was decided, in its runbook.
    overlapping: dict[str, list[dict[str, str]]] = {}
    for area in catalogue.areas:
        for slo in area.slos:
            for alert, decision in slo.runbook.supersedes:
                overlapping.setdefault(alert, []).append({
                    "slo": slo.slo, "alert": slo.burn_alert, "decision": decision,
                    "objective": f"{slo.objective_percent:g} % over "
                                 f"{format_duration(slo.period_seconds)}"})
    for area, threshold in catalogue.thresholds():
        path = f"runbooks/{threshold.name}.md"
        if path in out:
            raise ValueError(f"alert {threshold.name!r} appears twice in the catalogue")
        out[path] = _tidy(
            template.render(
                marker=MARKER,
                t=threshold,
                area=area,
                levels=_levels(threshold),
                levels_of=_target_levels,
                dashboard_uid=dashboard_uid(area.name, threshold.panel.dashboard),
                dashboard_url=dashboard_url(settings, area.name, threshold.panel.dashboard),
                dashboard_title=area.dashboard_title(threshold.panel.dashboard),
                alerts_dashboard_url=dashboard_url(settings, "alerts"),
                runbook_url=runbook_url(settings, threshold.name),
                escalation_delay=format_duration(
                    threshold.escalation_delay_seconds
                    or catalogue.routing.escalation_delay_seconds
                ),
                escalation_receiver=catalogue.routing.escalation_receiver,
                critical=any(lv.severity == Severity.CRITICAL for lv in threshold.levels),
                slos=overlapping.get(threshold.name, []),
            )
        )
        rows.append(
            {
                "name": threshold.name,
                "area": area.title,
                "team": threshold.team.value,
                "severities": ", ".join(lv.severity.value for lv in _levels(threshold)),
                "summary": untemplate(threshold.summary),
            }
        )
    # The SLO alerts' runbooks come from the SLO runbooks renderer; the index lists them.
    for area in catalogue.areas:
        for slo in area.slos:
            tiers = sorted({t.severity for t in slo.enabled_tiers}, key=lambda v: -v.rank)
            rows.append(
                {
                    "name": slo.burn_alert,
                    "area": area.title,
                    "team": slo.team.value,
                    "severities": ", ".join(t.value for t in tiers),
                    "summary": f"SLO {slo.slo}: the error budget burns too fast",
                }
            )
            rows.append(
                {
                    "name": slo.absent_alert,
                    "area": area.title,
                    "team": slo.team.value,
                    "severities": "info",
                    "summary": f"SLO {slo.slo}: its SLI has no series",
                }
            )
    rows.sort(key=lambda row: str(row["name"]))
    out["runbooks/README.md"] = _tidy(
        env.get_template("runbook_index.md.j2").render(marker=MARKER, rows=rows)
    )
    return out
