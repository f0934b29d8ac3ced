"""Whether the dashboards tell the truth about the alerts they draw (part of ``generator.lint``).

Three checks over the generated dashboards, reasoned from the catalogue's alerts (their
comparison, values, signal and recording rules) and from what metric names say (base
units in the name), not from the renderer's own threshold code:

- ``panel-healthy-color-rule``: the value just on the healthy side of an alert (0 for
  ``> 0``, 1 for ``== 0`` on an up-like signal) is coloured green, not as failing, and
  the value just past each level is coloured at least as its severity;
- ``panel-threshold-unit-rule``: a panel draws an alert's values only where they are in
  the panel's unit (a ratio threshold on a tuple count, a flag's 0 on an age in seconds
  are refused), and only where the panel shows the series the alert measures;
- ``annotation-always-firing-rule``: the firing-alert annotations leave out the alerts
  that fire all the time by design (the Watchdog), which would draw a band that never ends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import promql_parser

from generator.model import Catalogue, Threshold
from generator.validate import trips

# How failing a colour says a value is; anything else (green, blue, text) reads as fine.
FAILING_RANK = {
    "yellow": 1,
    "orange": 1,
    "semi-dark-orange": 1,
    "dark-orange": 1,
    "semi-dark-yellow": 1,
    "dark-yellow": 1,
    "red": 2,
    "semi-dark-red": 2,
    "dark-red": 2,
}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

# A Grafana unit's quantity; None: dimensionless (short, none), decided by the query.
PANEL_UNIT_KINDS: Mapping[str, str] = {
    "percentunit": "ratio",
    "percent": "percent",
    "s": "seconds",
    "dtdurations": "seconds",
    "ms": "milliseconds",
    "dtdurationms": "milliseconds",
    "µs": "microseconds",
    "ns": "nanoseconds",
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "bytes": "bytes",
    "decbytes": "bytes",
    "Bps": "bytes_per_second",
    "binBps": "bytes_per_second",
    "ops": "per_second",
    "reqps": "per_second",
    "rps": "per_second",
    "wps": "per_second",
    "iops": "per_second",
    "cps": "per_second",
    "pps": "per_second",
    "opm": "per_minute",
    "rpm": "per_minute",
    "wpm": "per_minute",
    "cpm": "per_minute",
    "celsius": "celsius",
    "watt": "watts",
    "bool": "count",
    "bool_yes_no": "count",
    "bool_on_off": "count",
}
# The base unit a metric name ends in (Prometheus' naming conventions), after any
# ``_total`` / ``_bucket`` / ``_sum`` suffix is taken off.
_NAME_SUFFIX_KINDS = (
    ("_ratio", "ratio"),
    ("_seconds", "seconds"),
    ("_bytes", "bytes"),
    ("_celsius", "celsius"),
    ("_watts", "watts"),
)
SCALAR = "scalar"
_SAME_KIND = frozenset({"abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
                        "sort", "sort_desc", "predict_linear", "label_replace", "label_join",
                        "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
                        "last_over_time", "quantile_over_time", "increase", "delta", "idelta",
                        "scalar", "vector"})  # fmt: skip
_PER_SECOND = frozenset({"rate", "irate", "deriv"})
_COUNTING = frozenset({"count_over_time", "changes", "resets", "absent", "absent_over_time"})
_COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "!="})


def metric_kind(name: str) -> str:
    """What a metric name says its values are: ``ratio``, ``seconds``, ``bytes``... or
    ``count`` for a plain number (a gauge of things, a counter, a 0/1 flag)."""
    for suffix in ("_total", "_bucket", "_sum"):
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    if name.endswith("_count"):
        return "count"
    for suffix, kind in _NAME_SUFFIX_KINDS:
        if name.endswith(suffix):
            return kind
    return "count"


def _selector_name(node: Any) -> str:
    if node.name:
        return str(node.name)
    for matcher in node.matchers.matchers:
        if matcher.name == "__name__":
            return str(matcher.value)
    return ""


def _arithmetic(op: str, left: str | None, right: str | None) -> str | None:
    if left == SCALAR:
        return right if op in ("+", "-", "*") else None
    if right == SCALAR:
        return left
    if left is None or right is None:
        return None
    if op in ("+", "-"):
        return left if left == right else None
    if op == "/":
        if left == right:
            return "ratio"
        if right == "seconds" and left in ("count", "bytes"):
            return "per_second" if left == "count" else "bytes_per_second"
        return None
    if op == "*":
        if "ratio" in (left, right):
            return right if left == "ratio" else left
        return None
    return left


@dataclass(frozen=True)
class Signals:
    """What the catalogue knows about series: recording rules' expressions by name."""

    recording: Mapping[str, str]

    @classmethod
    def of(cls, catalogue: Catalogue) -> Signals:
        return cls({r.record: r.expr for a in catalogue.areas for r in a.recording_rules})

    def kind(self, expr: str) -> str | None:
        """The unit of a query's values, or None where it cannot be told."""
        return self._kind(promql_parser.parse(expr), 0)

    def metrics(self, expr: str) -> frozenset[str]:
        """The raw series a query reads, recording rules replaced by what they read."""
        return frozenset(self._metrics(promql_parser.parse(expr), 0))

    def _metrics(self, node: Any, depth: int) -> Iterator[str]:
        for sub in _nodes(node):
            if isinstance(sub, promql_parser.VectorSelector):
                name = _selector_name(sub)
                if name in self.recording and depth < 8:
                    yield from self._metrics(promql_parser.parse(self.recording[name]), depth + 1)
                elif name and name != "ALERTS":
                    yield name

    def _kind(self, node: Any, depth: int) -> str | None:
        if isinstance(node, promql_parser.NumberLiteral):
            return SCALAR
        if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
            return self._kind(node.expr, depth)
        if isinstance(node, promql_parser.SubqueryExpr):
            return self._kind(node.expr, depth)
        if isinstance(node, promql_parser.MatrixSelector):
            return self._kind(node.vector_selector, depth)
        if isinstance(node, promql_parser.VectorSelector):
            name = _selector_name(node)
            if name in self.recording and depth < 8:
                return self._kind(promql_parser.parse(self.recording[name]), depth + 1)
            return metric_kind(name) if name else None
        if isinstance(node, promql_parser.AggregateExpr):
            op = str(node.op)
            if op in ("count", "count_values"):
                return "count"
            return self._kind(node.expr, depth)
        if isinstance(node, promql_parser.Call):
            name = node.func.name
            args = list(node.args)
            if name in ("time", "timestamp"):
                return "seconds"
            if name in _COUNTING:
                return "count"
            if name == "histogram_quantile" and len(args) == 2:
                # The buckets' own unit (``le`` is in it), whatever rate() they went through.
                buckets = sorted(self._metrics(args[1], depth))
                return metric_kind(buckets[0]) if buckets else None
            vectors = [a for a in args if not isinstance(a, promql_parser.NumberLiteral)]
            if not vectors:
                return SCALAR if name == "vector" else None
            inner = self._kind(vectors[-1] if name == "quantile_over_time" else vectors[0], depth)
            if name in _PER_SECOND:
                return {"count": "per_second", "seconds": "ratio", "bytes": "bytes_per_second"}.get(
                    inner or ""
                )
            return inner if name in _SAME_KIND else None
        if isinstance(node, promql_parser.BinaryExpr):
            op = str(node.op)
            left = self._kind(node.lhs, depth)
            right = self._kind(node.rhs, depth)
            if op in _COMPARISONS:
                if node.modifier is not None and getattr(node.modifier, "return_bool", False):
                    return "count"
                return right if left == SCALAR else left
            if op in ("and", "unless"):
                return left
            if op == "or":
                return left if left is not None else right
            return _arithmetic(op, left, right)
        return None


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children: list[Any] = []
    if isinstance(node, promql_parser.AggregateExpr):
        children = [c for c in (node.param, node.expr) if c is not None]
    elif isinstance(node, promql_parser.BinaryExpr):
        children = [node.lhs, node.rhs]
    elif isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        children = [node.expr]
    elif isinstance(node, promql_parser.Call):
        children = list(node.args)
    elif isinstance(node, promql_parser.MatrixSelector):
        children = [node.vector_selector]
    for child in children:
        yield from _nodes(child)


# Panels -----------------------------------------------------------------------------------

_RUNBOOK_LINK = re.compile(r"^Runbook: (\S+)$")
_GRAFANA_VARIABLES = re.compile(r"\$\{?__(rate_)?interval\}?|\$__range")


def panel_alert(panel: Mapping[str, Any]) -> str | None:
    """The alert a generated panel draws: named by its runbook link."""
    for link in panel.get("links") or []:
        match = _RUNBOOK_LINK.match(str(link.get("title", "")))
        if match:
            return match.group(1)
    return None


def _steps(panel: Mapping[str, Any]) -> list[tuple[float, str]]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    steps = (defaults.get("thresholds") or {}).get("steps") or []
    out = []
    for step in steps:
        value = step.get("value")
        out.append((-math.inf if value is None else float(value), str(step.get("color", ""))))
    return out


def color_of(panel: Mapping[str, Any], value: float) -> str:
    """The colour Grafana gives ``value``: the last step whose value it meets or exceeds."""
    chosen = ""
    for step_value, color in _steps(panel):
        if value >= step_value:
            chosen = color
    return chosen


def healthy_values(threshold: Threshold) -> list[float]:
    """Values just on the healthy side of every level: what a healthy system shows."""
    values = sorted(level.value for level in threshold.levels)
    op = threshold.op
    if op == ">":
        return [values[0]]
    if op == ">=":
        return [math.nextafter(values[0], -math.inf)]
    if op == "<":
        return [values[-1]]
    if op == "<=":
        return [math.nextafter(values[-1], math.inf)]
    if op == "==":
        # 1 for ``== 0`` on an up-like signal; a state flag's 0 for ``== 1``.
        return [v + d for v in values for d in (-1, 1) if not trips(v + d, op, v)]
    return list(values)


def firing_value(threshold: Threshold, level_value: float) -> float:
    """The value just past a level, on the side where it fires."""
    if threshold.op == ">":
        return math.nextafter(level_value, math.inf)
    if threshold.op == "<":
        return math.nextafter(level_value, -math.inf)
    return level_value if threshold.op != "!=" else level_value + 1


def _draws_thresholds(panel: Mapping[str, Any]) -> bool:
    return len(_steps(panel)) > 1


def check_colors(panel: Mapping[str, Any], threshold: Threshold) -> list[str]:
    where = f"panel {panel.get('title')!r} (alert {threshold.name} {threshold.op})"
    problems = []
    for value in healthy_values(threshold):
        color = color_of(panel, value)
        if FAILING_RANK.get(color, 0):
            problems.append(
                f"panel-healthy-color-rule: {where}: the healthy value {value:g} is "
                f"coloured {color}"
            )
    if not _draws_thresholds(panel):
        return problems
    for level in threshold.levels:
        value = firing_value(threshold, level.value)
        color = color_of(panel, value)
        if FAILING_RANK.get(color, 0) < SEVERITY_RANK[level.severity.value]:
            problems.append(
                f"panel-healthy-color-rule: {where}: {value:g}, where the "
                f"{level.severity.value} fires, is coloured {color or 'nothing'}"
            )
    return problems


def _panel_expr(panel: Mapping[str, Any]) -> str:
    targets = panel.get("targets") or [{}]
    return _GRAFANA_VARIABLES.sub("5m", str(targets[0].get("expr", "")))


def check_units(panel: Mapping[str, Any], threshold: Threshold, signals: Signals) -> list[str]:
    if not _draws_thresholds(panel):
        return []
    where = f"panel {panel.get('title')!r} (alert {threshold.name})"
    try:
        signal_kind = signals.kind(threshold.signal)
        signal_metrics = signals.metrics(threshold.signal)
        shown_kind = signals.kind(_panel_expr(panel))
        shown_metrics = signals.metrics(_panel_expr(panel))
    except ValueError as err:  # a query that does not parse is target-promql-rule's
        return [f"panel-threshold-unit-rule: {where}: cannot read a query: {err}"]
    problems = []
    missing = sorted(signal_metrics - shown_metrics)
    if missing:
        problems.append(
            f"panel-threshold-unit-rule: {where}: draws the alert's values but does not "
            f"show what it measures ({', '.join(missing)})"
        )
    if signal_kind in (None, SCALAR):
        return problems
    unit = str(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""))
    unit_kind = PANEL_UNIT_KINDS.get(unit)
    if unit_kind is not None and unit_kind != signal_kind:
        problems.append(
            f"panel-threshold-unit-rule: {where}: thresholds in {signal_kind} on a panel "
            f"in {unit!r} ({unit_kind})"
        )
    elif shown_kind not in (None, SCALAR) and shown_kind != signal_kind:
        problems.append(
            f"panel-threshold-unit-rule: {where}: thresholds in {signal_kind} on a panel "
            f"that shows {shown_kind}"
        )
    return problems


# Annotations ------------------------------------------------------------------------------


def always_firing(catalogue: Catalogue) -> frozenset[str]:
    """Alerts that fire all the time by design: the routing's dead man's switch, and any
    alert whose signal reads no series (``vector(1)``)."""
    signals = Signals.of(catalogue)
    names = {catalogue.routing.watchdog_alert}
    for _, threshold in catalogue.thresholds():
        try:
            if not signals.metrics(threshold.signal):
                names.add(threshold.name)
        except ValueError:
            continue  # the validator reports a signal that does not parse
    return frozenset(names)


def _excludes(selector: Any, alert: str) -> bool:
    for matcher in selector.matchers.matchers:
        if matcher.name != "alertname":
            continue
        op, value = matcher.op, str(matcher.value)
        if op == promql_parser.MatchOp.NotEqual and value == alert:
            return True
        if op == promql_parser.MatchOp.Equal and value != alert:
            return True
        matched = re.fullmatch(value, alert) is not None
        if op == promql_parser.MatchOp.NotRe and matched:
            return True
        if op == promql_parser.MatchOp.Re and not matched:
            return True
    return False


def check_annotations(dashboard: Mapping[str, Any], quiet: frozenset[str]) -> list[str]:
    problems = []
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        expr = annotation.get("expr")
        if not isinstance(expr, str) or "ALERTS" not in expr:
            continue
        try:
            tree = promql_parser.parse(expr)
        except ValueError:
            continue  # the query rules report it
        for node in _nodes(tree):
            if not isinstance(node, promql_parser.VectorSelector) or node.name != "ALERTS":
                continue
            shown = sorted(alert for alert in quiet if not _excludes(node, alert))
            if shown:
                problems.append(
                    f"annotation-always-firing-rule: annotation {annotation.get('name')!r} "
                    f"draws {', '.join(shown)}, which fires all the time by design"
                )
    return problems


def check_dashboard(dashboard: Mapping[str, Any], catalogue: Catalogue) -> list[str]:
    """Every truth rule on one dashboard; an empty list means it tells the truth."""
    by_name = {t.name: t for _, t in catalogue.thresholds()}
    signals = Signals.of(catalogue)
    quiet = always_firing(catalogue)
    problems = check_annotations(dashboard, quiet)
    for panel in dashboard.get("panels") or []:
        name = panel_alert(panel)
        threshold = by_name.get(name or "")
        if threshold is None or threshold.name in quiet:
            continue
        problems.extend(check_colors(panel, threshold))
        problems.extend(check_units(panel, threshold, signals))
    return problems


def check_dashboards(dashboards: Mapping[str, Any], catalogue: Catalogue) -> dict[str, list[str]]:
    """``{file name: problems}`` for the dashboards that do not tell the truth."""
    report = {}
    for name in sorted(dashboards):
        dashboard = dashboards[name]
        if isinstance(dashboard, Mapping):
            problems = check_dashboard(dashboard, catalogue)
            if problems:
                report[name] = problems
    return report
