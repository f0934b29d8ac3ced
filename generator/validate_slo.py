"""Validation of the catalogue's service-level objectives (:class:`~generator.model.SLO`),
run by :func:`generator.validate.problems` beside the threshold checks.

Refused, each named: an objective outside (0, 100); a period shorter than the longest
window its tiers read; an SLI whose metrics no exporter declares (nor the area lists as
external; a recording rule is no SLI); an SLI selector without a ``job`` matcher (the
absent alert asks whether that job is scraped); a tier whose threshold is a bad-event
share of 1 or more (it could never fire); a disabled tier that does not exist; a short
window not shorter than its long one; a window (compressed by the settings) under four
scrape intervals; duplicate SLO names or alert names; labels, runbook and test labels
missing; a superseded alert that does not exist, or whose decision is not "kept: ..." or
"retired: ..."; a team without a route for the severities the SLO's alerts carry.
"""

from __future__ import annotations

import re
from collections import Counter

import promql_parser

from generator.model import SLO, Area, BooleanGaugeSLI, Catalogue, LatencySLI, Settings, Severity
from generator.settings import duration_seconds

SLO_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MIN_RANGE_SCRAPES = 4


def _divisor(settings: Settings) -> int | None:
    try:
        value = int(settings.slo_window_divisor)
    except ValueError:
        return None
    return value if value >= 1 else None


def _metric_names(selector: str) -> list[str]:
    node = promql_parser.parse(selector)
    if not isinstance(node, promql_parser.VectorSelector):
        raise ValueError("not a plain series selector")
    return [node.name] if node.name else []


def _selectors(slo: SLO) -> list[tuple[str, str]]:
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return [
            ("histogram count", f"{sli.histogram}_count{{{sli.matchers}}}"),
            ("histogram bucket", f"{sli.histogram}_bucket{{{sli.matchers}}}"),
        ]
    if isinstance(sli, BooleanGaugeSLI):
        return [("metric", sli.metric)]
    return [("bad", sli.bad), ("total", sli.total)]


def slo_problems(
    catalogue: Catalogue, known: frozenset[str] | None, settings: Settings
) -> list[str]:
    """Every problem of every SLO in ``catalogue``; ``known`` None skips the metric check."""
    found: list[str] = []
    thresholds = {t.name for _, t in catalogue.thresholds()}
    slos = [(area, slo) for area in catalogue.areas for slo in area.slos]
    for label, count in Counter(slo.slo for _, slo in slos).items():
        if count > 1:
            found.append(f"slo {label}: defined {count} times")
    names = Counter(slo.name for _, slo in slos)
    for name, count in names.items():
        if count > 1:
            found.append(f"slo {name}: the name is used by {count} SLOs")
    for _, slo in slos:
        for alert in (slo.burn_alert, slo.absent_alert):
            if alert in thresholds:
                found.append(f"slo {slo.slo}: alert {alert} is also a threshold's name")
    for area, slo in slos:
        found.extend(f"slo {slo.slo}: {p}" for p in _one(area, slo, catalogue, known, settings))
    return found


def _one(
    area: Area, slo: SLO, catalogue: Catalogue, known: frozenset[str] | None, settings: Settings
) -> list[str]:
    out: list[str] = []
    if not ALERT_NAME.match(slo.name):
        out.append(f"name {slo.name!r} must be CamelCase (it names the alerts)")
    if not SLO_LABEL.match(slo.slo):
        out.append(f"slo label {slo.slo!r} must be lower-case letters, digits and '-'")
    if not (0 < slo.objective_percent < 100):
        out.append(
            f"objective {slo.objective_percent:g} % is outside (0, 100): no error budget to burn"
            if slo.objective_percent >= 100
            else f"objective {slo.objective_percent:g} % is outside (0, 100)"
        )
    for field in ("service", "title", "description"):
        if not str(getattr(slo, field)).strip():
            out.append(f"{field} is required")
    runbook = slo.runbook
    if not runbook.impact.strip() or not runbook.diagnosis or not runbook.mitigation:
        out.append("runbook needs impact, diagnosis and mitigation")
    if not runbook.escalation.strip():
        out.append("runbook needs escalation")
    thresholds = {t.name for _, t in catalogue.thresholds()}
    for alert, decision in runbook.supersedes:
        if alert not in thresholds:
            out.append(f"supersedes {alert}, which is no alert of the catalogue")
        if not re.match(r"^(kept|retired): \S", decision):
            out.append(f"supersedes {alert}: say 'kept: why' or 'retired: why', got {decision!r}")
    tier_names = {t.name for t in slo.tiers}
    for name in slo.disabled_tiers:
        if name not in tier_names:
            out.append(
                f"disabled tier {name!r} is not one of its tiers ({', '.join(sorted(tier_names))})"
            )
    if len(tier_names) != len(slo.tiers):
        out.append("two tiers share a name")
    windows = {t.long_window_seconds for t in slo.enabled_tiers} | {3600}
    if slo.period_seconds < max(windows):
        out.append(
            f"period {slo.period_seconds} s is shorter than its longest window "
            f"({max(windows)} s): the budget cannot be measured over it"
        )
    budget = 1 - slo.objective_percent / 100
    for tier in slo.enabled_tiers:
        if tier.short_window_seconds >= tier.long_window_seconds:
            out.append(f"tier {tier.name}: the short window must be shorter than the long one")
        if not 0 < tier.budget_share <= 1:
            out.append(f"tier {tier.name}: budget share {tier.budget_share:g} is outside (0, 1]")
        if 0 < slo.objective_percent < 100 and tier.factor(slo.period_seconds) * budget >= 1:
            out.append(
                f"tier {tier.name}: it fires above a bad share of "
                f"{tier.factor(slo.period_seconds) * budget:.3g}, which can never be: "
                "turn the tier off (disabled_tiers) or tighten the objective"
            )
        if tier.for_seconds < 0:
            out.append(f"tier {tier.name}: for must not be negative")
    divisor = _divisor(settings)
    try:
        scrape = duration_seconds(settings.scrape_interval)
    except ValueError:
        scrape = 0.0
    if divisor is not None and scrape:
        shortest = min(
            [t.short_window_seconds for t in slo.enabled_tiers] + [3600]
        ) // divisor
        if shortest < MIN_RANGE_SCRAPES * scrape:
            out.append(
                f"its shortest window ({shortest} s after slo_window_divisor) spans under "
                f"{MIN_RANGE_SCRAPES} scrape intervals of {settings.scrape_interval}"
            )
        if slo.absent_for_seconds // divisor < 2 * scrape:
            out.append("absent_for_seconds must span two scrape intervals or more")
    if slo.min_bad_events < 1:
        out.append("min_bad_events must be 1 or more")
    for label in slo.by:
        if not LABEL_NAME.match(label):
            out.append(f"by label {label!r} is not a label name")
    if "job" not in slo.by:
        out.append("by must keep 'job' (routing and inhibition match on it)")
    test_labels = dict(slo.test_labels)
    for label in slo.by:
        if label not in test_labels and not any(
            f'{label}="' in selector for _, selector in _selectors(slo)
        ):
            out.append(f"test_labels give no value for its by label {label!r}")
    allowed = (known or frozenset()) | frozenset(area.external_metrics)
    for role, selector in _selectors(slo):
        try:
            metrics = _metric_names(selector)
        except (ValueError, TypeError) as err:
            out.append(f"SLI {role} selector {selector!r} does not parse: {err}")
            continue
        if 'job="' not in selector:
            out.append(f"SLI {role} selector {selector!r} needs a job=\"...\" matcher")
        if not metrics:
            out.append(f"SLI {role} selector {selector!r} names no metric")
        for metric in metrics:
            if known is not None and metric not in allowed:
                out.append(
                    f"SLI {role} metric {metric} is not declared by any exporter or listed "
                    f"as external by area {area.name}"
                )
    routes = {(r.team, r.severity) for r in catalogue.routing.routes}
    fallback = {r.severity for r in catalogue.routing.routes if r.team is None}
    needed = {t.severity for t in slo.enabled_tiers} | {Severity.INFO}
    for severity in sorted(needed):
        if (slo.team, severity) not in routes and severity not in fallback:
            out.append(f"no route for team {slo.team} at severity {severity}")
    return out
