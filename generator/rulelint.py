"""Offline linter of the generated Prometheus rules (``rules/*.rules.yml``), pint's checks.

``python -m generator.rulelint`` reads the rule files and checks them against what the
exporters declare (metric types and labels, ``exporters.registry``), the scrape
interval of the generator settings and the routing policy's labels. Checks, each named
in what it reports:

- ``rate-type``: ``rate()``/``irate()``/``increase()`` over a metric declared as a gauge.
- ``counter-raw``: a declared counter (``*_total``, histogram/summary ``_bucket``/``_sum``
  /``_count``) used outside ``rate``/``irate``/``increase``/``resets`` (counting its
  series, ``absent()`` and the right-hand side of ``and``/``unless`` are fine).
- ``range``: a range selector or subquery shorter than four scrape intervals.
- ``comparison``: an alert expression that filters nothing (no comparison, no
  ``absent()``), so it always fires; a bare ``vector(1)`` (the dead man's switch) is
  the one exception.
- ``template-label``: a ``$labels.x`` in annotations or labels that the expression
  cannot produce.
- ``routing-label``: an alert whose expression cannot produce a label that routing or
  inhibition relies on (``instance``, ``job``, the policy's ``group_by`` and
  ``inhibit_equal``), unless the rule sets it as a static label. The dead man's switch
  (the policy's ``watchdog_alert``) is exempt: its route matches its name alone and
  nothing inhibits it.
- ``absent-for``: an alert on ``absent()`` with a ``for`` under two scrape intervals.
- ``aggregate-division``: ``sum``/``avg`` over a division of two vectors (adds or
  averages ratios; divide the sums instead).
- ``duplicate``: a recording rule defined twice (same name and static labels), or two
  identical alerting rules.

Label sets come from a small analyser over the parsed expression (:func:`labels_of`); it
answers "unknown" where it cannot tell (a ``__name__`` regex, a metric from Prometheus
itself), and a check never reports on an unknown. Exit status 1 names the file, group,
rule and problem of each finding.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from generator.model import RoutingPolicy
from generator.settings import duration_seconds

REPO_ROOT = Path(__file__).resolve().parent.parent
MIN_RANGE_SCRAPES = 4
MIN_ABSENT_FOR_SCRAPES = 2
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
COUNTER_FUNCTIONS = RATE_FUNCTIONS | {"resets"}
# Where a raw counter is fine: only its presence or its series count matter there.
PRESENCE_FUNCTIONS = frozenset({"absent", "absent_over_time", "present_over_time", "timestamp"})
PRESENCE_AGGREGATIONS = frozenset({"count", "group", "count_values"})
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
RATIO_AGGREGATIONS = frozenset({"sum", "avg"})
KEEP_LABEL_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
SCRAPE_LABELS = frozenset({"instance", "job"})  # Prometheus adds them to every scraped series
_TEMPLATE_LABEL = re.compile(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)")
_TEMPLATE_INDEX = re.compile(r"index\s+\$labels\s+\"([a-zA-Z_][a-zA-Z0-9_]*)\"")

Labels = frozenset[str] | None  # None: unknown, and no check reports on it


@dataclass(frozen=True)
class Metric:
    """A series name as PromQL sees it: ``counter`` or another type, and its labels."""

    type: str
    labels: frozenset[str]


def declared_metrics() -> dict[str, Metric]:
    """Every series an exporter declares, with the labels a scrape gives it."""
    from exporters.registry import all_metric_specs  # the generator reads declarations only

    out: dict[str, Metric] = {"up": Metric("gauge", SCRAPE_LABELS)}
    for specs in all_metric_specs().values():
        for spec in specs:
            labels = frozenset(spec.labels) | SCRAPE_LABELS
            if spec.type == "histogram":
                out[f"{spec.name}_bucket"] = Metric("counter", labels | {"le"})
                out[f"{spec.name}_sum"] = Metric("counter", labels)
                out[f"{spec.name}_count"] = Metric("counter", labels)
            elif spec.type == "summary":
                out[spec.name] = Metric("summary", labels | {"quantile"})
                out[f"{spec.name}_sum"] = Metric("counter", labels)
                out[f"{spec.name}_count"] = Metric("counter", labels)
            elif spec.type == "stateset":
                out[spec.name] = Metric("stateset", labels | {spec.name})
            else:
                out[spec.name] = Metric(spec.type, labels)
    return out


@dataclass(frozen=True)
class Rule:
    """One rule of a generated rule file."""

    file: str
    group: str
    kind: str  # "alert" or "record"
    name: str
    expr: str
    for_seconds: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}: group {self.group}: {self.kind} {self.name}"


@dataclass(frozen=True)
class Finding:
    rule: Rule
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule.where}: {self.check}: {self.message}"


def rules_from_document(file: str, document: Any) -> list[Rule]:
    """The rules of one parsed rule file (``{"groups": [...]}``)."""
    out: list[Rule] = []
    for group in (document or {}).get("groups") or ():
        for raw in group.get("rules") or ():
            kind = "alert" if "alert" in raw else "record"
            out.append(
                Rule(
                    file=file,
                    group=str(group.get("name", "")),
                    kind=kind,
                    name=str(raw.get(kind, "")),
                    expr=str(raw.get("expr", "")),
                    for_seconds=duration_seconds(str(raw["for"])) if raw.get("for") else 0.0,
                    labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
                )
            )
    return out


def _children(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, promql_parser.AggregateExpr):
        return [(role, c) for role, c in (("param", node.param), ("expr", node.expr)) if c]
    if isinstance(node, promql_parser.BinaryExpr):
        return [("lhs", node.lhs), ("rhs", node.rhs)]
    if isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        return [("expr", node.expr)]
    if isinstance(node, promql_parser.Call):
        return [("arg", a) for a in node.args]
    if isinstance(node, promql_parser.MatrixSelector):
        return [("vs", node.vector_selector)]
    return []


Ancestors = tuple[tuple[Any, str], ...]


def walk(node: Any, ancestors: Ancestors = ()) -> Iterator[tuple[Any, Ancestors]]:
    """Every node with its ancestors, nearest last, each with the role its child plays."""
    yield node, ancestors
    for role, child in _children(node):
        yield from walk(child, (*ancestors, (node, role)))


def _name(selector: Any) -> str:
    """The metric name a vector selector names exactly, or ``""``."""
    if selector.name:
        return str(selector.name)
    for m in selector.matchers.matchers:
        if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal:
            return str(m.value)
    return ""


def _op(node: Any) -> str:
    return str(node.op)


def is_scalar(node: Any) -> bool:
    """Whether ``node`` evaluates to a scalar (or a string), so it carries no labels."""
    if isinstance(node, promql_parser.NumberLiteral | promql_parser.StringLiteral):
        return True
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return is_scalar(node.expr)
    if isinstance(node, promql_parser.Call):
        return str(node.func.return_type).endswith("Scalar")
    if isinstance(node, promql_parser.BinaryExpr):
        return is_scalar(node.lhs) and is_scalar(node.rhs)
    return False


class Analyser:
    """Label sets and metric facts of expressions, recording rules resolved by name."""

    def __init__(self, metrics: Mapping[str, Metric], records: Mapping[str, Rule]) -> None:
        self.metrics = metrics
        self.records = records
        self._labels: dict[str, Labels] = {}
        self._filters: dict[str, bool] = {}

    def _record_tree(self, name: str) -> Any:
        try:
            return promql_parser.parse(self.records[name].expr)
        except (ValueError, TypeError):
            return None

    def record_labels(self, name: str) -> Labels:
        if name not in self._labels:
            self._labels[name] = None  # a cycle is unknown
            tree = self._record_tree(name)
            found = None if tree is None else self.labels_of(tree)
            if found is not None:
                found = found | frozenset(self.records[name].labels)
            self._labels[name] = found
        return self._labels[name]

    def labels_of(self, node: Any) -> Labels:
        """The labels ``node``'s result can carry (a superset), or None when unknown."""
        if is_scalar(node):
            return frozenset()
        if isinstance(node, promql_parser.VectorSelector):
            name = _name(node)
            matched = frozenset(
                m.name
                for m in node.matchers.matchers
                if m.name != "__name__" and m.op == promql_parser.MatchOp.Equal and m.value
            )
            if name in self.records:
                found = self.record_labels(name)
            elif name in self.metrics:
                found = self.metrics[name].labels
            else:
                return None
            return None if found is None else found | matched
        if isinstance(node, promql_parser.MatrixSelector):
            return self.labels_of(node.vector_selector)
        if isinstance(
            node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
        ):
            return self.labels_of(node.expr)
        if isinstance(node, promql_parser.Call):
            return self._call_labels(node)
        if isinstance(node, promql_parser.AggregateExpr):
            return self._aggregate_labels(node)
        if isinstance(node, promql_parser.BinaryExpr):
            return self._binary_labels(node)
        return None

    def _call_labels(self, node: Any) -> Labels:
        name = node.func.name
        args = list(node.args)
        if name in ("absent", "absent_over_time"):
            inner = (
                args[0].vector_selector
                if isinstance(args[0], promql_parser.MatrixSelector)
                else args[0]
            )
            if not isinstance(inner, promql_parser.VectorSelector):
                return frozenset()
            return frozenset(
                m.name
                for m in inner.matchers.matchers
                if m.name != "__name__" and m.op == promql_parser.MatchOp.Equal
            )
        if name == "vector":
            return frozenset()
        if name in ("label_replace", "label_join"):
            base = self.labels_of(args[0])
            target = args[1]
            if base is None or not isinstance(target, promql_parser.StringLiteral):
                return None
            return base | {str(target.val)}
        if name == "histogram_quantile":
            base = self.labels_of(args[1])
            return None if base is None else base - {"le"}
        vectors = [a for a in args if not is_scalar(a)]
        if not vectors:
            return frozenset()
        return self.labels_of(vectors[0])

    def _aggregate_labels(self, node: Any) -> Labels:
        op = _op(node)
        inner = self.labels_of(node.expr)
        modifier = node.modifier
        if op in KEEP_LABEL_AGGREGATIONS:
            return inner
        extra: frozenset[str] = frozenset()
        if op == "count_values" and isinstance(node.param, promql_parser.StringLiteral):
            extra = frozenset({str(node.param.val)})
        if modifier is None:
            return extra
        listed = frozenset(modifier.labels)
        if modifier.type == promql_parser.AggModifierType.By:
            return (listed if inner is None else listed & inner) | extra
        return None if inner is None else (inner - listed) | extra

    def _binary_labels(self, node: Any) -> Labels:
        op = _op(node)
        lhs_scalar, rhs_scalar = is_scalar(node.lhs), is_scalar(node.rhs)
        if lhs_scalar and rhs_scalar:
            return frozenset()
        if rhs_scalar:
            return self.labels_of(node.lhs)
        if lhs_scalar:
            return self.labels_of(node.rhs)
        lhs, rhs = self.labels_of(node.lhs), self.labels_of(node.rhs)
        if op in ("and", "unless"):
            return lhs
        if op == "or":
            return None if lhs is None or rhs is None else lhs | rhs
        modifier = node.modifier
        card = modifier.card if modifier else promql_parser.VectorMatchCardinality.OneToOne
        matching = modifier.matching if modifier else None
        group = frozenset(modifier.group_labels or ()) if modifier else frozenset()
        if card == promql_parser.VectorMatchCardinality.ManyToOne:
            return None if lhs is None else lhs | group
        if card == promql_parser.VectorMatchCardinality.OneToMany:
            return None if rhs is None else rhs | group
        if matching is None:
            return lhs
        listed = frozenset(matching.labels)
        if matching.type == promql_parser.LabelModifierType.Include:  # on (...)
            return listed if lhs is None else lhs & listed
        return None if lhs is None else lhs - listed

    def filters(self, node: Any) -> bool:
        """Whether ``node`` can return no series (a comparison, ``absent()``...)."""
        if isinstance(node, promql_parser.BinaryExpr):
            op = _op(node)
            if op in COMPARISONS:
                return not (node.modifier and node.modifier.return_bool)
            if op == "unless":
                return True
            if op == "or":
                return self.filters(node.lhs) and self.filters(node.rhs)
            return self.filters(node.lhs) or self.filters(node.rhs)
        if isinstance(
            node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
        ):
            return self.filters(node.expr)
        if isinstance(node, promql_parser.AggregateExpr):
            return self.filters(node.expr)
        if isinstance(node, promql_parser.Call):
            if node.func.name in ("absent", "absent_over_time"):
                return True
            return any(self.filters(a) for a in node.args)
        if isinstance(node, promql_parser.MatrixSelector):
            return self.filters(node.vector_selector)
        if isinstance(node, promql_parser.VectorSelector):
            name = _name(node)
            if name in self.records:
                if name not in self._filters:
                    self._filters[name] = False
                    tree = self._record_tree(name)
                    self._filters[name] = tree is not None and self.filters(tree)
                return self._filters[name]
        return False


@dataclass(frozen=True)
class Policy:
    """What the checks measure against."""

    scrape_seconds: float
    required_labels: frozenset[str]  # every alert must be able to carry these
    watchdog_alert: str = "Watchdog"  # routed by its name alone, never inhibited


def policy_from(routing: RoutingPolicy, scrape_interval: str) -> Policy:
    # alertname, severity and team are set by every generated rule itself.
    required = (SCRAPE_LABELS | set(routing.group_by) | set(routing.inhibit_equal)) - {
        "alertname",
        "severity",
        "team",
    }
    return Policy(duration_seconds(scrape_interval), frozenset(required), routing.watchdog_alert)


def _fmt(seconds: float) -> str:
    return str(promql_parser.display_duration(timedelta(seconds=seconds))) if seconds else "0s"


def lint_rules(
    rules: Sequence[Rule], metrics: Mapping[str, Metric], policy: Policy
) -> list[Finding]:
    """Every finding in ``rules`` (all files together: recording rules resolve across them)."""
    records = {r.name: r for r in rules if r.kind == "record"}
    analyser = Analyser(metrics, records)
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(_lint_rule(rule, analyser, metrics, policy))
    findings.extend(_duplicates(rules))
    return findings


def _duplicates(rules: Sequence[Rule]) -> Iterable[Finding]:
    # One name with different static labels is several series (each SLO records its
    # ``slo:...`` rules under its own ``slo`` label): a duplicate shares the labels too.
    def record_key(rule: Rule) -> tuple[str, tuple[tuple[str, str], ...]]:
        return rule.name, tuple(sorted(rule.labels.items()))

    records = Counter(record_key(r) for r in rules if r.kind == "record")
    reported: set[str] = set()
    for rule in rules:
        count = records[record_key(rule)] if rule.kind == "record" else 0
        if count > 1 and rule.name not in reported:
            reported.add(rule.name)
            yield Finding(rule, "duplicate", f"recorded {count} times")
    alerts = Counter(
        (r.name, " ".join(r.expr.split()), tuple(sorted(r.labels.items())))
        for r in rules
        if r.kind == "alert"
    )
    for rule in rules:
        key = (rule.name, " ".join(rule.expr.split()), tuple(sorted(rule.labels.items())))
        if rule.kind == "alert" and alerts[key] > 1 and key[0] not in reported:
            reported.add(key[0])
            yield Finding(rule, "duplicate", f"the same alerting rule appears {alerts[key]} times")


def _lint_rule(
    rule: Rule, analyser: Analyser, metrics: Mapping[str, Metric], policy: Policy
) -> Iterable[Finding]:
    try:
        tree = promql_parser.parse(rule.expr)
    except (ValueError, TypeError) as err:
        yield Finding(rule, "parse", f"PromQL does not parse: {err}")
        return
    floor = MIN_RANGE_SCRAPES * policy.scrape_seconds
    uses_absent = False
    for node, ancestors in walk(tree):
        if isinstance(node, promql_parser.Call):
            name = node.func.name
            uses_absent = uses_absent or name in ("absent", "absent_over_time")
            arg = node.args[0] if node.args else None
            if name in RATE_FUNCTIONS and isinstance(arg, promql_parser.MatrixSelector):
                metric = _name(arg.vector_selector)
                if metric in metrics and metrics[metric].type != "counter":
                    yield Finding(
                        rule,
                        "rate-type",
                        f"{name}() over {metric}, declared as a {metrics[metric].type}: use "
                        "deriv() or delta() for a gauge",
                    )
        if isinstance(node, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
            span = node.range.total_seconds() if node.range is not None else floor
            if span < floor:
                yield Finding(
                    rule,
                    "range",
                    f"range [{_fmt(span)}] is shorter than {MIN_RANGE_SCRAPES} scrape intervals "
                    f"({_fmt(floor)})",
                )
        if isinstance(node, promql_parser.VectorSelector):
            metric = _name(node)
            if (
                metric in metrics
                and metrics[metric].type == "counter"
                and not (_counter_ok(ancestors))
            ):
                yield Finding(
                    rule,
                    "counter-raw",
                    f"counter {metric} is used without rate(), increase() or irate(): its "
                    "value only grows and resets on restart",
                )
        if isinstance(node, promql_parser.AggregateExpr) and _op(node) in RATIO_AGGREGATIONS:
            division = _division(node.expr)
            if division is not None:
                yield Finding(
                    rule,
                    "aggregate-division",
                    f"{_op(node)}() over a division ({division}): it adds ratios; "
                    "aggregate the numerator and the denominator, then divide",
                )
    if rule.kind != "alert":
        return
    yield from _lint_alert(rule, tree, analyser, policy, uses_absent)


def _lint_alert(
    rule: Rule, tree: Any, analyser: Analyser, policy: Policy, uses_absent: bool
) -> Iterable[Finding]:
    watchdog = (
        isinstance(tree, promql_parser.Call)
        and tree.func.name == "vector"
        and isinstance(tree.args[0], promql_parser.NumberLiteral)
    )
    if not watchdog and not analyser.filters(tree):
        yield Finding(
            rule,
            "comparison",
            "the expression has no comparison (nor absent()), so the alert always fires",
        )
    absent_floor = MIN_ABSENT_FOR_SCRAPES * policy.scrape_seconds
    if uses_absent and rule.for_seconds < absent_floor:
        yield Finding(
            rule,
            "absent-for",
            f"absent() with for {_fmt(rule.for_seconds)}, under {MIN_ABSENT_FOR_SCRAPES} scrape "
            f"intervals ({_fmt(absent_floor)}): one late scrape fires it",
        )
    produced = analyser.labels_of(tree)
    if produced is None:
        return
    for field_name, text in sorted({**rule.labels, **rule.annotations}.items()):
        used = set(_TEMPLATE_LABEL.findall(text)) | set(_TEMPLATE_INDEX.findall(text))
        for label in sorted(used - produced):
            yield Finding(
                rule,
                "template-label",
                f"{field_name} uses $labels.{label}, which the expression cannot produce "
                f"(it can carry: {', '.join(sorted(produced)) or 'no labels'})",
            )
    if rule.name == policy.watchdog_alert:
        return
    for label in sorted(policy.required_labels - produced - set(rule.labels)):
        yield Finding(
            rule,
            "routing-label",
            f"the expression drops {label!r}, which routing or inhibition relies on: keep it "
            "in by (...)/on (...), or set it as a static label",
        )


def _counter_ok(ancestors: Ancestors) -> bool:
    if (
        len(ancestors) >= 2
        and isinstance(ancestors[-1][0], promql_parser.MatrixSelector)
        and isinstance(ancestors[-2][0], promql_parser.Call)
        and ancestors[-2][0].func.name in COUNTER_FUNCTIONS
    ):
        return True
    for parent, role in ancestors:
        if isinstance(parent, promql_parser.Call) and parent.func.name in PRESENCE_FUNCTIONS:
            return True
        if isinstance(parent, promql_parser.AggregateExpr) and _op(parent) in (
            PRESENCE_AGGREGATIONS
        ):
            return True
        if (
            isinstance(parent, promql_parser.BinaryExpr)
            and _op(parent) in ("and", "unless")
            and role == "rhs"
        ):
            return True
    return False


def _division(node: Any) -> str | None:
    """A vector/vector division inside an aggregation's argument (not inside a nested
    aggregation, which is checked on its own), as text."""
    for child, ancestors in walk(node):
        if any(isinstance(p, promql_parser.AggregateExpr) for p, _ in ancestors):
            continue
        if (
            isinstance(child, promql_parser.BinaryExpr)
            and _op(child) == "/"
            and not is_scalar(child.lhs)
            and not is_scalar(child.rhs)
        ):
            return str(child)
    return None


def read_rules(directory: Path) -> tuple[list[Rule], list[str]]:
    """Every rule under ``directory/*.rules.yml``, and the files that could not be read."""
    from generator.parseback import load_yaml

    rules: list[Rule] = []
    broken: list[str] = []
    for path in sorted(directory.glob("*.rules.yml")):
        shown = f"{directory.name}/{path.name}"
        try:
            rules.extend(rules_from_document(shown, load_yaml(path.read_text())))
        except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError) as err:
            broken.append(f"{shown}: cannot be read: {err}")
    return rules, broken


def main(argv: Sequence[str] | None = None) -> int:
    from generator.routing import POLICY
    from generator.settings import SettingsError, load_settings

    parser = argparse.ArgumentParser(prog="python -m generator.rulelint", description=__doc__)
    parser.add_argument("--rules", type=Path, default=REPO_ROOT / "rules")
    parser.add_argument("--settings", type=Path, help="generator settings YAML")
    parser.add_argument("--set", dest="pairs", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.settings, args.pairs)
    except SettingsError as err:
        print(f"rulelint: {err}", file=sys.stderr)
        return 2
    rules, broken = read_rules(args.rules)
    for problem in broken:
        print(problem)
    if not rules:
        print(f"{args.rules}: no rules found")
        return 1
    findings = lint_rules(rules, declared_metrics(), policy_from(POLICY, settings.scrape_interval))
    for finding in findings:
        print(finding)
    failed = bool(findings or broken)
    print(f"rulelint: {len(rules)} rules, {len(findings)} findings, {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
