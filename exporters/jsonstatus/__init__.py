"""The jsonstatus exporter: metrics from the JSON status endpoints services already publish.

Each target is a URL read with a mapping (``exporters/jsonstatus/mappings/*.yml``, or a
file of the user's): which fields, which type, which labels from which keys, and a cap on
each metric's series. One collector per target, run on every ``/metrics`` scrape;
``/probe?target=NAME`` reads one. The fetch runs under the scrape deadline (less
``timeout-offset``, and within the target's ``timeout``), so an endpoint that hangs gives
``promfleet_jsonstatus_up 0`` with reason ``timeout``, never a hung scrape. A body that
is not JSON, a field of the wrong type, a missing field or a label set past its cap is
counted by reason, logged once, and skipped. Labels carry the target's NAME, never its URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.jsonstatus.mapping import (
    SKIP_REASONS,
    MappingError,
    MetricDef,
    StatusMapping,
    check_declarations,
    extract,
    load_text,
)
from exporters.spec import (
    Collector,
    CollectorDef,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    Option,
    OptionError,
    ScrapeContext,
    Settings,
    config_of,
    metrics_of,
    options_of,
    parse_duration,
    parse_positive_int,
    setting,
)
from exporters.targets import find_target, target_entries

NS = "promfleet_jsonstatus"
log = logging.getLogger("promfleet.jsonstatus")

FAILURE_REASONS = ("connection", "timeout", "status", "content_type", "invalid_json",
                   "too_large")


def shipped_mappings() -> dict[str, StatusMapping]:
    """The mappings shipped in ``exporters/jsonstatus/mappings/``, by name."""
    out: dict[str, StatusMapping] = {}
    folder = resources.files(__package__).joinpath("mappings")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yml"):
            continue
        found = load_text(entry.read_text(encoding="utf-8"), f"mappings/{entry.name}")
        for name in found:
            if name in out:
                raise MappingError(f"mappings/{entry.name}: mapping {name!r} given twice")
        out.update(found)
    return out


MAPPINGS = shipped_mappings()
_m = MetricNamespace(NS, ("target",))

# The families every target has, whatever its mapping.
_FIXED: tuple[MetricSpec, ...] = (
    _m("up", "gauge", "1 when the endpoint answered an accepted status with a JSON body in "
        "time; 0 when it did not (see failure)."),
    _m("duration_seconds", "gauge", "Seconds the fetch took, connection to last body byte."),
    _m("failure", "gauge", "1 for the reason this fetch failed (connection, timeout, "
        "status, content_type, invalid_json, too_large), else 0.", "reason"),
    _m("fetch_failures_total", "counter", "Fetches that failed, by reason, since the "
        "exporter started.", "reason"),
    _m("values_skipped_total", "counter", "Values of the body a metric could not use, by "
        "reason (missing, wrong_type, bad_label, over_limit: past the metric's "
        "max_series), since the exporter started.", "metric", "reason"),
)
STATUS = CollectorDef(
    "status",
    "each target's JSON status endpoint, read with its mapping",
    (*_FIXED, *check_declarations(list(MAPPINGS.values())).values()),
)
COLLECTORS: tuple[CollectorDef, ...] = (STATUS,)
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))


@dataclass(frozen=True)
class StatusTarget:
    """One endpoint and its mapping; ``url`` may carry credentials, so it stays out of repr."""

    name: str
    url: str = field(repr=False)
    mapping: StatusMapping = field(repr=False)
    timeout_seconds: float = 10.0
    valid_status: tuple[int, ...] = ()  # empty: any 2xx


@dataclass(frozen=True)
class StatusConfig:
    timeout_offset_seconds: float = setting(
        "timeout-offset", "kept back from the scrape deadline for the fetch's timeout", 0.1,
        parse_duration)
    max_body_bytes: int = setting(
        "body.max-bytes", "largest body read; a larger one fails with reason too_large",
        1024 * 1024, parse_positive_int)


def fetch_timeout(remaining: float, offset: float, target_timeout: float) -> float:
    """The deadline minus the offset, within the target's timeout (half of what is left
    when less than twice the offset is)."""
    budget = remaining - offset if remaining > 2 * offset else remaining / 2
    return max(0.001, min(target_timeout, budget))


@dataclass
class FetchResult:
    doc: Any = None
    failure: str | None = None
    status_code: int = 0
    duration_seconds: float = 0.0
    error: str = ""


def json_content_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """(document, None) or (None, "invalid_json"): a deeply nested body is not a crash."""
    try:
        return json.loads(body), None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, "invalid_json"


async def fetch(target: StatusTarget, timeout: float, max_bytes: int) -> FetchResult:
    """Read ``target`` once within ``timeout`` seconds; never raises for the endpoint."""
    import aiohttp

    result = FetchResult()
    start = time.perf_counter()
    body = b""
    content_type = ""
    try:
        async with asyncio.timeout(timeout):
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    target.url,
                    headers={"Accept": "application/json", "User-Agent": "promfleet-jsonstatus"},
                    allow_redirects=True,
                ) as response,
            ):
                result.status_code = response.status
                content_type = response.headers.get("Content-Type", "")
                body = await response.content.read(max_bytes + 1)
    except TimeoutError:
        result.failure, result.error = "timeout", f"no answer within {timeout:.3g}s"
    except (aiohttp.ClientError, OSError) as err:
        result.failure, result.error = "connection", type(err).__name__
    result.duration_seconds = time.perf_counter() - start
    if result.failure is not None:
        return result
    accepted = (result.status_code in target.valid_status if target.valid_status
                else 200 <= result.status_code < 300)
    if not accepted:
        result.failure, result.error = "status", f"HTTP {result.status_code}"
    elif not json_content_type(content_type):
        result.failure = "content_type"
        result.error = f"Content-Type {content_type.split(';', 1)[0]!r} is not JSON"
    elif len(body) > max_bytes:
        result.failure, result.error = "too_large", f"body over {max_bytes} bytes"
    else:
        result.doc, result.failure = parse_body(body)
        if result.failure is not None:
            result.error = "the body is not valid JSON"
    return result


class StatusCollector(Collector):
    """Reads one target's status endpoint per scrape::

    promfleet_jsonstatus_up{target="minixdr-orchestrator"} 1.0
    promfleet_jsonstatus_minixdr_workflows_active{target="minixdr-orchestrator"} 3.0
    promfleet_jsonstatus_minixdr_agent_healthy{agent="containment",target="..."} 1.0
    promfleet_jsonstatus_values_skipped_total{metric="...",reason="missing",target="..."} 0.0

    Keeps its counters and the causes it has logged (so each is logged once a episode).
    """

    name = STATUS.name

    def __init__(self, target: StatusTarget, config: StatusConfig, families: Families) -> None:
        self.target = target.name
        self.status_target = target
        self.config = config
        self.families_ = families
        self.failures = dict.fromkeys(FAILURE_REASONS, 0)
        self.skipped = {(m.short, r): 0 for m in target.mapping.metrics for r in SKIP_REASONS}
        self._causes: set[tuple[str, str]] = set()

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        timeout = fetch_timeout(ctx.remaining(), self.config.timeout_offset_seconds,
                                self.status_target.timeout_seconds)
        result = await fetch(self.status_target, timeout, self.config.max_body_bytes)
        return self.families(result)

    def families(self, result: FetchResult) -> list[Metric]:
        """Fresh families from one fetch (counts it; no I/O)."""
        causes: dict[tuple[str, str], str] = {}
        batch = self.families_.start()
        only = (self.target,)
        metrics = self.status_target.mapping.metrics
        if result.failure is not None:
            self.failures[result.failure] += 1
            causes[("fetch", result.failure)] = result.error
        else:
            found = extract(result.doc, metrics)
            for (metric, reason), count in found.skipped.items():
                self.skipped[(metric, reason)] += count
                causes[(metric, reason)] = f"{count} value(s) skipped"
            for metric_def in metrics:
                short = _short(metric_def)
                for labels, value in found.samples.get(metric_def.name, {}).items():
                    batch.add(short, (self.target, *labels), value)
        batch.add("up", only, 0.0 if result.failure else 1.0)
        batch.add("duration_seconds", only, result.duration_seconds)
        for reason in FAILURE_REASONS:
            batch.add("failure", (self.target, reason), 1.0 if result.failure == reason else 0.0)
        for reason, count in self.failures.items():
            batch.add("fetch_failures_total", (self.target, reason), float(count))
        for (metric, reason), count in self.skipped.items():
            batch.add("values_skipped_total", (self.target, metric, reason), float(count))
        self._log_causes(causes)
        return batch.list()

    def _log_causes(self, causes: dict[tuple[str, str], str]) -> None:
        """A warning the first scrape a cause appears, one info line when it is gone."""
        for key in sorted(set(causes) - self._causes):
            what, reason = key
            fields = {"target": self.target, "reason": reason, "detail": causes[key]}
            if what == "fetch":
                log.warning("status fetch failed", extra={"fields": fields})
            else:
                log.warning("status values skipped", extra={"fields": {**fields, "metric": what}})
        was_failing = any(what == "fetch" for what, _ in self._causes)
        if was_failing and not any(what == "fetch" for what, _ in causes):
            log.info("status fetch recovered", extra={"fields": {"target": self.target}})
        self._causes = set(causes)


def _short(metric: MetricDef) -> str:
    return metric.name.removeprefix(f"{NS}_")


# --- options ---------------------------------------------------------------------------


def _status_list(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
            raise ValueError(f"{where}: valid_status: {item!r} is not an HTTP status")
        out.append(item)
    return tuple(out)


_TARGET_KEYS = {"url", "mapping", "mapping_file", "timeout", "valid_status"}


def load_mapping_file(path: str, where: str, name: str | None) -> StatusMapping:
    """The mapping ``name`` of a user's file (its only one when ``name`` is None)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{where}: mapping_file: cannot read {path!r}: {err.strerror}") from err
    found = load_text(text, path)
    if name is None:
        if len(found) != 1:
            raise ValueError(f"{where}: mapping_file {path!r} holds {len(found)} mappings: "
                             "name one with mapping")
        return next(iter(found.values()))
    if name not in found:
        raise ValueError(f"{where}: mapping {name!r} is not in {path!r} "
                         f"(it has {', '.join(sorted(found))})")
    return found[name]


def parse_targets(value: Any) -> tuple[StatusTarget, ...]:
    """``targets``: a list of ``{name, url, mapping | mapping_file, timeout?,
    valid_status?}``; ``mapping`` names a shipped mapping, or one of ``mapping_file``."""
    out: list[StatusTarget] = []
    for where, name, item in target_entries(value, _TARGET_KEYS, "{name, url, mapping}"):
        url = item.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError(f"{where}: url must be http:// or https://")
        mapping_name = item.get("mapping")
        if mapping_name is not None and not isinstance(mapping_name, str):
            raise ValueError(f"{where}: mapping: expected a mapping's name")
        try:
            if item.get("mapping_file") is not None:
                mapping = load_mapping_file(str(item["mapping_file"]), where, mapping_name)
            elif mapping_name in MAPPINGS:
                mapping = MAPPINGS[mapping_name]
            else:
                raise ValueError(f"{where}: mapping: unknown mapping {mapping_name!r} (shipped: "
                                 f"{', '.join(sorted(MAPPINGS))}; or give mapping_file)")
        except MappingError as err:
            raise ValueError(f"{where}: {err}") from err
        try:
            timeout = parse_duration(item.get("timeout", 10.0))
            if timeout <= 0:
                raise ValueError("must be more than 0")
        except ValueError as err:
            raise ValueError(f"{where}: timeout: {err}") from err
        out.append(StatusTarget(name, url, mapping, timeout,
                                _status_list(item.get("valid_status"), where)))
    try:
        check_declarations([*MAPPINGS.values(), *(t.mapping for t in out)])
    except MappingError as err:
        raise ValueError(str(err)) from err
    return tuple(out)


OPTIONS: tuple[Option, ...] = (
    Option("targets", "status endpoints: a list of {name, url, mapping | mapping_file, "
        "timeout, valid_status}", (), parse_targets, structured=True),
    *options_of(StatusConfig),
)


def build(settings: Settings) -> Sequence[Collector]:
    config = config_of(StatusConfig, settings)
    targets: tuple[StatusTarget, ...] = tuple(settings.get("targets") or ())
    own = [t.mapping for t in targets if t.mapping is not MAPPINGS.get(t.mapping.name)]
    try:
        declared = check_declarations([*MAPPINGS.values(), *own])
    except MappingError as err:
        raise OptionError(f"--targets: {err}") from err
    # A user's mapping file may add families; they are served (and not in the metrics
    # reference, which lists the shipped mappings' families).
    families = Families((*_FIXED, *declared.values()), f"{NS}_")
    return tuple(StatusCollector(t, config, families) for t in targets)


def probe(settings: Settings, name: str, collectors: Sequence[Collector]) -> Sequence[Collector]:
    """The collector of ``/probe?target=NAME``."""
    return find_target(settings, name, collectors)


EXPORTER = ExporterDef(
    name="jsonstatus",
    namespace=NS,
    description="JSON status endpoints read by configuration: fields, types, labels, caps",
    metrics=METRICS,
    collectors=COLLECTORS,
    options=OPTIONS,
    build=build,
    probe=probe,
    default_port=9117,
    multi_target=True,
    target_names=lambda settings: [t.name for t in settings.get("targets") or ()],
)
