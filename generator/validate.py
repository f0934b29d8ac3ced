"""Catalogue validation: collects every problem and raises one :class:`CatalogueError`.

Checked: unique alert, recording-rule and area names; ``level:metric:operation``
recording names; durations and cooldowns; PromQL that parses; every metric used is
declared by an exporter, made by a recording rule or listed as external by its area;
a warning trips before its critical twin; summary, description, runbook and owner;
annotations use only the allowed Go-template subset; unit tests that carry the
inhibition ``equal`` labels, trip their level, and last long enough; routing that has
a receiver for every (team, severity) an alert uses; dashboards an area splits its
panels across: declared keys only, each used, uids of at most 40 characters. Nothing is
written when it fails.

The alerting policy (see :mod:`generator.catalogue`): a level without a ``for`` only
where the threshold says why one occurrence is the incident (``single_event``); a ratio
of rates has a minimum-traffic ``guard``; every range selector in a rule spans at least
four scrape intervals; a level without a ``for`` counts over at most 15 minutes;
``keep_firing_seconds`` is whole seconds within bounds.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import promql_parser

from generator import gotemplate
from generator.model import (
    AlertTest,
    Area,
    Catalogue,
    Comparison,
    Level,
    Panel,
    RoutingPolicy,
    Settings,
    Severity,
    Team,
    TestSeries,
    Threshold,
    dashboard_uid,
    format_duration,
)
from generator.settings import duration_seconds
from generator.validate_slo import slo_problems

ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"alertname", "severity", "team", "category", "__name__"})
MAX_FOR_SECONDS = 86_400
MAX_COOLDOWN_SECONDS = 7 * 86_400
MAX_KEEP_FIRING_SECONDS = 6 * 3600  # longer hides a resolution for most of a shift
# A level without a ``for`` over a counter window longer than this stays firing for the
# whole window after one short burst (an hour-window count with ``for: 0s``).
MAX_INSTANT_WINDOW_SECONDS = 15 * 60
MIN_RANGE_SCRAPES = 4  # a range selector spans at least this many scrape intervals
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
MAX_UID_CHARS = 40  # Grafana refuses a longer dashboard uid
DASHBOARD_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Grafana's range variables, replaced by a plain duration before a panel query is parsed.
_GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_SERIES_VALUE = re.compile(
    r"^(?:_|stale|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|[-+]?Inf|NaN)"
    r"(?:([-+](?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)?x(\d+))?$"
)


class CatalogueError(ValueError):
    """The catalogue cannot be rendered; ``problems`` lists every reason, one a line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"catalogue has {len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)
        )


def known_metrics_from_exporters() -> frozenset[str]:
    """Every series name any exporter or metric source declares (runtime families too)."""
    from exporters.registry import all_metric_specs

    names: set[str] = set()
    for specs in all_metric_specs().values():
        for spec in specs:
            names.update(spec.sample_names())
    return frozenset(names)


def trips(value: float, op: Comparison, threshold: float) -> bool:
    """Whether ``value <op> threshold`` holds (the alert condition on one sample)."""
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }[op]


@dataclass(frozen=True)
class EvalPlan:
    """When a level's promtool test looks: before ``for`` has elapsed, and after it."""

    start: int  # seconds: first evaluation at which the condition holds
    before: int | None  # pending, not yet firing (None when ``for`` is 0)
    fire: int  # firing, two intervals past the boundary


def eval_plan(test: AlertTest, for_seconds: int) -> EvalPlan:
    """Evaluation times that stay clear of the ``for`` boundary (promtool versions differ
    exactly there)."""
    step = test.interval_seconds
    start = -(-test.warmup_seconds // step) * step
    hold = -(-for_seconds // step) * step
    fire = start + hold + 2 * step
    if for_seconds == 0:
        before = None
    elif hold >= 3 * step:
        before = start + hold - 2 * step
    elif hold >= 2 * step:
        # One interval in, not at the start: an alert in another rule group than the
        # recording rules it reads sees their first value one evaluation late, or not,
        # as Prometheus happens to order the groups.
        before = start + step
    else:
        before = start
    return EvalPlan(start, before, fire)


def series_samples(values: str) -> int:
    """How many samples promtool's expanding notation yields (``0+1x10`` -> 11)."""
    total = 0
    for token in values.split():
        match = _SERIES_VALUE.match(token)
        if not match:
            raise ValueError(f"not promtool series notation: {token!r}")
        if match.group(2) is None:
            total += 1
        elif token.startswith("_"):
            total += int(match.group(2))
        else:
            total += int(match.group(2)) + 1
    return total


def metric_names(expr: str) -> list[tuple[str, bool]]:
    """(name, is_regex) for every selector in ``expr``; raises ValueError if it won't parse."""
    tree = promql_parser.parse(expr)
    found: list[tuple[str, bool]] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.append((node.name, False))
            for matcher in node.matchers.matchers:
                if matcher.name != "__name__":
                    continue
                op = str(matcher.op)
                if op.endswith(".Equal"):
                    found.append((matcher.value, False))
                elif op.endswith(".Re"):
                    found.append((matcher.value, True))

    promql_parser.walk(tree, pre_visit=visit)
    return found


def _panel_expr(expr: str) -> str:
    for var, value in _GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def range_seconds(expr: str) -> list[float]:
    """The span in seconds of every range selector and subquery in ``expr``."""
    found: list[float] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.MatrixSelector | promql_parser.SubqueryExpr) and (
            node.range is not None
        ):
            found.append(node.range.total_seconds())

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


class RateAnalysis:
    """Which expressions derive from ``rate()``/``increase()``/``irate()`` and which are
    ratios of such rates, looking through recording rules by name.

    A *rate ratio* is a division ``a / b`` in which both ``a`` and ``b`` contain a rate
    (directly or through a recording rule), or a ``histogram_quantile`` over rated
    buckets (a quantile is a ratio of bucket rates): with little traffic one request
    moves it from 0 to 1, so an alert on it needs a minimum-traffic guard.
    """

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self._rate: dict[str, bool] = {}
        self._ratio: dict[str, bool] = {}
        self._window: dict[str, float] = {}

    def longest_window(self, node: promql_parser.Expr) -> float:
        """The longest range, in seconds, of a rate()/increase()/irate() in ``node`` or in
        the recording rules it uses (0 when there is none)."""
        longest = 0.0

        def visit(child: object) -> None:
            nonlocal longest
            if isinstance(child, promql_parser.Call) and child.func.name in RATE_FUNCTIONS:
                arg = child.args[0] if child.args else None
                if isinstance(arg, promql_parser.MatrixSelector) and arg.range is not None:
                    longest = max(longest, arg.range.total_seconds())
            elif isinstance(child, promql_parser.VectorSelector) and child.name in self.records:
                name = child.name
                if name not in self._window:
                    self._window[name] = 0.0  # a cycle adds nothing
                    # A rule that does not parse is reported by the PromQL check.
                    with contextlib.suppress(ValueError, TypeError):
                        self._window[name] = self.longest_window(
                            promql_parser.parse(self.records[name])
                        )
                longest = max(longest, self._window[name])

        promql_parser.walk(node, pre_visit=visit)
        return longest

    def _record(
        self, name: str, memo: dict[str, bool], test: Callable[[promql_parser.Expr], bool]
    ) -> bool:
        if name not in memo:
            memo[name] = False  # a cycle reads as "no"; the parse check reports the rest
            try:
                memo[name] = test(promql_parser.parse(self.records[name]))
            except (ValueError, TypeError):
                memo[name] = False
        return memo[name]

    def has_rate(self, node: promql_parser.Expr) -> bool:
        found = False

        def visit(child: object) -> None:
            nonlocal found
            if (isinstance(child, promql_parser.Call) and child.func.name in RATE_FUNCTIONS) or (
                isinstance(child, promql_parser.VectorSelector)
                and child.name in self.records
                and self._record(child.name, self._rate, self.has_rate)
            ):
                found = True

        promql_parser.walk(node, pre_visit=visit)
        return found

    def is_rate_ratio(self, node: promql_parser.Expr) -> bool:
        found = False

        def visit(child: object) -> None:
            nonlocal found
            if isinstance(child, promql_parser.BinaryExpr) and str(child.op) == "/":
                if self.has_rate(child.lhs) and self.has_rate(child.rhs):
                    found = True
            elif isinstance(child, promql_parser.Call) and child.func.name == "histogram_quantile":
                if len(child.args) > 1 and self.has_rate(child.args[1]):
                    found = True
            elif (
                isinstance(child, promql_parser.VectorSelector)
                and child.name in self.records
                and self._record(child.name, self._ratio, self.is_rate_ratio)
            ):
                found = True

        promql_parser.walk(node, pre_visit=visit)
        return found


class _Checker:
    def __init__(
        self, catalogue: Catalogue, known: frozenset[str] | None, settings: Settings
    ) -> None:
        self.catalogue = catalogue
        self.known = known
        self.settings = settings
        self.problems: list[str] = []
        self.records = frozenset(r.record for a in catalogue.areas for r in a.recording_rules)
        self.rates = RateAnalysis(
            {r.record: r.expr for a in catalogue.areas for r in a.recording_rules}
        )
        try:
            self.scrape_seconds = duration_seconds(settings.scrape_interval)
        except ValueError:
            self.scrape_seconds = 0.0  # settings are checked where they are loaded

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    # -- names ---------------------------------------------------------------------------

    def names(self) -> None:
        areas = Counter(a.name for a in self.catalogue.areas)
        for name, count in sorted(areas.items()):
            if count > 1:
                self.add(f"area {name}", f"defined {count} times")
        alerts = Counter(t.name for _, t in self.catalogue.thresholds())
        for name, count in sorted(alerts.items()):
            if count > 1:
                self.add(
                    f"alert {name}",
                    f"duplicate alert name: {count} thresholds share it "
                    "(a warning and its critical twin are two Levels of one Threshold)",
                )
        records = Counter(r.record for a in self.catalogue.areas for r in a.recording_rules)
        for name, count in sorted(records.items()):
            if count > 1:
                self.add(
                    f"recording rule {name}", f"duplicate recording rule: defined {count} times"
                )

    # -- PromQL and metrics ---------------------------------------------------------------

    def expr(self, where: str, expr: str, area: Area) -> None:
        if not expr.strip():
            self.add(where, "empty PromQL expression")
            return
        try:
            used = metric_names(expr)
        except (ValueError, TypeError) as err:
            self.add(where, f"PromQL does not parse: {err} in {expr!r}")
            return
        if self.known is None:
            return
        allowed = self.known | self.records | frozenset(area.external_metrics)
        for name, is_regex in used:
            if is_regex:
                try:
                    pattern = re.compile(name)
                except re.error as err:
                    self.add(where, f"bad __name__ regex {name!r}: {err}")
                    continue
                if not any(pattern.fullmatch(known) for known in allowed):
                    self.add(
                        where,
                        f"__name__=~{name!r} matches no metric an exporter declares, a "
                        f"recording rule makes, or area {area.name} lists as external",
                    )
            elif name not in allowed:
                self.add(
                    where,
                    f"metric {name} is not declared by any exporter, made by a recording "
                    f"rule, or listed as external by area {area.name}",
                )

    # -- one area -------------------------------------------------------------------------

    def area(self, area: Area) -> None:
        where = f"area {area.name}"
        if not LABEL_NAME.match(area.name):
            self.add(where, "area name must be a plain identifier (it names files and uids)")
        if not area.title.strip() or not area.description.strip():
            self.add(where, "title and description are required")
        for rule in area.recording_rules:
            self.recording(area, rule.record, rule.expr, rule.labels)
        for threshold in area.thresholds:
            self.threshold(area, threshold)
        for panel in area.panels:
            self.panel(f"{where} panel {panel.title!r}", panel, area)
        self.dashboards(area)

    def dashboards(self, area: Area) -> None:
        where = f"area {area.name}"
        keys = Counter(key for key, _ in area.dashboards)
        titles = Counter(title.strip() for _, title in area.dashboards)
        for key, count in sorted(keys.items()):
            if count > 1:
                self.add(where, f"dashboard {key!r} declared {count} times")
        for title, count in sorted(titles.items()):
            if count > 1:
                self.add(where, f"dashboard title {title!r} given {count} times")
        used = {t.panel.dashboard for t in area.thresholds} | {p.dashboard for p in area.panels}
        for key, title in area.dashboards:
            if not DASHBOARD_KEY.match(key):
                self.add(where, f"dashboard key {key!r} must be lowercase words joined by '-'")
            if not title.strip():
                self.add(where, f"dashboard {key!r} needs a title")
            if key not in used:
                self.add(where, f"dashboard {key!r} holds no panel")
        if area.dashboards and "" not in used:
            self.add(where, "the main dashboard holds no panel (leave one panel's key empty)")
        for key in area.dashboard_keys():
            uid = dashboard_uid(area.name, key)
            if len(uid) > MAX_UID_CHARS:
                self.add(where, f"dashboard uid {uid!r} is longer than {MAX_UID_CHARS} characters")

    def recording(
        self, area: Area, record: str, expr: str, labels: tuple[tuple[str, str], ...]
    ) -> None:
        where = f"recording rule {record}"
        if not RECORD_NAME.match(record):
            self.add(where, "name must read level:metric:operation (e.g. instance:x:ratio)")
        self.expr(where, expr, area)
        self.labels(where, labels)
        self.ranges(where, expr)

    def labels(self, where: str, labels: tuple[tuple[str, str], ...]) -> None:
        for name, _ in labels:
            if not LABEL_NAME.match(name) or name.startswith("__"):
                self.add(where, f"bad label name {name!r}")
        names = Counter(name for name, _ in labels)
        for name, count in names.items():
            if count > 1:
                self.add(where, f"label {name!r} given {count} times")

    def panel(self, where: str, panel: Panel, area: Area) -> None:
        if not panel.title.strip() or not panel.description.strip():
            self.add(where, "panel needs a title and a description")
        self.expr(where, _panel_expr(panel.expr), area)
        if panel.dashboard and panel.dashboard not in dict(area.dashboards):
            self.add(
                where,
                f"panel names dashboard {panel.dashboard!r}, which area {area.name} "
                "does not declare in its dashboards",
            )

    def threshold(self, area: Area, t: Threshold) -> None:
        where = f"alert {t.name}"
        if not ALERT_NAME.match(t.name):
            self.add(where, "alert name must be CamelCase letters and digits")
        if not isinstance(t.team, Team):
            self.add(where, f"owner team must be one of {', '.join(x.value for x in Team)}")
        if not t.summary.strip():
            self.add(where, "missing summary")
        if not t.description.strip():
            self.add(where, "missing description")
        rb = t.runbook
        for section, text in (
            ("meaning", rb.meaning),
            ("impact", rb.impact),
            ("escalation", rb.escalation),
        ):
            if not text.strip():
                self.add(where, f"runbook section {section} is empty")
        for section, steps in (("diagnosis", rb.diagnosis), ("mitigation", rb.mitigation)):
            if not steps or not all(s.strip() for s in steps):
                self.add(where, f"runbook section {section} needs at least one step")
        self.labels(where, t.static_labels)
        for name, _ in t.static_labels:
            if name in RESERVED_LABELS:
                self.add(where, f"static label {name!r} is set by the generator")
        self.panel(f"{where} panel", t.panel, area)
        if not t.levels:
            self.add(where, "no levels")
            return
        severities = Counter(level.severity for level in t.levels)
        if Severity.CRITICAL in severities and t.category is None:
            self.add(
                where,
                "a critical level needs a category (business-process failure, SLA violation, "
                "security incident or system outage): it escalates to the management tier",
            )
        if t.escalation_delay_seconds and not (60 <= t.escalation_delay_seconds <= 86_400):
            self.add(where, "escalation_delay_seconds must be 0 (the policy's) or in 60..86400")
        for severity, count in severities.items():
            if count > 1:
                self.add(where, f"severity {severity} given {count} times")
        self.ordering(where, t)
        for level in t.levels:
            self.level(area, t, level)
        self.policy(where, t)

    def ordering(self, where: str, t: Threshold) -> None:
        if len(t.levels) < 2:
            return
        if t.op in ("==", "!="):
            self.add(where, f"several levels need an ordering comparison, not {t.op!r}")
            return
        ranked = sorted(t.levels, key=lambda lv: lv.severity.rank)
        for lower, higher in itertools.pairwise(ranked):
            if lower.severity == higher.severity:
                continue
            ok = lower.value < higher.value if t.op in (">", ">=") else lower.value > higher.value
            if not ok:
                direction = "lower" if t.op in (">", ">=") else "higher"
                self.add(
                    where,
                    f"{lower.severity} ({lower.value}) must trip before {higher.severity} "
                    f"({higher.value}): for {t.op!r} its value must be {direction}",
                )

    def level(self, area: Area, t: Threshold, level: Level) -> None:
        where = f"alert {t.name} ({level.severity})"
        if not isinstance(level.severity, Severity):
            self.add(where, "severity must be a Severity")
        self.expr(where, t.condition(level), area)
        if not (0 <= level.for_seconds <= MAX_FOR_SECONDS) or int(level.for_seconds) != (
            level.for_seconds
        ):
            self.add(where, f"for_seconds {level.for_seconds} must be whole seconds in 0..86400")
        self.cooldown(where, t, level)
        self.test(where, t, level)

    def cooldown(self, where: str, t: Threshold, level: Level) -> None:
        routing = self.catalogue.routing
        if not (60 <= level.cooldown_seconds <= MAX_COOLDOWN_SECONDS):
            self.add(where, f"cooldown_seconds {level.cooldown_seconds} must be in 60..604800")
            return
        if t.name == routing.watchdog_alert:
            return  # the dead man's switch route takes its heartbeat from the cooldown
        policy = {p.severity: p for p in routing.severities}.get(level.severity)
        if policy is None or policy.group_interval_seconds <= 0:
            return
        if policy.digest:
            if level.cooldown_seconds != policy.group_interval_seconds:
                self.add(
                    where,
                    f"cooldown {level.cooldown_seconds}s: {level.severity} alerts are "
                    f"delivered in the digest, every {policy.group_interval_seconds}s; "
                    "set the cooldown to that",
                )
            return
        tick = policy.group_interval_seconds
        if level.cooldown_seconds < tick:
            self.add(
                where,
                f"cooldown {level.cooldown_seconds}s is shorter than the {level.severity} "
                f"group_interval ({tick}s): Alertmanager only "
                "repeats on a group_interval tick, so it would never be honoured",
            )
        elif level.cooldown_seconds % tick:
            self.add(
                where,
                f"cooldown {level.cooldown_seconds}s is not a whole number of "
                f"{level.severity} group_interval ticks ({tick}s): Alertmanager repeats on a "
                f"tick, so it would resend every {-(-level.cooldown_seconds // tick) * tick}s",
            )

    def test(self, where: str, t: Threshold, level: Level) -> None:
        test = level.test
        carried = dict(test.labels) | dict(t.static_labels)
        self.labels(f"{where} test", test.labels)
        for name in self.catalogue.routing.inhibit_equal:
            if name != "alertname" and name not in carried:
                self.add(
                    where,
                    f"test labels miss {name!r}, a label of the inhibition equal list: every "
                    "alert must carry it (add it as a static label where the expression "
                    "aggregates it away)",
                )
        for name, _ in test.labels:
            if name in RESERVED_LABELS:
                self.add(where, f"test label {name!r} is set by the generator; leave it out")
        # Prometheus expands $labels from the series, before rule labels are added.
        names = frozenset(dict(test.labels))
        for field, text in (("summary", t.summary), ("description", t.description)):
            for problem in gotemplate.template_problems(text, names):
                self.add(where, f"{field}: {problem}")
        if level.override:
            pass  # overridden: the generated tests expect what the new value does
        elif not trips(test.value, t.op, level.value):
            self.add(
                where,
                f"test value {test.value} does not trip the level ({t.op} {level.value})",
            )
        if (
            not level.override
            and test.quiet_value is not None
            and trips(test.quiet_value, t.op, level.value)
        ):
            self.add(where, f"test quiet_value {test.quiet_value} trips the level it should not")
        if test.interval_seconds <= 0 or test.warmup_seconds < 0:
            self.add(where, "test interval must be positive and warmup not negative")
            return
        if t.name != self.catalogue.routing.watchdog_alert and (
            not test.firing or (not test.quiet and not level.override)
        ):
            self.add(where, "test needs firing and quiet series")
        plan = eval_plan(test, level.for_seconds)
        for kind, series in (("firing", test.firing), ("quiet", test.quiet)):
            for s in series:
                self.series(f"{where} {kind} series", s, plan.fire, test.interval_seconds)

    def series(self, where: str, s: TestSeries, horizon: int, step: int) -> None:
        try:
            tree = promql_parser.parse(s.series)
        except (ValueError, TypeError) as err:
            self.add(where, f"series {s.series!r} does not parse: {err}")
            return
        if not isinstance(tree, promql_parser.VectorSelector) or not tree.name:
            self.add(where, f"series {s.series!r} must be a plain metric{{labels}}")
        try:
            samples = series_samples(s.values)
        except ValueError as err:
            self.add(where, str(err))
            return
        if (samples - 1) * step < horizon:
            self.add(
                where,
                f"series {s.series!r} ends at {(samples - 1) * step}s but the test looks at "
                f"{horizon}s: give it at least {horizon // step + 1} samples",
            )

    # -- the alerting policy ----------------------------------------------------------------

    def policy(self, where: str, t: Threshold) -> None:
        self.single_event(where, t)
        self.keep_firing(where, t)
        self.traffic_guard(where, t)
        self.ranges(where, t.condition(t.levels[0]))

    def single_event(self, where: str, t: Threshold) -> None:
        if t.name == self.catalogue.routing.watchdog_alert:
            return  # the dead man's switch fires from the first evaluation by design
        instant = [level for level in t.levels if level.for_seconds == 0]
        for level in instant:
            if not t.single_event.strip():
                self.add(
                    f"alert {t.name} ({level.severity})",
                    "for_seconds is 0 but the threshold gives no single_event: hold the "
                    "condition for a while, or say in single_event why one occurrence is "
                    "itself the incident",
                )
        if instant:
            try:
                window = self.rates.longest_window(promql_parser.parse(t.signal))
            except (ValueError, TypeError):
                window = 0.0  # reported by the PromQL check
            if window > MAX_INSTANT_WINDOW_SECONDS:
                self.add(
                    where,
                    f"a level without a for counts over a {format_duration(window)} window: "
                    f"one short burst keeps it firing for {format_duration(window)}; count "
                    f"over at most {format_duration(MAX_INSTANT_WINDOW_SECONDS)} (a single "
                    "event), or hold the condition with a for (a sustained rate)",
                )
        if t.single_event.strip() and not instant:
            self.add(
                where,
                "single_event is set but every level has a for: one or the other "
                "(drop single_event, or set for_seconds=0 where one occurrence is the incident)",
            )

    def keep_firing(self, where: str, t: Threshold) -> None:
        seconds = t.keep_firing_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or int(seconds) != seconds
            or not (0 <= seconds <= MAX_KEEP_FIRING_SECONDS)
        ):
            self.add(
                where,
                f"keep_firing_seconds {seconds!r} must be whole seconds in "
                f"0..{MAX_KEEP_FIRING_SECONDS}",
            )

    def traffic_guard(self, where: str, t: Threshold) -> None:
        try:
            signal = promql_parser.parse(t.signal)
        except (ValueError, TypeError):
            return  # reported by the PromQL check
        if not self.rates.is_rate_ratio(signal):
            if t.no_traffic_guard.strip():
                self.add(where, "no_traffic_guard given, but the signal is no ratio of rates")
            return
        if t.no_traffic_guard.strip():
            return
        guard = t.guard.strip()
        hint = (
            "a ratio of rates needs a minimum-traffic guard: "
            "guard='and on (instance, job) <requests per second> > <floor>'"
        )
        if not guard:
            self.add(where, f"no guard: {hint}")
            return
        try:
            # A placeholder left-hand side shows how the guard binds to the condition.
            node = promql_parser.parse(f"vector(1) {guard}")
        except (ValueError, TypeError):
            return  # the whole condition's parse check names it
        clauses = []
        while isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "and":
            clauses.append(node.rhs)
            node = node.lhs
        if not clauses:
            self.add(where, f"guard must restrict the condition with 'and': {hint}")
        elif not any(self.rates.has_rate(clause) for clause in clauses):
            self.add(
                where,
                "guard uses no rate(), increase() or irate() (nor a recording rule made "
                f"from one), so it cannot measure traffic: {hint}",
            )

    def ranges(self, where: str, expr: str) -> None:
        if self.scrape_seconds <= 0:
            return
        try:
            spans = range_seconds(expr)
        except (ValueError, TypeError):
            return  # reported by the PromQL check
        floor = MIN_RANGE_SCRAPES * self.scrape_seconds
        for span in sorted(set(spans)):
            if span < floor:
                self.add(
                    where,
                    f"range [{format_duration(span)}] is shorter than {MIN_RANGE_SCRAPES} "
                    f"scrape intervals ({format_duration(floor)} at "
                    f"scrape_interval {self.settings.scrape_interval}): one missed scrape "
                    "leaves too few samples",
                )

    # -- routing --------------------------------------------------------------------------

    def routing(self, policy: RoutingPolicy) -> None:
        receivers = {r.name: r for r in policy.receivers}
        names = Counter(r.name for r in policy.receivers)
        for name, count in names.items():
            if count > 1:
                self.add(f"receiver {name}", f"defined {count} times")
        for r in policy.receivers:
            if not r.send_resolved and not r.no_resolved_reason:
                self.add(
                    f"receiver {r.name}",
                    "send_resolved is off: say why in no_resolved_reason (every receiver is "
                    "told when an alert resolves where its integration supports it)",
                )
        for name in (
            policy.default_receiver,
            policy.deadmans_switch_receiver,
            policy.escalation_receiver,
        ):
            if name not in names:
                self.add("routing", f"receiver {name!r} is not defined")
        for name in (policy.default_receiver, policy.escalation_receiver):
            if name in receivers and not receivers[name].pages:
                self.add(
                    "routing",
                    f"receiver {name!r} must page a person (pagerduty, opsgenie or pushover): "
                    "it takes alerts no other route knows, or escalations",
                )
        if not (60 <= policy.escalation_delay_seconds <= 86_400):
            self.add("routing", "escalation_delay_seconds must be in 60..86400")
        for route in policy.routes:
            where = f"route ({route.team or 'any other team'}, {route.severity})"
            if not route.receivers:
                self.add("routing", f"{where} names no receiver")
            for receiver in route.receivers:
                if receiver not in names:
                    self.add("routing", f"{where} names unknown receiver {receiver!r}")
            if len(set(route.receivers)) != len(route.receivers):
                self.add("routing", f"{where} names a receiver twice")
            known = [receivers[n] for n in route.receivers if n in receivers]
            if route.severity == Severity.CRITICAL and known:
                if not any(r.pages for r in known):
                    self.add(
                        "routing",
                        f"{where}: no receiver pages a person (pagerduty, opsgenie or pushover)",
                    )
                if len({r.kind for r in known}) < 2:
                    self.add(
                        "routing",
                        f"{where}: a page needs two different integrations, so the alert "
                        "that one of them fails still arrives by the other",
                    )
        pairs = Counter((route.team, route.severity) for route in policy.routes)
        for (team, severity), count in sorted(pairs.items(), key=str):
            if count > 1:
                who = team or "any other team"
                self.add("routing", f"({who}, {severity}) is routed {count} times")
        policies = {p.severity: p for p in policy.severities}
        for severity in Severity:
            if severity not in policies:
                self.add("routing", f"no delivery policy for severity {severity}")
            if (None, severity) not in pairs:
                self.add(
                    "routing",
                    f"no fallback route (team None) for severity {severity}: an alert of an "
                    "unknown or missing team would reach only the default receiver",
                )
        alerts = {t.name: t for _, t in self.catalogue.thresholds()}
        for p in policy.severities:
            if not p.digest:
                continue
            digest = {route.receivers for route in policy.routes if route.severity == p.severity}
            if len(digest) != 1 or len(next(iter(digest))) != 1:
                self.add(
                    "routing",
                    f"{p.severity} is a digest: every team's route must name the same one "
                    "receiver (one group, anchored by the watchdog alert)",
                )
            else:
                (name,) = next(iter(digest))
                if name in receivers and not receivers[name].send_resolved:
                    self.add(
                        "routing",
                        f"digest receiver {name!r} must send resolved alerts, or an alert "
                        "that fired and resolved between two digests is in neither",
                    )
            watchdog = alerts.get(policy.watchdog_alert)
            if watchdog and any(level.severity != p.severity for level in watchdog.levels):
                self.add(
                    "routing",
                    f"the watchdog alert must be {p.severity}: it is the always-firing anchor "
                    "of the digest, without which Alertmanager drops an alert that fired "
                    "and resolved between two digests",
                )
        if any(t.inhibited_by_target_down for t in alerts.values()) and (
            policy.target_down_alert not in alerts
        ):
            self.add(
                "routing",
                f"the target-down alert {policy.target_down_alert!r} is not in the catalogue",
            )
        if policy.watchdog_alert not in alerts:
            self.add(
                "routing", f"the watchdog alert {policy.watchdog_alert!r} is not in the catalogue"
            )
        routed = {(route.team, route.severity) for route in policy.routes}
        for name, t in sorted(alerts.items()):
            if name == policy.watchdog_alert:
                continue
            for level in t.levels:
                if (t.team, level.severity) not in routed:
                    self.add(
                        f"alert {name} ({level.severity})",
                        f"no route for team {t.team} at severity {level.severity}",
                    )

    def run(self) -> None:
        self.names()
        for area in self.catalogue.areas:
            self.area(area)
        self.routing(self.catalogue.routing)


def problems(
    catalogue: Catalogue,
    known_metrics: frozenset[str] | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Every problem in ``catalogue``; ``known_metrics`` None skips the metric check;
    ``settings`` (defaults when None) gives the scrape interval ranges are measured by."""
    checker = _Checker(catalogue, known_metrics, settings or Settings())
    checker.run()
    return checker.problems + slo_problems(catalogue, known_metrics, settings or Settings())


def validate(
    catalogue: Catalogue,
    known_metrics: frozenset[str] | None = None,
    known: Callable[[], frozenset[str]] = known_metrics_from_exporters,
    settings: Settings | None = None,
) -> Catalogue:
    """Return ``catalogue`` unchanged, or raise :class:`CatalogueError` listing every problem.

    ``known_metrics`` defaults to what the exporters declare (``known()``); ``settings``
    to the defaults (its scrape interval bounds every range selector).
    """
    found = problems(
        catalogue, known_metrics if known_metrics is not None else known(), settings
    )
    if found:
        raise CatalogueError(found)
    return catalogue
