"""Renders ``rules/tests/<area>.test.yml``: promtool unit tests for every alert level.

Each level gets a test group fed with its ``firing`` series (silent but pending before
``for``, firing after it, with exact labels and annotations) and one fed with its ``quiet``
series (silent, or only the lower levels ``quiet_value`` trips). Expected annotations
are expanded from the catalogue's templates with the test's value
(``generator.gotemplate``). :func:`coverage` counts the cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from generator import gotemplate
from generator.model import Area, Catalogue, Level, Settings, Threshold, format_duration
from generator.overrides import matches, relabel_series, target_labels
from generator.render import render_template
from generator.render._alerts import alert_annotations, rule_labels
from generator.settings import effective_for_seconds
from generator.validate import eval_plan, trips


class TestPlanError(ValueError):
    """A test that would evaluate exactly on a ``for`` boundary of another level."""


@dataclass(frozen=True)
class Coverage:
    levels: int
    firing: int  # levels with a firing case
    silent: int  # levels with at least one silent case
    always_firing: tuple[str, ...]  # levels without a silent case by design (the Watchdog)

    def summary(self) -> str:
        line = (
            f"promtool tests: {self.levels} alert levels, {self.firing} with a firing case, "
            f"{self.silent} with a silent case"
        )
        if self.always_firing:
            line += f" (always firing by design: {', '.join(self.always_firing)})"
        return line


def _expected(
    area: Area,
    threshold: Threshold,
    value: float,
    labels: tuple[tuple[str, str], ...],
    elapsed: int,
    step: int,
    settings: Settings,
) -> list[dict[str, Any]]:
    """Alerts of ``threshold`` firing ``elapsed`` seconds after its condition became true."""
    alerts = []
    for level in sorted(levels_for(threshold, labels), key=lambda lv: lv.severity.rank):
        if not trips(value, threshold.op, level.value):
            continue
        hold = -(-effective_for_seconds(level.for_seconds, settings) // step) * step
        if elapsed == hold and hold > 0:
            raise TestPlanError(
                f"{threshold.name} ({level.severity}): a test looks exactly at its for "
                "boundary; give the levels' for values a gap of at least two intervals"
            )
        if elapsed < hold:
            continue
        series_labels = dict(labels)
        text = {
            name: gotemplate.expand(template, series_labels, value)
            for name, template in alert_annotations(area, threshold, settings)
        }
        alerts.append(
            {
                "labels": tuple(
                    sorted((dict(labels) | dict(rule_labels(threshold, level))).items())
                ),
                "annotations": tuple(sorted(text.items())),
            }
        )
    return alerts


def levels_for(threshold: Threshold, labels: tuple[tuple[str, str], ...]) -> tuple[Level, ...]:
    """The levels that apply to a series with ``labels``: the first per-target threshold
    that matches it, or the catalogue's."""
    for target in threshold.targets:
        if matches(target, dict(labels)):
            return target.levels
    return threshold.levels


def quiet_known(
    threshold: Threshold, labels: tuple[tuple[str, str], ...], quiet_value: float | None
) -> bool:
    """Whether what a level's quiet series trip is known for a target with ``labels``:
    their value is given, or no level that applies was loosened by an override (which
    drops the quiet series of a loosened level whose quiet value is not given)."""
    return quiet_value is not None or all(lv.test.quiet for lv in levels_for(threshold, labels))


def _pending(threshold: Threshold, level: Level, eval_time: int) -> dict[str, Any]:
    """The level's alert is pending while it is silent before ``for``: its condition
    already holds then, so the silence is the ``for`` at work, not a quiet input."""
    labels = (
        dict(level.test.labels)
        | dict(rule_labels(threshold, level))
        | {"alertname": threshold.name, "alertstate": "pending"}
    )
    body = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    return {
        "expr": (
            f'ALERTS{{alertname="{threshold.name}",alertstate="pending",'
            f'severity="{level.severity.value}"}}'
        ),
        "eval_time": format_duration(eval_time),
        "samples": [(f"ALERTS{{{body}}}", 1)],
    }


def _level_groups(
    area: Area, threshold: Threshold, level: Level, settings: Settings
) -> list[dict[str, Any]]:
    # The level that applies to the test's own target (a per-target threshold may).
    level = next(
        (lv for lv in levels_for(threshold, level.test.labels) if lv.severity == level.severity),
        level,
    )
    test = level.test
    step = test.interval_seconds
    plan = eval_plan(test, effective_for_seconds(level.for_seconds, settings))
    name = f"{threshold.name} {level.severity.value}"
    cases = []
    if plan.before is not None:
        cases.append(
            {
                "eval_time": format_duration(plan.before),
                "alertname": threshold.name,
                "alerts": _expected(
                    area,
                    threshold,
                    test.value,
                    test.labels,
                    plan.before - plan.start,
                    step,
                    settings,
                ),
            }
        )
    cases.append(
        {
            "eval_time": format_duration(plan.fire),
            "alertname": threshold.name,
            "alerts": _expected(
                area, threshold, test.value, test.labels, plan.fire - plan.start, step, settings
            ),
        }
    )
    groups = [
        {
            "name": f"{name}: silent before for, then fires"
            if plan.before is not None
            else f"{name}: fires",
            "interval": format_duration(step),
            "series": test.firing,
            "alert_tests": cases,
            "expr_tests": []
            if plan.before is None or not trips(test.value, threshold.op, level.value)
            else [_pending(threshold, level, plan.before)],
        }
    ]
    if test.quiet and quiet_known(threshold, test.labels, test.quiet_value):
        quiet_alerts = (
            []
            if test.quiet_value is None
            else _expected(
                area,
                threshold,
                test.quiet_value,
                test.labels,
                plan.fire - plan.start,
                step,
                settings,
            )
        )
        groups.append(
            {
                "name": f"{name}: silent below the threshold",
                "interval": format_duration(step),
                "series": test.quiet,
                "alert_tests": [
                    {
                        "eval_time": format_duration(plan.fire),
                        "alertname": threshold.name,
                        "alerts": quiet_alerts,
                    }
                ],
                "expr_tests": [],
            }
        )
    return groups


def _recording_groups(area: Area) -> list[dict[str, Any]]:
    groups = []
    for rule in area.recording_rules:
        if not rule.test_series:
            continue
        groups.append(
            {
                "name": f"recording rule {rule.record}",
                "interval": "1m",
                "series": rule.test_series,
                "alert_tests": [],
                "expr_tests": [
                    {
                        "expr": rule.record,
                        "eval_time": "10m",
                        "samples": [(labels, value) for labels, value in rule.test_expect],
                    }
                ],
            }
        )
    return groups


def _target_groups(
    area: Area, threshold: Threshold, level: Level, settings: Settings
) -> list[dict[str, Any]]:
    """Per-target thresholds: the level's firing and quiet series, once as a target each
    override matches and once as the catalogue's target, side by side; each fires exactly
    by its own levels (a value between the two thresholds fires under one only)."""
    test = level.test
    step = test.interval_seconds
    default = dict(test.labels)
    groups: list[dict[str, Any]] = []
    for i, target in enumerate(threshold.targets):
        moved = target_labels(target, test.labels)
        moved_labels = tuple(sorted(moved.items()))
        if levels_for(threshold, moved_labels) is not target.levels:
            continue  # an earlier target takes these labels
        # The catalogue's evaluation time: a signal that moves with time() (seconds left)
        # has the test's value only there; a level whose ``for`` is longer is still
        # pending then, and expected silent.
        plan = eval_plan(test, effective_for_seconds(level.for_seconds, settings))
        elapsed = plan.fire - plan.start
        for kind, series, value in (
            ("firing", test.firing, test.value),
            ("quiet", test.quiet, test.quiet_value),
        ):
            if not series:
                continue
            if kind == "quiet" and not all(
                quiet_known(threshold, labels, value) for labels in (moved_labels, test.labels)
            ):
                continue
            inputs = [_Series(relabel_series(s.series, moved), s.values) for s in series]
            try:
                alerts = [] if value is None else _expected(
                    area, threshold, value, moved_labels, elapsed, step, settings
                )
                if moved != default:
                    inputs += [_Series(s.series, s.values) for s in series]
                    if value is not None:
                        alerts += _expected(
                            area, threshold, value, test.labels, elapsed, step, settings
                        )
            except TestPlanError:
                continue  # a target's for ends exactly at the catalogue's evaluation time
            if value is not None and not _steady(threshold) and (
                [lv.severity for lv in levels_for(threshold, moved_labels)
                 if trips(value, threshold.op, lv.value)]
                != [lv.severity for lv in levels_for(threshold, test.labels)
                    if trips(value, threshold.op, lv.value)]
            ):
                continue  # the outcome would hang on a value the tests do not pin down
            groups.append(
                {
                    "name": f"{threshold.name} {level.severity.value} {kind} series: target "
                    f"override {i + 1} ({target.where}) beside the catalogue's threshold",
                    "interval": format_duration(step),
                    "series": tuple(inputs),
                    "alert_tests": [
                        {
                            "eval_time": format_duration(plan.fire),
                            "alertname": threshold.name,
                            "alerts": sorted(alerts, key=lambda a: tuple(a["labels"])),
                        }
                    ],
                    "expr_tests": [],
                }
            )
    return groups


def _steady(threshold: Threshold) -> bool:
    """Whether the test value is the signal's value throughout a test: the catalogue's
    tests check it through the annotations (``$value``), and the signal does not move
    with ``time()``. Only then may a generated test expect one target to fire and another
    not at a value between their thresholds (a signal that moves, or a value no test
    checks, could have tripped the other threshold earlier, or later)."""
    text = threshold.summary + threshold.description
    return "$value" in text and "time()" not in threshold.signal + threshold.guard


@dataclass(frozen=True)
class _Series:
    series: str
    values: str


def test_groups(area: Area, settings: Settings) -> list[dict[str, Any]]:
    groups = _recording_groups(area)
    for threshold in area.thresholds:
        for level in sorted(threshold.levels, key=lambda lv: lv.severity.rank):
            groups.extend(_level_groups(area, threshold, level, settings))
            groups.extend(_target_groups(area, threshold, level, settings))
    return groups


def coverage(catalogue: Catalogue) -> Coverage:
    """How many alert levels have a firing case and a silent case in the generated tests."""
    levels = firing = silent = 0
    always: list[str] = []
    for _, threshold in catalogue.thresholds():
        for level in threshold.levels:
            levels += 1
            firing += 1  # every level gets a firing group (validation requires its series)
            has_silent = bool(level.test.quiet) or level.for_seconds > 0
            silent += has_silent
            if not has_silent:
                always.append(f"{threshold.name} {level.severity.value}")
    return Coverage(levels, firing, silent, tuple(always))


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    out = {}
    for area in catalogue.areas:
        groups = test_groups(area, settings)
        if not groups:
            continue
        out[f"rules/tests/{area.name}.test.yml"] = render_template(
            "promtool_tests.yml.j2",
            area=area,
            rule_file=f"../{area.name}.rules.yml",
            evaluation_interval="1m",
            groups=groups,
        )
    return out
