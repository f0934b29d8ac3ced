"""The contract every exporter follows: metric declarations, options and collectors.

An exporter module (``exporters/<name>.py`` or a package ``exporters/<name>/``) defines
``METRICS`` (a tuple of :class:`MetricSpec`) and ``EXPORTER`` (an :class:`ExporterDef`).
The runtime (``exporters.runtime``) serves it; the generator reads ``METRICS`` to refuse
rules over undeclared metrics; the README's metrics table is generated from it.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
)

MetricType = Literal["counter", "gauge", "histogram", "summary", "info", "stateset"]

T = TypeVar("T")


@dataclass(frozen=True)
class MetricSpec:
    """One metric family an exporter may publish.

    ``name`` is the family as PromQL sees it: counters end in ``_total``, info metrics
    in ``_info``, histograms and summaries are named without their ``_bucket``/``_sum``/
    ``_count`` suffixes.
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"{self.type} {self.name!r} must not end in _total")
        if self.type == "info" and not self.name.endswith("_info"):
            raise ValueError(f"info metric {self.name!r} must end in _info")

    def sample_names(self) -> tuple[str, ...]:
        """The series names this family produces (what a PromQL selector may name)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type == "summary":
            return (self.name, f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def family(self, extra_labels: Sequence[str] = ()) -> Any:
        """A fresh prometheus-client family for this spec, to ``add_metric`` into.

        ``extra_labels`` are appended after the declared labels (the runtime uses it
        for ``target`` on multi-target exporters). Returns the matching
        ``*MetricFamily``; callers use ``add_metric(label_values, value)``.
        """
        labels = [*self.labels, *extra_labels]
        if self.type == "counter":
            return CounterMetricFamily(self.name.removesuffix("_total"), self.help, labels=labels)
        if self.type == "gauge":
            return GaugeMetricFamily(self.name, self.help, labels=labels)
        if self.type == "histogram":
            return HistogramMetricFamily(self.name, self.help, labels=labels)
        if self.type == "summary":
            return SummaryMetricFamily(self.name, self.help, labels=labels)
        if self.type == "info":
            return InfoMetricFamily(self.name.removesuffix("_info"), self.help, labels=labels)
        return StateSetMetricFamily(self.name, self.help, labels=labels)


@dataclass(frozen=True)
class MetricNamespace:
    """Declares one exporter's families: ``<namespace>_<name>``, ``labels`` first.

    ``_m = MetricNamespace("promfleet_redis", ("target",))``, then
    ``_m("up", "gauge", "1 when Redis answered.", "role")`` is the spec
    ``promfleet_redis_up{target, role}``; the metric type is checked as a
    :data:`MetricType`, so a misspelt one fails type-checking.
    """

    namespace: str
    labels: tuple[str, ...] = ()

    def __call__(self, name: str, type: MetricType, help: str, *labels: str) -> MetricSpec:
        return MetricSpec(f"{self.namespace}_{name}", type, help, (*self.labels, *labels))


def specs_by_name(specs: Iterable[MetricSpec]) -> dict[str, MetricSpec]:
    """Index specs by family name, refusing duplicates."""
    out: dict[str, MetricSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"metric {spec.name!r} declared twice")
        out[spec.name] = spec
    return out


@dataclass(frozen=True)
class CollectorDef:
    """One collector of an exporter, as the runtime and the docs see it.

    ``name`` is the switch (``--collector.<name>`` / ``--no-collector.<name>``),
    ``metrics`` the families it publishes (a family shared by several collectors, such
    as a dropped-series count, is declared by each). A disabled collector is not run
    and its families are not published.
    """

    name: str
    help: str
    metrics: tuple[MetricSpec, ...]
    default: bool = True

    @property
    def option(self) -> str:
        return f"collector.{self.name}"


def metrics_of(*groups: Iterable[MetricSpec]) -> tuple[MetricSpec, ...]:
    """The union of groups of declarations: each family once, in declaration order.

    A family declared by several groups (identically, or this raises) is listed where
    its last declarer lists it, so a family the collectors share follows them all.
    """
    specs = [spec for group in groups for spec in group]
    last: dict[str, int] = {}
    for index, spec in enumerate(specs):
        first = specs[last[spec.name]] if spec.name in last else spec
        if first != spec:
            raise ValueError(f"metric {spec.name!r} declared twice, differently")
        last[spec.name] = index
    return tuple(spec for index, spec in enumerate(specs) if last[spec.name] == index)


def collector_enabled(settings: Settings, collector: CollectorDef) -> bool:
    """Whether ``collector`` is switched on (its default where settings do not say)."""
    return bool(parse_bool(settings.get(collector.option, collector.default)))


def switch_with_alias(
    settings: Settings, collector: CollectorDef, alias: str, log: logging.Logger
) -> bool:
    """Whether ``collector`` is built, where ``--<alias>`` is a deprecated boolean option
    that once switched it: ``--collector.<name>`` is the one switch and wins when given
    (a warning says the alias is ignored); the alias alone still decides, with a
    warning naming the switch; neither given: the collector's default. The runtime
    itself leaves the collector out when ``--no-collector.<name>`` is given."""

    sources = settings.sources if isinstance(settings, Settings) else {}
    values = settings.values if isinstance(settings, Settings) else settings

    def given(name: str) -> bool:  # settings built by hand say only what they set
        if name in sources:
            return sources[name] != "default"
        return name in values

    if given(collector.option):
        if given(alias):
            log.warning("--%s is deprecated and ignored beside --%s", alias, collector.option)
        return collector_enabled(settings, collector)
    if given(alias):
        log.warning("--%s is deprecated: use --%s", alias, collector.option)
        try:
            return parse_bool(settings.get(alias))
        except ValueError as err:
            raise OptionError(f"--{alias}: {err}") from err
    return collector_enabled(settings, collector)


class OptionError(ValueError):
    """A bad option value; the message names the option and the problem."""


@dataclass(frozen=True)
class Option:
    """One setting of an exporter.

    ``name`` is dotted and dashed, as on the command line (``--filesystem.mount-exclude``).
    The environment variable is ``PROMFLEET_<EXPORTER>_<NAME>`` with dots and dashes as
    underscores; a ``secret`` option also accepts ``..._FILE`` naming a file that holds
    the value. In the YAML config file the key is the dotted name, either flat
    (``filesystem.mount-exclude: ...``) or nested (``filesystem: {mount_exclude: ...}``);
    dashes and underscores are interchangeable there.

    ``parse`` turns a string (flag, environment) or a YAML value (file) into the typed
    value, raising ``ValueError`` with a short reason on bad input.
    """

    name: str
    help: str
    default: Any
    parse: Callable[[Any], Any]
    secret: bool = False
    structured: bool = False  # a list/mapping: from the file, or JSON/YAML text in a flag/env
    # For a structured value that holds secrets (named targets' DSNs): returns them from
    # the parsed value, so the log redactor hides them as it hides ``secret`` options.
    secret_parts: Callable[[Any], Iterable[str]] | None = None

    @property
    def env_suffix(self) -> str:
        return self.name.upper().replace(".", "_").replace("-", "_")


@dataclass(frozen=True)
class Settings:
    """Resolved option values for one exporter process (flags > env > file > defaults)."""

    exporter: str
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)  # option -> flag|env|file|default

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __repr__(self) -> str:  # secrets never reach a log through a repr
        return f"Settings(exporter={self.exporter!r}, options={sorted(self.values)!r})"


def option_value(options: Sequence[Option], settings: Settings, name: str) -> Any:
    """An option's typed value from settings, or its default, through its parser.

    Parsers are idempotent, so an already-typed value passes through; a raw default or a
    string (settings built by hand, as tests do) is parsed. A bad value raises
    :class:`OptionError` naming the option.
    """
    option = next(o for o in options if o.name == name)
    value = settings.get(name, option.default)
    try:
        return option.parse(value)
    except ValueError as err:
        raise OptionError(f"--{name}: {err}") from err


def setting(
    name: str, help: str, default: Any, parse: Callable[[Any], Any], **option: Any
) -> Any:
    """A field of a frozen config dataclass that is also an option, its default written once.

    ``slots_limit: int = setting("slots.limit", "...", 20, parse_positive_int)``;
    :func:`options_of` lists the class's options and :func:`config_of` builds the
    config from settings. ``option`` holds further :class:`Option` fields.
    """
    return field(default=default, metadata={"option": (name, help, parse, option)})


def _setting_fields(config: type) -> list[tuple[dataclasses.Field[Any], Option]]:
    out = []
    for f in dataclasses.fields(config):
        if "option" in f.metadata:
            name, help, parse, extra = f.metadata["option"]
            out.append((f, Option(name, help, f.default, parse, **extra)))
    return out


def options_of(config: type) -> tuple[Option, ...]:
    """The options of a config dataclass's :func:`setting` fields, in field order."""
    return tuple(option for _, option in _setting_fields(config))


def config_of(config: type[T], settings: Settings) -> T:
    """``config`` with each :func:`setting` field read from settings (or its default)."""
    options = options_of(config)
    values = {
        f.name: option_value(options, settings, option.name)
        for f, option in _setting_fields(config)
    }
    return config(**values)


class ScrapeContext:
    """What a collector gets for one scrape: the deadline and the request's parameters."""

    def __init__(
        self,
        deadline: float,
        params: Mapping[str, str] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        executor: Any = None,
    ) -> None:
        self.deadline = deadline  # time.monotonic() value by which results must be ready
        self.params: Mapping[str, str] = params or {}
        self._loop = loop
        self._executor = executor

    @classmethod
    def with_timeout(cls, seconds: float, params: Mapping[str, str] | None = None) -> ScrapeContext:
        return cls(time.monotonic() + seconds, params)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (psutil, file reads, sync drivers) off the event loop."""
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)


class Collector(abc.ABC):
    """A named group of metric families, collected afresh on each scrape.

    Subclass :class:`BlockingCollector` for code that blocks (psutil, sync drivers,
    file reads); subclass this directly for ``async`` code. Raise on failure: the
    runtime reports the failure through ``<ns>_scrape_collector_success`` and logs it.
    """

    name: str = ""
    # The configured target NAME this collector serves on a multi-target exporter.
    target: str = ""

    @abc.abstractmethod
    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        """Return fresh metric families for this scrape."""


class BlockingCollector(Collector):
    """A collector whose work blocks; the runtime runs it in a worker thread."""

    @abc.abstractmethod
    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        """Return fresh metric families; called in a worker thread."""

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        return await ctx.run_blocking(lambda: list(self.collect_blocking(ctx)))


@dataclass(frozen=True)
class ExporterDef:
    """Everything the runtime needs to serve one exporter.

    ``build`` is called once at start-up with the resolved settings and returns the
    collectors; it raises :class:`OptionError` for settings it cannot accept.
    ``probe`` (optional) is called per ``/probe?target=NAME`` request and returns the
    collectors for that one target, or raises ``KeyError`` for an unknown target.
    ``close`` (optional) releases what ``build`` opened (connections) at shutdown; it
    may return an awaitable, which the runtime awaits (bounded) before exiting.
    """

    name: str
    namespace: str
    description: str
    metrics: tuple[MetricSpec, ...]
    options: tuple[Option, ...]
    build: Callable[[Settings], Sequence[Collector]]
    probe: Callable[[Settings, str, Sequence[Collector]], Sequence[Collector]] | None = None
    close: Callable[[Sequence[Collector]], Any] | None = None
    default_port: int = 9100
    # True when one /metrics serves several configured targets: the runtime's
    # scrape_collector families then carry a ``target`` label (from Collector.target).
    multi_target: bool = False
    # The target names the settings configure, in order and duplicates kept: the
    # runtime refuses a name given twice before ``build`` is called.
    target_names: Callable[[Settings], Sequence[str]] | None = None
    # The collectors the runtime gives a --collector.<name> switch; ``metrics`` is
    # their union (:func:`metrics_of`). The runtime runs no collector object whose
    # ``name`` is a disabled one; an exporter whose collectors share one query (the
    # PostgreSQL batch) reads :func:`collector_enabled` itself.
    collectors: tuple[CollectorDef, ...] = ()


# Parsers shared by exporters' options -------------------------------------------------


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_str(value: Any) -> str:
    if not isinstance(value, str | int | float):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value)


def parse_positive_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a number, got {value!r}") from err
    if not number > 0:
        raise ValueError(f"expected a positive number, got {value!r}")
    return number


def parse_non_negative_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a number, got {value!r}") from err
    if number < 0:
        raise ValueError(f"expected zero or more, got {value!r}")
    return number


def parse_positive_int(value: Any) -> int:
    try:
        number = int(str(value), 10)
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a whole number, got {value!r}") from err
    if number <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a Prometheus-style duration (``500ms``, ``15s``, ``5m``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return float(value)
    text = str(value).strip()
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit):
            number = text[: -len(unit)]
            try:
                seconds = float(number) * _DURATION_UNITS[unit]
            except ValueError as err:
                raise ValueError(f"expected a duration like 15s or 5m, got {value!r}") from err
            if seconds < 0:
                raise ValueError(f"expected a non-negative duration, got {value!r}")
            return seconds
    try:
        return parse_non_negative_float(text)
    except ValueError as err:
        raise ValueError(f"expected a duration like 15s or 5m, got {value!r}") from err
