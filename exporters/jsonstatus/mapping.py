"""Mappings from a JSON status body to metric families: the format, its loader, and extraction.

A mapping names the metrics one kind of endpoint publishes (Mini-XDR's telemetry status,
BlindspotX's health); a target is one URL read with one mapping. Mapping files are YAML::

    minixdr-telemetry:                      # the mapping's name
      metrics:
        - name: minixdr_assets              # promfleet_jsonstatus_minixdr_assets
          type: gauge                       # gauge, counter, timestamp, boolean or state
          help: Assets of each organisation.
          each: organizations               # optional: a map or list, one series per item
          value: asset_count                # a path inside the item (or the body)
          labels: {organisation: slug}      # label from an item field, or "$key"
          max_series: 100                   # the cap; what is past it is counted, not kept

A path is dot-separated map keys and list indexes (``incidents.total``, ``nodes.0.id``);
``.`` is the item itself. Everything here is pure: :func:`extract` turns a parsed body into
samples plus the values it skipped, by reason, and never raises for a body.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from exporters.spec import MetricSpec

PREFIX = "promfleet_jsonstatus_"
TYPES = ("gauge", "counter", "timestamp", "boolean", "state")
# Why a value was left out of a scrape; a closed set, the skip counter's ``reason`` label.
SKIP_REASONS = ("missing", "wrong_type", "bad_label", "over_limit")
KEY = "$key"  # a label taken from the map key (or list index) of the item
UNKNOWN_STATE = "unknown"
DEFAULT_MAX_SERIES = 64
MAX_LABEL_VALUE = 64
# Words a status endpoint uses for "up"/"down" (a boolean field may be a word or an
# object whose ``status`` is one); any other word is the wrong type, not "down".
UP_WORDS = frozenset({"true", "up", "ok", "healthy", "pass", "passing", "running", "ready",
                      "online", "connected", "enabled", "active"})
DOWN_WORDS = frozenset({"false", "down", "unhealthy", "fail", "failed", "failing", "error",
                        "critical", "offline", "disconnected", "disabled", "stopped",
                        "degraded", "unavailable"})

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_RESERVED_LABELS = frozenset({"target", "job", "instance", "state", "le", "quantile"})
_METRIC_KEYS = frozenset({"name", "type", "help", "each", "value", "labels", "max_series",
                          "scale", "states"})
_MAPPING_KEYS = frozenset({"help", "metrics"})


class MappingError(ValueError):
    """A mapping that cannot be used; the message names the file, line and field."""


# --- paths ---------------------------------------------------------------------------

Path = tuple[str | int, ...]


def parse_path(text: Any, where: str) -> Path:
    """``a.b.0.c`` as ``("a", "b", 0, "c")``; ``.`` is the empty path (the item itself)."""
    if not isinstance(text, str) or not text.strip():
        raise MappingError(f"{where}: expected a path such as 'status' or 'agents.0.id'")
    text = text.strip()
    if text == ".":
        return ()
    out: list[str | int] = []
    for part in text.split("."):
        if not part:
            raise MappingError(f"{where}: empty step in path {text!r}")
        if part == KEY or part.startswith("$"):
            raise MappingError(f"{where}: {part!r} is only a label source, not a path step")
        out.append(int(part) if part.isdigit() else part)
    return tuple(out)


_MISSING = object()


def resolve(doc: Any, path: Path) -> Any:
    """The value at ``path`` in ``doc``, or the module's missing marker (never raises)."""
    node = doc
    for step in path:
        if isinstance(step, int) and isinstance(node, list):
            if step >= len(node):
                return _MISSING
            node = node[step]
        elif isinstance(node, Mapping):
            node = node.get(str(step), _MISSING)
            if node is _MISSING:
                return _MISSING
        else:
            return _MISSING
    return _MISSING if node is None else node


def path_text(path: Path) -> str:
    return ".".join(str(p) for p in path) or "."


# --- the mapping ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDef:
    """One configured metric: where its values are and how they become samples."""

    name: str  # the full family name, PREFIX included
    type: str
    help: str
    value: Path
    each: Path | None = None
    labels: tuple[tuple[str, Path | None], ...] = ()  # (label, item path | None for $key)
    max_series: int = DEFAULT_MAX_SERIES
    scale: float = 1.0
    states: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.name.removeprefix(PREFIX)

    @property
    def label_names(self) -> tuple[str, ...]:
        names = tuple(label for label, _ in self.labels)
        return (*names, "state") if self.type == "state" else names

    def spec(self) -> MetricSpec:
        if self.type == "counter":
            return MetricSpec(self.name, "counter", self.help, ("target", *self.label_names))
        return MetricSpec(self.name, "gauge", self.help, ("target", *self.label_names))


@dataclass(frozen=True)
class StatusMapping:
    name: str
    metrics: tuple[MetricDef, ...]
    source: str = ""  # the file it came from, for messages

    def specs(self) -> tuple[MetricSpec, ...]:
        return tuple(m.spec() for m in self.metrics)


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings remember the line they start on (``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise MappingError(f"line {key_node.start_mark.line + 1}: key {key!r} given twice")
        mapping[key] = loader.construct_object(value_node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_text(text: str, source: str) -> dict[str, StatusMapping]:
    """Every mapping of one YAML document; a :class:`MappingError` naming the line if bad."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except MappingError as err:
        raise MappingError(f"{source}: {err}") from err
    except yaml.YAMLError as err:
        raise MappingError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(doc, dict):
        raise MappingError(f"{source}: expected a map of mapping names to {{metrics: [...]}}")
    out: dict[str, StatusMapping] = {}
    for name, body in doc.items():
        if name == "__line__":
            continue
        where = f"{source} line {_line(body, doc)}: mapping {name!r}"
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_.-]{0,63}$", name):
            raise MappingError(f"{where}: a mapping name is lowercase letters, digits, '_.-'")
        out[name] = _mapping(name, body, where, source)
    return out


def _line(node: Any, parent: Any) -> Any:
    if isinstance(node, dict):
        return node["__line__"]
    return parent.get("__line__", "?") if isinstance(parent, dict) else "?"


def _mapping(name: str, body: Any, where: str, source: str) -> StatusMapping:
    if not isinstance(body, dict):
        raise MappingError(f"{where}: expected {{metrics: [...]}}")
    unknown = sorted(set(body) - _MAPPING_KEYS - {"__line__"})
    if unknown:
        raise MappingError(f"{where}: unknown keys {unknown} (known: help, metrics)")
    raw = body.get("metrics")
    if not isinstance(raw, list) or not raw:
        raise MappingError(f"{where}: metrics must be a non-empty list")
    metrics = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        metric = _metric(item, f"{source} line {_line(item, body)}: {name}.metrics[{index}]")
        if metric.name in seen:
            raise MappingError(f"{where}: metric {metric.short!r} given twice")
        seen.add(metric.name)
        metrics.append(metric)
    return StatusMapping(name, tuple(metrics), source)


def _metric(item: Any, where: str) -> MetricDef:
    if not isinstance(item, dict):
        raise MappingError(f"{where}: expected a mapping {{name, type, help, value, ...}}")
    unknown = sorted(set(item) - _METRIC_KEYS - {"__line__"})
    if unknown:
        raise MappingError(f"{where}: unknown keys {unknown} (known: {sorted(_METRIC_KEYS)})")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise MappingError(f"{where}: name: {name!r} is not a metric name (a-z, 0-9, _)")
    where = f"{where} ({name})"
    kind = item.get("type")
    if kind not in TYPES:
        raise MappingError(f"{where}: type: unknown type {kind!r} (one of {', '.join(TYPES)})")
    if kind == "counter" and not name.endswith("_total"):
        raise MappingError(f"{where}: name: a counter's name ends in _total")
    if kind != "counter" and name.endswith("_total"):
        raise MappingError(f"{where}: name: only a counter's name ends in _total")
    if kind == "timestamp" and not name.endswith("_timestamp_seconds"):
        raise MappingError(f"{where}: name: a timestamp's name ends in _timestamp_seconds")
    help_text = item.get("help")
    if not isinstance(help_text, str) or not help_text.strip():
        raise MappingError(f"{where}: help: every metric says what it is")
    each = parse_path(item["each"], f"{where}: each") if "each" in item else None
    value = parse_path(item.get("value"), f"{where}: value")
    labels = _labels(item.get("labels"), each is not None, where)
    if labels and each is None:
        raise MappingError(f"{where}: labels need 'each' (the map or list they come from)")
    max_series = item.get("max_series", DEFAULT_MAX_SERIES if each is not None else 1)
    if (isinstance(max_series, bool) or not isinstance(max_series, int)
            or not 1 <= max_series <= 1000):
        raise MappingError(f"{where}: max_series: expected a whole number from 1 to 1000")
    scale = item.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise MappingError(f"{where}: scale: expected a positive number")
    if scale != 1.0 and kind not in ("gauge", "counter"):
        raise MappingError(f"{where}: scale: only a gauge or a counter is scaled")
    states: tuple[str, ...] = ()
    if kind == "state":
        raw_states = item.get("states")
        if (not isinstance(raw_states, list) or not raw_states
                or not all(isinstance(s, str) and _LABEL.match(s) for s in raw_states)
                or len(set(raw_states)) != len(raw_states) or UNKNOWN_STATE in raw_states):
            raise MappingError(f"{where}: states: a list of distinct lowercase words "
                               f"('{UNKNOWN_STATE}' is added for any other value)")
        states = (*raw_states, UNKNOWN_STATE)
    elif "states" in item:
        raise MappingError(f"{where}: states: only a state metric has states")
    return MetricDef(PREFIX + name, kind, help_text.strip(), value, each, labels,
                     max_series, float(scale), states)


def _labels(raw: Any, has_each: bool, where: str) -> tuple[tuple[str, Path | None], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: labels: expected {{label: item path or $key}}")
    out: list[tuple[str, Path | None]] = []
    for label, source in raw.items():
        if label == "__line__":
            continue
        if not isinstance(label, str) or not _LABEL.match(label) or label in _RESERVED_LABELS:
            raise MappingError(f"{where}: labels: {label!r} is not a label name of its own "
                               f"(a-z, 0-9, _; not {', '.join(sorted(_RESERVED_LABELS))})")
        path = None if source == KEY else parse_path(source, f"{where}: labels.{label}")
        out.append((label, path))
    return tuple(out)


def check_declarations(mappings: Sequence[StatusMapping]) -> dict[str, MetricSpec]:
    """Every family of ``mappings`` by name; a name declared twice differently is refused
    (two mappings may share a family only when they declare it alike)."""
    out: dict[str, MetricSpec] = {}
    for mapping in mappings:
        for metric in mapping.metrics:
            spec = metric.spec()
            seen = out.get(spec.name)
            if seen is not None and seen != spec:
                raise MappingError(f"{mapping.source}: mapping {mapping.name!r}: metric "
                                   f"{metric.short!r} is declared elsewhere with another "
                                   "type, help or labels")
            out[spec.name] = spec
    return out


# --- extraction ----------------------------------------------------------------------


@dataclass
class Extracted:
    """One body's samples (family name -> {label values: value}) and its skipped values."""

    samples: dict[str, dict[tuple[str, ...], float]] = field(default_factory=dict)
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)  # (metric, reason)

    def skip(self, metric: str, reason: str, count: int = 1) -> None:
        key = (metric, reason)
        self.skipped[key] = self.skipped.get(key, 0) + count


def _items(collection: Any) -> list[tuple[str, Any]] | None:
    if isinstance(collection, Mapping):
        return [(str(k), v) for k, v in sorted(collection.items(), key=lambda kv: str(kv[0]))]
    if isinstance(collection, list):
        return [(str(i), v) for i, v in enumerate(collection)]
    return None


def _label_value(item: Any, key: str, source: Path | None) -> str | None:
    raw = key if source is None else resolve(item, source)
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw or len(raw) > MAX_LABEL_VALUE:
        return None
    return raw


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _word(value: Any) -> str | None:
    """A status word from a string, or from an object's ``status`` field."""
    if isinstance(value, Mapping):
        value = value.get("status", value.get("state"))
    return value.strip().lower() if isinstance(value, str) else None


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from a number or an ISO 8601 string (a zone-less time is UTC)."""
    number = _number(value)
    if number is not None:
        return number if number >= 0 else None
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def convert(metric: MetricDef, value: Any) -> float | str | None:
    """The sample value of ``value`` (for a state, its state word); None: wrong type."""
    if metric.type in ("gauge", "counter"):
        number = 1.0 if value is True else 0.0 if value is False else _number(value)
        if number is None or (metric.type == "counter" and number < 0):
            return None
        return number * metric.scale
    if metric.type == "timestamp":
        return parse_timestamp(value)
    if metric.type == "boolean":
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        word = _word(value)
        if word in UP_WORDS:
            return 1.0
        if word in DOWN_WORDS:
            return 0.0
        return None
    word = _word(value)  # state
    if word is None:
        return None
    return word if word in metric.states else UNKNOWN_STATE


def extract(doc: Any, metrics: Sequence[MetricDef]) -> Extracted:
    """The samples ``metrics`` find in a parsed body; what cannot be read is counted."""
    out = Extracted()
    for metric in metrics:
        _extract_one(doc, metric, out)
    return out


def _extract_one(doc: Any, metric: MetricDef, out: Extracted) -> None:
    if metric.each is None:
        items: list[tuple[str, Any]] = [("", doc)]
    else:
        collection = resolve(doc, metric.each)
        if collection is _MISSING:
            out.skip(metric.short, "missing")
            return
        found = _items(collection)
        if found is None:
            out.skip(metric.short, "wrong_type")
            return
        items = found
    family = out.samples.setdefault(metric.name, {})
    for key, item in items:
        raw = resolve(item, metric.value)
        if raw is _MISSING:
            out.skip(metric.short, "missing")
            continue
        value = convert(metric, raw)
        if value is None:
            out.skip(metric.short, "wrong_type")
            continue
        labels: list[str] = []
        for _, source in metric.labels:
            label = _label_value(item, key, source)
            if label is None:
                break
            labels.append(label)
        else:
            series = len(family) // len(metric.states) if metric.states else len(family)
            if series >= metric.max_series:
                out.skip(metric.short, "over_limit")
                continue
            if metric.type == "state":
                if any(k[:-1] == tuple(labels) for k in family):
                    out.skip(metric.short, "bad_label")  # two items, one label set
                    continue
                for state in metric.states:
                    family[(*labels, state)] = 1.0 if value == state else 0.0
            else:
                if tuple(labels) in family:
                    out.skip(metric.short, "bad_label")
                    continue
                family[tuple(labels)] = float(value)
            continue
        out.skip(metric.short, "bad_label")
