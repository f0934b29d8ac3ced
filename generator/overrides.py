"""A team's overrides laid over the catalogue, without editing it: ``--overrides FILE``
(YAML) and ``--set`` for single values.

    labels: {env: prod}                  # added to every alerting rule
    annotations: {owner_doc: https://wiki.example/oncall}
    areas:
      training: {enabled: false}         # the whole area is left out
      system:
        selectors: {mountpoint: "!~/boot.*"}   # what the area watches
    alerts:
      PostgresConnectionsHigh:
        team: engineering
        labels: {service: billing}       # added to this alert's rules
        annotations: {note: "the pool is sized for 80 %"}
        levels:
          critical: {threshold: 0.95, for: 10m}
          warning: {severity: info}
        targets:                         # per-target thresholds, first match wins
          - match: {instance: "db1:9187|db2:9187"}
            levels: {critical: {threshold: 0.98}}
      SystemSwapHigh: {enabled: false}

``--set`` takes the same tree with shorter paths: ``alert.NAME.enabled=false``,
``alert.NAME.team=ops``, ``alert.NAME.LEVEL.threshold=95`` (also ``for``, ``severity``),
``alert.NAME.label.KEY=VALUE``, ``alert.NAME.annotation.KEY=VALUE``,
``area.NAME.enabled=false``, ``label.KEY=VALUE``, ``annotation.KEY=VALUE``; the value is
read as YAML (``95``, ``false``, ``10m``).

Everything is checked before anything is rendered: an unknown key, alert, area or level,
a value of the wrong type, levels out of order, a match on a label the alert does not
carry: :class:`OverrideError` names the file and line (or the ``--set`` pair) of each.

A per-target threshold renders one rule per level for the targets it matches and keeps
the catalogue's rule for the rest, with the matched targets excluded. The exclusion is
made on the expression's inputs, not on its text: every selector of the condition
(signal and guard) gets the negated matcher (:func:`with_matchers`, on the PromQL syntax
tree), and a target's rule is its condition ``unless`` that negated condition
(:func:`split_conditions`), so the two rules split the alerts exactly where the matched
labels survive to the alert (an aggregation that keeps ``instance``, a ratio of
recording rules joined on it, a guard joined ``or on (...)``). A match on a label the
alert does not carry is refused: it could not split anything.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from generator.model import (
    Area,
    Catalogue,
    Level,
    Panel,
    RoutingPolicy,
    Severity,
    TargetThreshold,
    Team,
    TestSeries,
    Threshold,
    _number,
)
from generator.settings import duration_seconds
from generator.validate import eval_plan, trips

Path_ = tuple[str | int, ...]


class OverrideError(ValueError):
    """Overrides that cannot be applied; the message names each bad line."""


@dataclass(frozen=True)
class Overrides:
    """The parsed tree and where each of its nodes came from."""

    data: dict[str, Any]
    lines: dict[Path_, str]

    def where(self, path: Path_) -> str:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, "overrides")


# -- reading -------------------------------------------------------------------------------


def _build(node: Node, path: Path_, lines: dict[Path_, str], origin: str) -> Any:
    lines[path] = f"{origin}:{node.start_mark.line + 1}"
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise OverrideError(f"{origin}:{key_node.start_mark.line + 1}: a key must be text")
            key = str(key_node.value)
            if key in out:
                raise OverrideError(
                    f"{origin}:{key_node.start_mark.line + 1}: {key!r} is given twice"
                )
            out[key] = _build(value_node, (*path, key), lines, origin)
            lines[(*path, key)] = f"{origin}:{key_node.start_mark.line + 1}"
        return out
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), lines, origin) for i, item in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node)


def read_overrides(file: str | Path | None = None, pairs: Iterable[str] = ()) -> Overrides:
    """The overrides file (YAML) and ``--set`` pairs laid over it, with their lines."""
    data: dict[str, Any] = {}
    lines: dict[Path_, str] = {}
    if file is not None:
        origin = str(file)
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise OverrideError(f"cannot read overrides file {file}: {err}") from err
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise OverrideError(f"{origin}{at}: not YAML: {problem}") from err
        if node is not None:
            if not isinstance(node, MappingNode):
                raise OverrideError(f"{origin}:{node.start_mark.line + 1}: expected a mapping")
            try:
                data = _build(node, (), lines, origin)
            except (yaml.YAMLError, RecursionError) as err:
                mark = getattr(err, "problem_mark", None) or node.start_mark
                raise OverrideError(f"{origin}:{mark.line + 1}: cannot be read: "
                                    f"{getattr(err, 'problem', None) or err}") from err
    problems = []
    for pair in pairs:
        try:
            path, value = _set_path(pair)
        except OverrideError as err:
            problems.append(str(err))
            continue
        cursor = data
        for step in path[:-1]:
            existing = cursor.setdefault(step, {})
            if not isinstance(existing, dict):
                existing = cursor[step] = {}
            cursor = existing
        cursor[path[-1]] = value
        for end in range(1, len(path)):
            lines.setdefault(path[:end], f"--set {pair!r}")
        lines[path] = f"--set {pair!r}"
    if problems:
        raise OverrideError("bad overrides:\n  " + "\n  ".join(problems))
    return Overrides(data, lines)


_LEVEL_KEYS = {"threshold", "for", "severity"}
# The first word of a ``--set`` key that makes it an override rather than a setting.
OVERRIDE_HEADS = frozenset({"alert", "area", "label", "annotation"})


def _set_path(pair: str) -> tuple[tuple[str, ...], Any]:
    key, sep, text = pair.partition("=")
    parts = tuple(key.strip().split("."))
    if not sep or not all(parts):
        raise OverrideError(f"--set {pair!r}: expected key=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as err:
        raise OverrideError(f"--set {pair!r}: the value is not YAML: {err}") from err
    head = parts[0]
    if head in {"label", "annotation"} and len(parts) == 2:
        return (f"{head}s", parts[1]), value
    if head == "area" and len(parts) == 3:
        return ("areas", parts[1], parts[2]), value
    if head == "alert" and len(parts) >= 3:
        name, rest = parts[1], parts[2:]
        if len(rest) == 1:
            return ("alerts", name, rest[0]), value
        if len(rest) == 2 and rest[0] in {"label", "annotation"}:
            return ("alerts", name, f"{rest[0]}s", rest[1]), value
        if len(rest) == 2:
            return ("alerts", name, "levels", rest[0], rest[1]), value
    raise OverrideError(
        f"--set {pair!r}: expected alert.NAME.LEVEL.threshold|for|severity, alert.NAME."
        "enabled|team, alert.NAME.label|annotation.KEY, area.NAME.enabled, label.KEY or "
        "annotation.KEY"
    )


# -- checking and applying -----------------------------------------------------------------

_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOP_KEYS = {"labels", "annotations", "areas", "alerts"}
_ALERT_KEYS = {"enabled", "team", "labels", "annotations", "levels", "targets"}
_AREA_KEYS = {"enabled", "selectors"}
_OWN_ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}
_MATCH = re.compile(r"^(=~|!~|!=|=)?(.*)$", re.S)


class _Problems:
    def __init__(self, overrides: Overrides, routing: RoutingPolicy | None = None) -> None:
        self.overrides = overrides
        self.routing = routing
        self.found: list[str] = []

    def add(self, path: Path_, what: str) -> None:
        self.found.append(f"{self.overrides.where(path)}: {what}")


def _mapping(p: _Problems, value: Any, path: Path_, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.add(path, f"{what}: expected a mapping, got {type(value).__name__}")
        return {}
    return value


def _unknown(p: _Problems, data: Mapping[str, Any], known: set[str], path: Path_) -> None:
    for key in data:
        if key not in known:
            p.add((*path, key), f"unknown key {key!r} (known: {', '.join(sorted(known))})")


def _labels(p: _Problems, value: Any, path: Path_, kind: str) -> tuple[tuple[str, str], ...]:
    out = {}
    for name, text in _mapping(p, value, path, kind).items():
        if kind == "labels" and (not _LABEL.fullmatch(name) or name.startswith("__")):
            p.add((*path, name), f"{name!r} is not a label name")
        elif kind == "labels" and name in {"severity", "team", "alertname", "category"}:
            p.add((*path, name), f"label {name!r} is set by the generator; override it instead")
        elif kind == "annotations" and name in _OWN_ANNOTATIONS:
            p.add((*path, name), f"annotation {name!r} comes from the catalogue entry")
        elif isinstance(text, bool) or not isinstance(text, str | int | float):
            p.add((*path, name), f"{kind[:-1]} {name}: expected text, got {type(text).__name__}")
        else:
            out[name] = str(text)
    return tuple(sorted(out.items()))


def _not_carried(
    p: _Problems,
    labels: tuple[tuple[str, str], ...],
    path: Path_,
    thresholds: Iterable[tuple[Any, Threshold]],
) -> tuple[tuple[str, str], ...]:
    """Refuse a rule label that an alert's series carry: it would overwrite theirs."""
    carried: dict[str, str] = {}
    for _, t in thresholds:
        for level in t.levels:
            for name, _ in level.test.labels:
                carried.setdefault(name, t.name)
    for name, _ in labels:
        if name in carried:
            p.add((*path, name), f"label {name!r} is on {carried[name]}'s series: a rule "
                  "label would overwrite it")
    return labels


def _enabled(p: _Problems, data: Mapping[str, Any], path: Path_) -> bool:
    value = data.get("enabled", True)
    if not isinstance(value, bool):
        p.add((*path, "enabled"), f"enabled: expected true or false, got {value!r}")
        return True
    return value


def _levels(
    p: _Problems, threshold: Threshold, levels: tuple[Level, ...], value: Any, path: Path_
) -> tuple[Level, ...]:
    """``levels`` with the overrides under ``path`` applied."""
    by_name = {level.severity.value: level for level in levels}
    out = dict(by_name)
    for name, change in _mapping(p, value, path, "levels").items():
        where = (*path, name)
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            p.add(where, f"{threshold.name} has no {name!r} level (it has: {known})")
            continue
        change = _mapping(p, change, where, name)
        _unknown(p, change, _LEVEL_KEYS, where)
        level = by_name[name]
        if "threshold" in change:
            number = change["threshold"]
            if isinstance(number, bool) or not isinstance(number, int | float):
                p.add((*where, "threshold"), f"threshold: expected a number, got {number!r}")
            else:
                level = dataclasses.replace(level, value=float(number))
        if "for" in change:
            text = change["for"]
            try:
                if not isinstance(text, str):
                    raise ValueError(f"expected a duration like 5m, got {text!r}")
                seconds = duration_seconds(text)
                if seconds != int(seconds):
                    raise ValueError(f"whole seconds only, got {text!r}")
                if seconds == 0 and not threshold.single_event:
                    raise ValueError(
                        f"{threshold.name} must hold its condition a while before it fires "
                        "(the alerting policy: only an alert whose one occurrence is the "
                        "incident fires at once)"
                    )
                if seconds > 86_400:
                    raise ValueError(f"at most a day, got {text!r}")
                level = dataclasses.replace(level, for_seconds=int(seconds))
            except ValueError as err:
                p.add((*where, "for"), f"for: {err}")
        if "severity" in change:
            text = change["severity"]
            if text not in {s.value for s in Severity}:
                known = ", ".join(s.value for s in Severity)
                p.add((*where, "severity"), f"severity: expected one of {known}, got {text!r}")
            elif text == Severity.CRITICAL.value and threshold.category is None:
                p.add((*where, "severity"), f"{threshold.name} cannot page: the catalogue "
                      "gives it no incident category (critical alerts escalate by it)")
            else:
                level = dataclasses.replace(level, severity=Severity(text))
                level = _cooldown_for(level, p.routing)
        if level != by_name[name]:
            before = by_name[name]
            looser = (
                level.value < before.value
                if threshold.op in (">", ">=")
                else level.value > before.value
            )
            test = level.test
            if looser and test.quiet_value is None:
                # What the quiet series measure is not known: they may trip a looser level.
                test = dataclasses.replace(test, quiet=())
            level = dataclasses.replace(level, test=test, override=p.overrides.where(where))
        out[name] = level
    result = tuple(out[level.severity.value] for level in levels)
    _ordering(p, threshold, result, path)
    if result != levels:
        _boundaries(p, threshold, result, path)
    return result


def _cooldown_for(level: Level, routing: RoutingPolicy | None) -> Level:
    """A level moved to another severity repeats as that severity's routing allows: an info
    level once per digest, others on a whole number of their group_interval ticks."""
    policy = {sp.severity: sp for sp in routing.severities}.get(level.severity) if routing else None
    if policy is None or policy.group_interval_seconds <= 0:
        return level
    tick = policy.group_interval_seconds
    cooldown = tick if policy.digest else max(tick, -(-level.cooldown_seconds // tick) * tick)
    return dataclasses.replace(level, cooldown_seconds=cooldown)


def _boundaries(
    p: _Problems, threshold: Threshold, levels: Sequence[Level], path: Path_
) -> None:
    """Refuse ``for`` values that make a generated test look exactly where another level
    starts firing (promtool versions differ there), as the tests' planner would."""
    for level in levels:
        test = level.test
        step = test.interval_seconds
        plan = eval_plan(test, level.for_seconds)
        looks = {plan.fire - plan.start} | (
            {plan.before - plan.start} if plan.before is not None else set()
        )
        for other in levels:
            hold = -(-other.for_seconds // step) * step
            if hold > 0 and hold in looks and trips(test.value, threshold.op, other.value):
                p.add(path, f"{threshold.name}: the {other.severity} for "
                      f"({other.for_seconds}s) ends exactly when the {level.severity} test "
                      "looks; give the levels' for values a gap of at least two intervals")
                return


def _ordering(p: _Problems, threshold: Threshold, levels: Sequence[Level], path: Path_) -> None:
    ranked = sorted(levels, key=lambda lv: lv.severity.rank)
    if len({lv.severity for lv in ranked}) != len(ranked):
        p.add(path, f"{threshold.name}: two levels with the same severity")
        return
    for lower, higher in itertools.pairwise(ranked):
        up = threshold.op in (">", ">=")
        if (lower.value >= higher.value) if up else (lower.value <= higher.value):
            word = "below" if up else "above"
            p.add(
                path,
                f"{threshold.name}: {lower.severity} ({_number(lower.value)}) must stay {word} "
                f"{higher.severity} ({_number(higher.value)}) for {threshold.op!r}",
            )


def _promql_accepts(label: str, op: str, pattern: str) -> bool:
    matcher = promql_parser.Matcher(_OPS[op], label, pattern)
    if '"' in pattern or "\\" in pattern:
        return False
    try:
        promql_parser.parse(f"x{{{matcher}}}")
    except ValueError:
        return False
    return True


def aggregated_away(expr: str, label: str) -> str | None:
    """The first aggregation of ``expr`` that does not keep ``label`` (so each series'
    value depends on other targets: a count of peers, a share of a job), or None."""
    found: list[str] = []

    def visit(node: object) -> None:
        if found or not isinstance(node, promql_parser.AggregateExpr):
            return
        modifier = node.modifier
        if modifier is None:
            found.append(str(node))
        elif modifier.type == promql_parser.AggModifierType.By:
            if label not in modifier.labels:
                found.append(str(node))
        elif label in modifier.labels:
            found.append(str(node))

    try:
        promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    except ValueError:
        return None
    return found[0] if found else None


def _target_value(label: str, op: str, value: str) -> str | None:
    """A label value the matcher accepts (for the generated tests), or None."""
    if op == "=":
        return value
    if op in ("!=", "!~"):
        return "promfleet-override-test"
    for candidate in (value.split("|")[0].replace("\\", ""), value.replace(".*", "x")):
        try:
            if re.fullmatch(value, candidate):
                return candidate
        except re.error:
            return None
    return None


def _matchers(
    p: _Problems,
    value: Any,
    path: Path_,
    threshold: Threshold | None,
    carried: set[str] | None = None,
) -> tuple[tuple[str, str, str], ...]:
    """``{label: "[op]value"}`` as (label, op, value); op ``=~`` unless given."""
    matchers = []
    for label, text in _mapping(p, value, path, "match").items():
        at = (*path, label)
        if not _LABEL.fullmatch(label):
            p.add(at, f"{label!r} is not a label name")
            continue
        if not isinstance(text, str):
            p.add(at, f"{label}: expected text such as \"db1:9100|db2:9100\" or "
                  f"\"!~db.*\", got {text!r}")
            continue
        op, pattern = _MATCH.match(text).groups()  # type: ignore[union-attr]
        op = op or "=~"
        if threshold is not None and carried is not None and label not in carried:
            p.add(at, f"{threshold.name}'s alerts do not carry {label!r} (they carry "
                  f"{', '.join(sorted(carried))}): a threshold per {label} cannot split them")
            continue
        away = None if threshold is None else aggregated_away(threshold.signal, label)
        if away is not None and threshold is not None:
            p.add(at, f"{threshold.name}'s condition aggregates {label!r} away ({away}): "
                  f"each {label}'s value depends on the others, so a threshold per {label} "
                  "cannot split it")
            continue
        try:
            re.compile(pattern)
        except re.error as err:
            p.add(at, f"{label}: bad regular expression {pattern!r}: {err}")
            continue
        if not _promql_accepts(label, op, pattern):
            p.add(at, f"{label}: {pattern!r} is not a value Prometheus' selectors take (RE2 "
                  "has no look-arounds or back-references; no quotes or backslashes here)")
            continue
        if _target_value(label, op, pattern) is None:
            p.add(at, f"{label}: give a value or alternatives (a|b) the tests can use")
            continue
        matchers.append((label, op, pattern))
    return tuple(matchers)


def _targets(
    p: _Problems, threshold: Threshold, value: Any, path: Path_
) -> tuple[TargetThreshold, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        p.add(path, "targets: expected a list of {match: ..., levels: ...}")
        return ()
    carried: set[str] = set()
    for level in threshold.levels:
        carried.update(name for name, _ in level.test.labels)
    out = []
    for i, item in enumerate(value):
        where = (*path, i)
        item = _mapping(p, item, where, "target")
        _unknown(p, item, {"match", "levels"}, where)
        matchers = _matchers(p, item.get("match"), (*where, "match"), threshold, carried)
        if not matchers and "match" not in item:
            p.add(where, "target: needs match: {label: value}")
        if "levels" not in item:
            p.add(where, "target: needs levels: {critical: {threshold: ...}}")
        levels = _levels(p, threshold, threshold.levels, item.get("levels"), (*where, "levels"))
        if matchers:
            out.append(TargetThreshold(tuple(matchers), levels, p.overrides.where(where)))
    return tuple(out)


def apply(catalogue: Catalogue, overrides: Overrides) -> Catalogue:
    """``catalogue`` with ``overrides`` laid over it; :class:`OverrideError` names each
    bad line and nothing else happens."""
    p = _Problems(overrides, catalogue.routing)
    data = overrides.data
    _unknown(p, data, _TOP_KEYS, ())
    common_labels = _labels(p, data.get("labels"), ("labels",), "labels")
    _not_carried(p, common_labels, ("labels",), catalogue.thresholds())
    common_notes = _labels(p, data.get("annotations"), ("annotations",), "annotations")
    areas = {area.name: area for area in catalogue.areas}
    alerts = {t.name: (area.name, t) for area, t in catalogue.thresholds()}
    protected = {catalogue.routing.watchdog_alert, catalogue.routing.target_down_alert}
    off_areas = set()
    selected: dict[str, tuple[tuple[str, str, str], ...]] = {}
    for name, change in _mapping(p, data.get("areas"), ("areas",), "areas").items():
        where = ("areas", name)
        if name not in areas:
            p.add(where, f"unknown area {name!r} (known: {', '.join(sorted(areas))})")
            continue
        change = _mapping(p, change, where, name)
        _unknown(p, change, _AREA_KEYS, where)
        if not _enabled(p, change, where):
            kept = sorted(t.name for t in areas[name].thresholds if t.name in protected)
            if kept:
                p.add((*where, "enabled"), f"area {name} holds {', '.join(kept)}, which the "
                      "routing needs (the dead man's switch, the target-down inhibition)")
            off_areas.add(name)
        if "selectors" in change:
            found = _matchers(p, change["selectors"], (*where, "selectors"), None)
            if found:
                selected[name] = found
    # Selectors first: the alerts' overrides are laid over the selected areas.
    chosen = tuple(
        select(area, selected[area.name]) if area.name in selected else area
        for area in catalogue.areas
    )
    alerts = {t.name: (area.name, t) for area in chosen for t in area.thresholds}
    replaced: dict[str, Threshold | None] = {}
    for name, change in _mapping(p, data.get("alerts"), ("alerts",), "alerts").items():
        where = ("alerts", name)
        if name not in alerts:
            p.add(where, f"unknown alert {name!r}{_close(name, alerts)}")
            continue
        threshold = alerts[name][1]
        change = _mapping(p, change, where, name)
        _unknown(p, change, _ALERT_KEYS, where)
        if not _enabled(p, change, where):
            if name in protected:
                p.add((*where, "enabled"), f"{name} cannot be turned off: the routing needs it")
            replaced[name] = None
            continue
        if "team" in change:
            team = change["team"]
            if team not in {t.value for t in Team}:
                known = ", ".join(t.value for t in Team)
                p.add((*where, "team"), f"team: expected one of {known}, got {team!r}")
            else:
                threshold = dataclasses.replace(threshold, team=Team(team))
        levels = _levels(p, threshold, threshold.levels, change.get("levels"), (*where, "levels"))
        threshold = dataclasses.replace(
            threshold,
            levels=levels,
            extra_labels=_not_carried(
                p,
                _labels(p, change.get("labels"), (*where, "labels"), "labels"),
                (*where, "labels"),
                (("", threshold),),
            ),
            extra_annotations=_labels(
                p, change.get("annotations"), (*where, "annotations"), "annotations"
            ),
        )
        threshold = dataclasses.replace(
            threshold, targets=_targets(p, threshold, change.get("targets"), (*where, "targets"))
        )
        replaced[name] = threshold
    if p.found:
        raise OverrideError("bad overrides:\n  " + "\n  ".join(p.found))
    new_areas = []
    for area in chosen:
        if area.name in off_areas:
            continue
        thresholds = []
        for t in area.thresholds:
            t2 = replaced.get(t.name, t)
            if t2 is None:
                continue
            if common_labels or common_notes:
                labels = dict(common_labels) | dict(t2.extra_labels)
                t2 = dataclasses.replace(
                    t2,
                    extra_labels=tuple(sorted(labels.items())),
                    extra_annotations=tuple(
                        sorted((dict(common_notes) | dict(t2.extra_annotations)).items())
                    ),
                )
            thresholds.append(t2)
        new_areas.append(dataclasses.replace(area, thresholds=tuple(thresholds)))
    return dataclasses.replace(catalogue, areas=tuple(new_areas))


def _close(name: str, known: Mapping[str, Any]) -> str:
    near = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def is_empty(overrides: Overrides) -> bool:
    return not overrides.data


def overlay(catalogue: Catalogue, file: str | Path | None, pairs: Iterable[str]) -> Catalogue:
    """``catalogue`` with the overrides of ``file`` and ``pairs``; unchanged when none."""
    overrides = read_overrides(file, pairs)
    if is_empty(overrides):
        return catalogue
    return apply(catalogue, overrides)


# -- rendering per-target thresholds --------------------------------------------------------

_OPS = {
    "=": promql_parser.MatchOp.Equal,
    "!=": promql_parser.MatchOp.NotEqual,
    "=~": promql_parser.MatchOp.Re,
    "!~": promql_parser.MatchOp.NotRe,
}
_NEGATE = {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}


def _printed(tree: promql_parser.Expr) -> str:
    """PromQL text of ``tree``, without the empty ``{}`` the printer puts after a bare
    metric name and the doubled spaces it leaves (tidied outside string literals only,
    and kept unless the text parses back to the same tree)."""
    text = str(tree)
    out, quote, i = [], "", 0
    while i < len(text):
        char = text[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
            out.append(char)
        elif text.startswith("{}", i):
            i += 1
        elif char == " " and out and out[-1] == " ":
            pass  # the printer doubles some spaces
        else:
            out.append(char)
        i += 1
    tidy = "".join(out)
    try:
        same = str(promql_parser.parse(tidy)) == text
    except ValueError:
        same = False
    return tidy if same else text


def with_matchers(
    expr: str,
    matchers: Sequence[tuple[str, str, str]],
    carries: Callable[[str | None, str], bool] | None = None,
) -> str:
    """``expr`` with ``matchers`` added to every vector and range selector (on the syntax
    tree); with ``carries(metric, label)``, a matcher only to the selectors whose metric
    carries its label."""

    def visit(node: object) -> promql_parser.Expr | None:
        # A range selector's vector selector is visited too; a replacement node is parsed
        # from the changed selector (the nodes handed over are copies).
        if not isinstance(node, promql_parser.VectorSelector):
            return None
        extra = [
            promql_parser.Matcher(_OPS[op], label, value)
            for label, op, value in matchers
            if carries is None or carries(node.name, label)
        ]
        if not extra:
            return None
        changed.append(node.name)
        node.matchers = promql_parser.Matchers([*node.matchers.matchers, *extra])
        return promql_parser.parse(str(node))

    changed: list[str | None] = []
    out = _printed(promql_parser.transform(promql_parser.parse(expr), post_visit=visit))
    return out if changed else expr


def _outside(condition: str, target: TargetThreshold) -> str:
    """The alerts of ``condition`` for targets that ``target`` does not match: the whole
    condition (signal and guard) with the negated matcher on every selector; several
    matchers (all must hold to match) give a union, one negation each."""
    parts = [with_matchers(condition, [(label, _NEGATE[op], value)])
             for label, op, value in target.matchers]
    return parts[0] if len(parts) == 1 else " or ".join(f"({part})" for part in parts)


def split_conditions(threshold: Threshold, level: Level) -> list[tuple[str, Level]]:
    """The ``expr`` of each rule a level renders to, with the level it uses: the default
    (every target excluded) first, then one per target (first match wins).

    Each is the condition (signal and guard together) filtered on its inputs, never on
    its text: the default is the condition with each target's negated matchers on every
    selector (one target of one matcher: just that); a target's rule is its condition
    ``unless`` the same condition with the target's matchers negated, so it keeps what
    the target matches, ``and`` the earlier targets' negations. Both sides of each set
    operation come from the same expression, so they line up series for series; the
    matched labels are ones the alert carries (:func:`apply` refuses others), so a
    target's series are exactly the ones the negation removes.
    """
    if not threshold.targets:
        return [(threshold.condition(level), level)]
    condition = threshold.condition(level)
    if all(len(t.matchers) == 1 for t in threshold.targets):
        negated = [(label, _NEGATE[op], value) for t in threshold.targets
                   for label, op, value in t.matchers]
        default = with_matchers(condition, negated)
    else:
        default = " and ".join(f"({_outside(condition, t)})" for t in threshold.targets)
    rules = [(default, level)]
    for i, target in enumerate(threshold.targets):
        own = next(lv for lv in target.levels if lv.severity == level.severity)
        mine = threshold.condition(own)
        expr = f"({mine}) unless ({_outside(mine, target)})" + "".join(
            f" and ({_outside(mine, earlier)})" for earlier in threshold.targets[:i]
        )
        rules.append((expr, own))
    return rules


def target_labels(
    target: TargetThreshold, labels: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """``labels`` (a test's) moved into ``target``: each matched label given a value the
    matcher accepts."""
    out = dict(labels)
    for label, op, value in target.matchers:
        if label in out and not _accepts(op, value, out[label]):
            out[label] = _target_value(label, op, value) or out[label]
    return out


def _accepts(op: str, pattern: str, value: str) -> bool:
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    hit = re.fullmatch(pattern, value) is not None
    return hit if op == "=~" else not hit


def matches(target: TargetThreshold, labels: Mapping[str, str]) -> bool:
    return all(_accepts(op, value, labels.get(label, "")) for label, op, value in target.matchers)


def relabel_series(series: str, labels: Mapping[str, str]) -> str:
    """A test series ``metric{...}`` with the labels in ``labels`` it carries set to them."""
    tree = promql_parser.parse(series)
    assert isinstance(tree, promql_parser.VectorSelector)
    new = []
    for m in tree.matchers.matchers:
        value = labels.get(m.name, m.value) if m.name in labels else m.value
        new.append(promql_parser.Matcher(m.op, m.name, value))
    tree.matchers = promql_parser.Matchers(new)
    return str(tree)


__all__ = [
    "OverrideError",
    "Overrides",
    "TargetThreshold",
    "apply",
    "overlay",
    "read_overrides",
    "split_conditions",
    "with_matchers",
]



# -- a cluster label kept through every aggregation and match -------------------------------

def _group(card: object) -> str:
    if card == promql_parser.VectorMatchCardinality.ManyToOne:
        return "group_left"
    if card == promql_parser.VectorMatchCardinality.OneToMany:
        return "group_right"
    return ""


def _labels_text(labels: Iterable[str]) -> str:
    return "(" + ", ".join(labels) + ")"


def with_cluster_routing(catalogue: Catalogue, label: str) -> Catalogue:
    """The routing policy with ``label`` in its ``group_by`` and inhibition ``equal``: an
    alert of one cluster neither groups with nor is muted by one of another."""
    routing = catalogue.routing
    return dataclasses.replace(
        catalogue,
        routing=dataclasses.replace(
            routing,
            group_by=(*routing.group_by, label),
            inhibit_equal=(*routing.inhibit_equal, label),
        ),
    )


def keep_label(expr: str, label: str) -> str:
    """``expr`` rewritten on its syntax tree so ``label`` survives every aggregation and
    vector match: added to each ``by (...)`` (an aggregation with no clause gets
    ``by (label)``) and each non-empty ``on (...)``, taken out of each ``without (...)``
    and ``ignoring (...)``. An empty ``on ()`` is left alone: it matches a single series
    (``absent()``, ``vector()``, a fleet-wide count) that has no such label to match."""

    def visit(node: object) -> promql_parser.Expr | None:
        if isinstance(node, promql_parser.AggregateExpr):
            modifier = node.modifier
            if modifier is None:
                clause = f"by ({label})"
            elif modifier.type == promql_parser.AggModifierType.By:
                if label in modifier.labels:
                    return None
                clause = f"by {_labels_text([*modifier.labels, label])}"
            else:
                if label not in modifier.labels:
                    return None
                clause = f"without {_labels_text(n for n in modifier.labels if n != label)}"
            param = f"{node.param}, " if node.param is not None else ""
            return promql_parser.parse(f"{node.op} {clause} ({param}{node.expr})")
        if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            bin_modifier = node.modifier
            matching = bin_modifier.matching
            if matching is None:
                return None
            names = list(matching.labels)
            if matching.type == promql_parser.LabelModifierType.Include:
                if not names or label in names:
                    return None
                match = f"on {_labels_text([*names, label])}"
            else:
                if label not in names:
                    return None
                match = f"ignoring {_labels_text(n for n in names if n != label)}"
            fill = bin_modifier.fill_values
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise ValueError(f"fill modifiers are not supported here: {expr}")
            bool_ = " bool" if bin_modifier.return_bool else ""
            group = _group(bin_modifier.card)
            if group:
                group = f" {group} {_labels_text(bin_modifier.group_labels or [])}"
            return promql_parser.parse(
                f"{node.lhs} {node.op}{bool_} {match}{group} {node.rhs}"
            )
        return None

    return _printed(promql_parser.transform(promql_parser.parse(expr), post_visit=visit))


# -- selectors per area ----------------------------------------------------------------------


def _carries() -> Callable[[str | None, str], bool]:
    """Whether an exporter declares ``metric`` with ``label`` (recording rules, whose
    names have colons, and series no exporter declares are left as they are)."""
    from generator.rulelint import declared_metrics

    declared = declared_metrics()

    def carries(metric: str | None, label: str) -> bool:
        return metric in declared and label in declared[metric].labels

    return carries


def _relabel(text: str, matchers: Sequence[tuple[str, str, str]]) -> str:
    """A test series or expected sample ``metric{...}`` whose labels the matchers would
    drop, moved to values they keep (so the generated tests still exercise the rules)."""
    try:
        tree = promql_parser.parse(text)
    except (ValueError, TypeError):
        return text
    if not isinstance(tree, promql_parser.VectorSelector):
        return text
    labels = {m.name: m.value for m in tree.matchers.matchers}
    moved = dict(labels)
    for label, op, value in matchers:
        if label in moved and not _accepts(op, value, moved[label]):
            moved[label] = _target_value(label, op, value) or moved[label]
    return text if moved == labels else relabel_series(text, moved)


def _moved_labels(
    labels: tuple[tuple[str, str], ...], matchers: Sequence[tuple[str, str, str]]
) -> tuple[tuple[str, str], ...]:
    out = dict(labels)
    for label, op, value in matchers:
        if label in out and not _accepts(op, value, out[label]):
            out[label] = _target_value(label, op, value) or out[label]
    return tuple((name, out[name]) for name, _ in labels)


def select(area: Area, matchers: Sequence[tuple[str, str, str]]) -> Area:
    """``area`` watching only what ``matchers`` select: each is merged into every selector
    of a metric that carries its label (recording rules, alerts, guards, panels), and the
    area's test series are moved to label values the matchers keep."""
    carries = _carries()

    def expr(text: str) -> str:
        return with_matchers(text, matchers, carries) if text else text

    def series(items: tuple[TestSeries, ...]) -> tuple[TestSeries, ...]:
        return tuple(dataclasses.replace(s, series=_relabel(s.series, matchers)) for s in items)

    def level(lv: Level) -> Level:
        test = dataclasses.replace(
            lv.test,
            firing=series(lv.test.firing),
            quiet=series(lv.test.quiet),
            labels=_moved_labels(lv.test.labels, matchers),
        )
        return dataclasses.replace(lv, test=test)

    def panel(pn: Panel) -> Panel:
        return dataclasses.replace(pn, expr=through_grafana_variables(pn.expr, expr))

    records = tuple(
        dataclasses.replace(
            rule,
            expr=expr(rule.expr),
            test_series=series(rule.test_series),
            test_expect=tuple((_relabel(text, matchers), v) for text, v in rule.test_expect),
        )
        for rule in area.recording_rules
    )
    thresholds = tuple(
        dataclasses.replace(
            t,
            signal=expr(t.signal),
            guard=_guard(t.guard, expr),
            panel=panel(t.panel),
            levels=tuple(level(lv) for lv in t.levels),
        )
        for t in area.thresholds
    )
    return dataclasses.replace(
        area,
        recording_rules=records,
        thresholds=thresholds,
        panels=tuple(panel(pn) for pn in area.panels),
    )


# Grafana's interval variables are no PromQL. A panel's query goes through the syntax tree
# with each replaced by a duration no panel writes, put back afterwards as it was printed.
_GRAFANA_INTERVALS = (("$__rate_interval", 86399), ("$__interval", 86398), ("$__range", 86397))


def _printed_duration(seconds: int) -> str:
    printed = _printed(promql_parser.parse(f"promfleet_stand_in[{seconds}s]"))
    return printed[printed.index("[") + 1:printed.rindex("]")]


def through_grafana_variables(text: str, rewrite: Callable[[str], str]) -> str:
    """``rewrite`` (a PromQL-to-PromQL change) applied to a panel query that may use
    ``$__rate_interval``, ``$__interval`` or ``$__range``; the variables come back."""
    if not text:
        return text
    swapped = text
    for variable, seconds in _GRAFANA_INTERVALS:
        swapped = re.sub(re.escape(variable) + r"(?!\w)", f"{seconds}s", swapped)
    out = rewrite(swapped)
    if out == swapped:
        return text
    for variable, seconds in _GRAFANA_INTERVALS:
        out = out.replace(f"[{_printed_duration(seconds)}]", f"[{variable}]")
        out = out.replace(f"[{_printed_duration(seconds)}:", f"[{variable}:")
    return out


def _guard(guard: str, expr: Callable[[str], str]) -> str:
    """A guard is a clause (``and on (instance) ...``): rewritten as the right-hand side
    of a stand-in expression, then cut back to the clause."""
    if not guard:
        return guard
    whole = expr(f"promfleet_guard_stand_in {guard}")
    for prefix in ("promfleet_guard_stand_in{} ", "promfleet_guard_stand_in "):
        if whole.startswith(prefix):
            return whole[len(prefix):]
    return guard
