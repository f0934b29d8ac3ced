"""The security exporter: access and authentication logs turned into security metrics.

This package owns the exporter's declaration (``COLLECTORS``, each with the families it
publishes; ``METRICS``, their union; ``EXPORTER``), its options and its collectors. The
work is split by concern: ``parse`` (formats), ``detect`` (attack patterns, secrets,
brute force), ``engine`` (counting), ``tail`` (following files), ``denylist`` (the
automated response). It is one of the stateful exporters: a
background thread tails the logs continuously and scrapes read the counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.security.change import (
    CHANGE_ORIGINS,
    ChangePolicy,
    parse_names,
    parse_windows,
)
from exporters.security.denylist import (
    BLOCK_REASONS,
    DEFAULT_BLOCK_SECONDS,
    ORIGINS,
    REJECT_REASONS,
    DenyList,
    parse_block_duration,
)
from exporters.security.detect import (
    ATTACK_KINDS,
    CRITICAL_ATTACK_KINDS,
    SENSITIVE_KINDS,
    BruteForcePolicy,
)
from exporters.security.engine import (
    ATTACK_BLOCK_REQUESTS,
    ATTACK_BLOCK_WINDOW_SECONDS,
    AUTH_REASONS,
    DEFAULT_EVENTS,
    DENIED_CODES,
    EVENT_CATEGORIES,
    EVENT_TARGETS,
    SKIP_REASONS,
    AttackBlockPolicy,
    Engine,
    LogConfig,
    Snapshot,
)
from exporters.security.memory import pin_mmap_threshold
from exporters.security.parse import FORMATS, FieldMap, make_parser
from exporters.security.tail import LogFollower, PositionFile, Tailer
from exporters.spec import (
    BlockingCollector,
    Collector,
    CollectorDef,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    MetricType,
    Option,
    OptionError,
    ScrapeContext,
    Settings,
    metrics_of,
    option_value,
    parse_duration,
    parse_positive_int,
    parse_str,
)

NS = "promfleet_security"
_STATEFUL = " Counted continuously between scrapes by the log tailer."


_ns = MetricNamespace(NS)


def _m(name: str, kind: MetricType, help_text: str, labels: tuple[str, ...] = ()) -> MetricSpec:
    stateful = _STATEFUL if kind == "counter" else ""
    return _ns(name, kind, help_text + stateful, *labels)


LOGS = CollectorDef(
    "logs",
    "lines read, bad lines and read errors of each tailed log",
    (
        _m("log_lines_total", "counter", "Non-blank lines read from each log.", ("log",)),
        _m(
            "log_lines_skipped_total",
            "counter",
            "Lines skipped, by reason (parse_error, invalid_utf8, too_long, truncated).",
            ("log", "reason"),
        ),
        _m(
            "log_lines_bad_field_total",
            "counter",
            "Lines with a field of the wrong type (a list or object where text was expected): "
            "that field's check was skipped, the line's other fields were counted.",
            ("log",),
        ),
        _m(
            "log_rotations_total",
            "counter",
            "Rotations seen, by kind (rename, truncate).",
            ("log", "kind"),
        ),
        _m("log_read_errors_total", "counter", "Errors opening or reading a log.", ("log",)),
        _m("log_file_present", "gauge", "1 when the log file exists and is open.", ("log",)),
        _m(
            "log_offset_bytes",
            "gauge",
            "Offset of the last complete line read in the log.",
            ("log",),
        ),
        _m("log_size_bytes", "gauge", "Size of the log file at the last read.", ("log",)),
        _m("position_write_errors_total", "counter", "Failed rewrites of the position file."),
    ),
)

DETECTIONS = CollectorDef(
    "detections",
    "authentication failures, attacks and other detections",
    (
        _m(
            "auth_failures_total",
            "counter",
            "Authentication failures, by reason (401 responses count as http_401).",
            ("reason",),
        ),
        _m("http_denied_responses_total", "counter", "HTTP 401 and 403 responses.", ("code",)),
        _m(
            "rate_limited_total",
            "counter",
            "Rate-limited requests (HTTP 429 or a rate_limited event).",
        ),
        _m(
            "attacks_total",
            "counter",
            "Requests carrying an attack pattern, by kind, in the URL-decoded path, query, body "
            "or user agent.",
            ("kind",),
        ),
        _m(
            "brute_force_sources",
            "gauge",
            "Sources with at least the configured failures within the window, now (tracked by "
            "the log tailer).",
        ),
        _m("brute_force_detections_total", "counter", "Times a source started a brute-force run."),
        _m(
            "brute_force_tracked_sources",
            "gauge",
            "Sources in the bounded brute-force window (tracked by the log tailer).",
        ),
        _m(
            "brute_force_evictions_total",
            "counter",
            "Sources dropped from the full brute-force window (the oldest go first).",
        ),
        _m(
            "attack_sources",
            "gauge",
            "Sources whose requests carried the configured number of attacks of a blocking "
            "kind (denylist.attack-kinds) within the window, now (tracked by the log tailer).",
        ),
        _m(
            "attack_runs_total",
            "counter",
            "Times a source started such an attack run (each one blocks the source when the "
            "deny-list is on).",
        ),
        _m(
            "privilege_escalations_total",
            "counter",
            "Privilege escalations (a role or permission raised to an admin one).",
        ),
        _m("token_revocations_total", "counter", "Token, session and API key revocations."),
        _m(
            "config_changes_total",
            "counter",
            "Configuration changes, by origin: deploy_pipeline (made by a configured deployer), "
            "change_window (inside a declared window) or unplanned.",
            ("origin",),
        ),
        _m(
            "cross_tenant_attempts_total",
            "counter",
            "Requests by one tenant for another tenant's resource.",
        ),
        _m(
            "sensitive_data_total",
            "counter",
            "Secrets written to the logs, by kind (never the secret itself).",
            ("kind",),
        ),
        _m(
            "events_total",
            "counter",
            "Security events, by category; each line counts once, in the most serious category "
            "it falls in (a planned configuration change is not one).",
            ("category",),
        ),
    ),
)

DENYLIST = CollectorDef(
    "denylist",
    "the deny-list file: entries, additions, rejections",
    (
        _m(
            "denylist_entries",
            "gauge",
            "Entries in the deny-list file now, by origin: automatic (the exporter's) or "
            "manual (promfleet-denylist's).",
            ("origin",),
        ),
        _m("denylist_additions_total", "counter", "Sources the exporter added to the deny-list."),
        _m(
            "denylist_blocks_total",
            "counter",
            "Blocks made, by reason: brute_force, an attack kind, or manual (a new or renewed "
            "block by promfleet-denylist, seen in the file). A block renewed while in force "
            "counts again.",
            ("reason",),
        ),
        _m(
            "denylist_unblocks_total",
            "counter",
            "Entries an operator removed from the deny-list (promfleet-denylist unblock).",
        ),
        _m(
            "denylist_rejections_total",
            "counter",
            "Sources not written to the deny-list, by reason (not_an_address, allowed_network).",
            ("reason",),
        ),
        _m(
            "denylist_evictions_total",
            "counter",
            "Entries dropped from the full deny-list (the soonest to expire go first).",
        ),
        _m(
            "denylist_write_errors_total",
            "counter",
            "Failed rewrites of the deny-list file.",
        ),
    ),
)

COLLECTORS: tuple[CollectorDef, ...] = (LOGS, DETECTIONS, DENYLIST)
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def parse_logs(value: Any) -> tuple[LogConfig, ...]:
    """The ``logs`` option: a list of ``{name, path, format, pattern, fields, events, rotated}``."""
    if value is None or value == "":
        return ()
    if not isinstance(value, list):
        raise ValueError("expected a list of logs")
    out: list[LogConfig] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ValueError(f"log {index}: expected a mapping")
        unknown = set(entry) - {"name", "path", "format", "pattern", "fields", "events", "rotated"}
        if unknown:
            raise ValueError(f"log {index}: unknown keys {sorted(unknown)}")
        name = str(entry.get("name", ""))
        if not _NAME.fullmatch(name):
            raise ValueError(f"log {index}: name {name!r} must match {_NAME.pattern}")
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            raise ValueError(f"log {name}: path is required")
        fmt = str(entry.get("format", "json"))
        if fmt not in FORMATS:
            raise ValueError(f"log {name}: format {fmt!r} is not one of {FORMATS}")
        pattern = str(entry.get("pattern", ""))
        try:
            make_parser(fmt, pattern)
            fields = FieldMap.for_format(fmt, _mapping(entry.get("fields"), f"log {name}: fields"))
        except ValueError as err:
            raise ValueError(f"log {name}: {err}") from err
        events = dict(DEFAULT_EVENTS)
        for event, category in _mapping(entry.get("events"), f"log {name}: events").items():
            if category not in EVENT_TARGETS:
                raise ValueError(f"log {name}: event category {category!r} not in {EVENT_TARGETS}")
            events[event] = category
        rotated = entry.get("rotated", [])
        if isinstance(rotated, str):
            rotated = [rotated]
        if not isinstance(rotated, list) or not all(isinstance(r, str) for r in rotated):
            raise ValueError(f"log {name}: rotated must be a list of paths")
        out.append(LogConfig(name, path, fmt, pattern, fields, events, tuple(rotated)))
    names = [log.name for log in out]
    if len(set(names)) != len(names):
        raise ValueError("log names must be unique")
    if len(out) > 32:
        raise ValueError("at most 32 logs")
    return tuple(out)


def _mapping(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected a mapping")
    for key, item in value.items():
        if not isinstance(item, str):  # str() would make null a key named 'None'
            raise ValueError(f"{what}: {key!r} must be text, got {item!r}")
    return {str(k): v for k, v in value.items()}


def _start_at(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("end", "beginning"):
        raise ValueError(f"expected end or beginning, got {value!r}")
    return text


def _networks(value: Any) -> tuple[str, ...]:
    import ipaddress

    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of networks")
    out = []
    for item in items:
        text = str(item).strip()
        if text:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError as err:
                raise ValueError(f"bad network {text!r}") from err
            out.append(text)
    return tuple(out)


def _attack_kinds(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of attack kinds")
    kinds = {str(item).strip() for item in items} - {""}
    unknown = sorted(kinds - set(ATTACK_KINDS))
    if unknown:
        raise ValueError(f"unknown attack kinds {unknown}; expected some of {list(ATTACK_KINDS)}")
    return tuple(k for k in ATTACK_KINDS if k in kinds)


def _non_negative_int(value: Any) -> int:
    try:
        number = int(str(value), 10)
    except ValueError as err:
        raise ValueError(f"expected a whole number, got {value!r}") from err
    if number < 0:
        raise ValueError(f"expected zero or more, got {value!r}")
    return number


OPTIONS: tuple[Option, ...] = (
    Option(
        "logs",
        "Logs to follow: a list of {name, path, format: json|combined|regex, pattern, fields: "
        "{source, path, query, body, status, event, user, tenant, target_tenant, user_agent, "
        "reason, role, time}, events: {event value: category}, rotated: [where rotation leaves "
        "the previous files, newest first; default PATH.1]}.",
        [],
        parse_logs,
        structured=True,
    ),
    Option(
        "start-at", "Where a log with no saved position starts: end or beginning.", "end", _start_at
    ),
    Option(
        "position.file", "File that keeps each log's read position across restarts.", "", parse_str
    ),
    Option(
        "poll-interval",
        "How often idle logs are checked for new lines.",
        0.25,
        parse_duration,
    ),
    Option(
        "line.max-bytes",
        "Longer lines are skipped and counted as too_long.",
        65536,
        parse_positive_int,
    ),
    Option(
        "brute-force.failures",
        "Failures from one source that make a brute-force run.",
        5,
        parse_positive_int,
    ),
    Option(
        "brute-force.window", "Window the brute-force failures must fall in.", 300.0, parse_duration
    ),
    Option(
        "brute-force.max-sources",
        "Most sources tracked at once (the oldest are evicted; about 220 bytes each).",
        100_000,
        parse_positive_int,
    ),
    Option(
        "denylist.file",
        "nginx deny-list file to write offending sources to (off when empty).",
        "",
        parse_str,
    ),
    Option(
        "denylist.ttl",
        "How long an automatic block lasts: 1h to 24h.",
        DEFAULT_BLOCK_SECONDS,
        parse_block_duration,
    ),
    Option(
        "denylist.attack-kinds",
        "Attack kinds whose requests block their source (any of "
        + ", ".join(ATTACK_KINDS)
        + "; empty: attacks block nothing).",
        tuple(k for k in ATTACK_KINDS if k in CRITICAL_ATTACK_KINDS),
        _attack_kinds,
        structured=True,
    ),
    Option(
        "denylist.attack-requests",
        "Requests of a blocking attack kind from one source, within denylist.attack-window, "
        "that block it.",
        ATTACK_BLOCK_REQUESTS,
        parse_positive_int,
    ),
    Option(
        "denylist.attack-window",
        "Window the blocking attack requests must fall in.",
        ATTACK_BLOCK_WINDOW_SECONDS,
        parse_duration,
    ),
    Option("denylist.max-entries", "Most entries in the deny-list.", 10_000, parse_positive_int),
    Option(
        "denylist.never",
        "Networks never written to the deny-list.",
        ("127.0.0.0/8", "::1/128"),
        _networks,
        structured=True,
    ),
    Option(
        "config-change.deployers",
        "Actors (the log's user field) whose configuration changes are the deploy "
        "pipeline's: counted as deploy_pipeline, not as drift.",
        (),
        parse_names,
        structured=True,
    ),
    Option(
        "config-change.windows",
        "Change windows in UTC, each [DAYS ]HH:MM-HH:MM (Mon-Fri 09:00-17:00, Tue "
        "20:00-22:00): a change inside one counts as change_window, not as drift.",
        (),
        parse_windows,
        structured=True,
    ),
    Option(
        "memory.mmap-threshold",
        "Pin glibc's mmap threshold (bytes) so RSS stays flat under churn; 0 leaves "
        "glibc's adaptive default.",
        262_144,
        _non_negative_int,
    ),
)


@dataclass
class SecurityState:
    """What ``build`` starts and ``close`` stops: the engine, its tailer and deny-list."""

    engine: Engine
    tailer: Tailer
    denylist: DenyList | None

    def snapshot(self) -> Snapshot:
        return self.engine.snapshot()

    def stop(self) -> None:
        self.tailer.stop()


_FAMILIES = Families(METRICS, NS + "_")
_family = _FAMILIES.family


class TailerStopped(RuntimeError):
    """The background thread that reads the logs has died."""


class LogsCollector(BlockingCollector):
    """Tailing health, per configured log::

    promfleet_security_log_lines_total{log="nginx"} 120345.0
    promfleet_security_log_lines_skipped_total{log="nginx",reason="parse_error"} 3.0
    promfleet_security_log_rotations_total{log="nginx",kind="rename"} 1.0
    """

    name = "logs"

    def __init__(self, state: SecurityState) -> None:
        self.state = state

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        if self.state.tailer.failed:
            # Counts would stay frozen while looking healthy: fail the collector instead,
            # so scrape_collector_success{collector="logs"} says so (the error is logged).
            raise TailerStopped("the log tailer thread stopped; the security counts are stale")
        snap = self.state.snapshot()
        logs = snap.logs
        yield _family("log_lines_total", {(n,): c.lines for n, c in logs.items()})
        yield _family(
            "log_lines_skipped_total",
            {(n, r): c.skipped[r] for n, c in logs.items() for r in SKIP_REASONS},
        )
        yield _family("log_lines_bad_field_total", {(n,): c.bad_field for n, c in logs.items()})
        yield _family(
            "log_rotations_total",
            {(n, k): v for n, c in logs.items() for k, v in c.rotations.items()},
        )
        yield _family("log_read_errors_total", {(n,): c.read_errors for n, c in logs.items()})
        yield _family("log_file_present", {(n,): float(c.present) for n, c in logs.items()})
        yield _family("log_offset_bytes", {(n,): c.offset for n, c in logs.items()})
        yield _family("log_size_bytes", {(n,): c.size for n, c in logs.items()})
        yield _family("position_write_errors_total", {(): self.state.tailer.position_errors})


class DetectionsCollector(BlockingCollector):
    """What the logs say, from small fixed label sets::

    promfleet_security_auth_failures_total{reason="bad_password"} 42.0
    promfleet_security_attacks_total{kind="sql_injection"} 7.0
    promfleet_security_brute_force_sources 2.0
    """

    name = "detections"

    def __init__(self, state: SecurityState) -> None:
        self.state = state

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        snap = self.state.snapshot()
        yield _family("auth_failures_total", {(r,): snap.auth_failures[r] for r in AUTH_REASONS})
        yield _family("http_denied_responses_total", {(c,): snap.denied[c] for c in DENIED_CODES})
        yield _family("rate_limited_total", {(): snap.rate_limited})
        yield _family("attacks_total", {(k,): snap.attacks[k] for k in ATTACK_KINDS})
        yield _family("brute_force_sources", {(): snap.brute_force_sources})
        yield _family("brute_force_detections_total", {(): snap.brute_force_detections})
        yield _family("brute_force_tracked_sources", {(): snap.brute_force_tracked})
        yield _family("brute_force_evictions_total", {(): snap.brute_force_evictions})
        yield _family("attack_sources", {(): snap.attack_sources})
        yield _family("attack_runs_total", {(): snap.attack_runs})
        yield _family("privilege_escalations_total", {(): snap.privilege_escalations})
        yield _family("token_revocations_total", {(): snap.token_revocations})
        yield _family(
            "config_changes_total", {(o,): snap.config_changes[o] for o in CHANGE_ORIGINS}
        )
        yield _family("cross_tenant_attempts_total", {(): snap.cross_tenant})
        yield _family("sensitive_data_total", {(k,): snap.sensitive[k] for k in SENSITIVE_KINDS})
        yield _family("events_total", {(c,): snap.events[c] for c in EVENT_CATEGORIES})


class DenyListCollector(BlockingCollector):
    """The automated response, and the operators' manual blocks::

    promfleet_security_denylist_entries{origin="automatic"} 3.0
    promfleet_security_denylist_entries{origin="manual"} 1.0
    promfleet_security_denylist_blocks_total{reason="sql_injection"} 2.0
    promfleet_security_denylist_rejections_total{reason="not_an_address"} 2.0
    """

    name = "denylist"

    def __init__(self, state: SecurityState) -> None:
        self.state = state

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        deny = self.state.denylist
        if deny is None:
            yield _family("denylist_entries", {(o,): 0 for o in ORIGINS})
            yield _family("denylist_additions_total", {(): 0})
            yield _family("denylist_blocks_total", {(r,): 0 for r in BLOCK_REASONS})
            yield _family("denylist_unblocks_total", {(): 0})
            yield _family("denylist_rejections_total", {(r,): 0 for r in REJECT_REASONS})
            yield _family("denylist_evictions_total", {(): 0})
            yield _family("denylist_write_errors_total", {(): 0})
            return
        counts = deny.counts()
        yield _family("denylist_entries", {(o,): counts[o] for o in ORIGINS})
        yield _family("denylist_additions_total", {(): deny.additions})
        yield _family("denylist_blocks_total", {(r,): deny.blocks[r] for r in BLOCK_REASONS})
        yield _family("denylist_unblocks_total", {(): deny.unblocks})
        yield _family("denylist_rejections_total", {(r,): deny.rejected[r] for r in REJECT_REASONS})
        yield _family("denylist_evictions_total", {(): deny.dropped})
        yield _family("denylist_write_errors_total", {(): deny.write_errors})


def start(settings: Settings) -> SecurityState:
    """Build the engine, the deny-list and the tailer from settings, and start tailing."""
    logs: tuple[LogConfig, ...] = settings["logs"]
    policy = BruteForcePolicy(
        failures=settings["brute-force.failures"],
        window_seconds=settings["brute-force.window"],
        max_sources=settings["brute-force.max-sources"],
    )
    if policy.window_seconds <= 0:
        raise OptionError("brute-force.window: must be more than zero")
    denylist = None
    if settings["denylist.file"]:
        denylist = DenyList(
            settings["denylist.file"],
            ttl_seconds=settings["denylist.ttl"],
            max_entries=settings["denylist.max-entries"],
            never=settings["denylist.never"],
        )
        denylist.load()  # a restart keeps the blocks that have not expired yet
    attack_policy = AttackBlockPolicy(
        kinds=frozenset(settings["denylist.attack-kinds"]),
        requests=settings["denylist.attack-requests"],
        window_seconds=settings["denylist.attack-window"],
        max_sources=settings["brute-force.max-sources"],
    )
    if attack_policy.window_seconds <= 0:
        raise OptionError("denylist.attack-window: must be more than zero")
    engine = Engine(
        logs,
        policy,
        attack_policy=attack_policy,
        on_attack=denylist.add if denylist is not None else None,
        on_detection=denylist.add if denylist is not None else None,
        max_line_chars=settings["line.max-bytes"],
        changes=ChangePolicy(
            deployers=frozenset(settings["config-change.deployers"]),
            windows=tuple(settings["config-change.windows"]),
        ),
    )
    positions = PositionFile(settings["position.file"]) if settings["position.file"] else None
    saved = positions.load() if positions else {}
    followers = [
        LogFollower(
            log,
            engine,
            max_line_bytes=settings["line.max-bytes"],
            start_at_end=settings["start-at"] == "end",
            saved=saved.get(log.name),
        )
        for log in logs
    ]
    tailer = Tailer(
        engine,
        followers,
        poll_seconds=max(0.01, settings["poll-interval"]),
        positions=positions,
        housekeeping=denylist.flush if denylist is not None else None,
    )
    tailer.run_once()  # the first pass before the first scrape: files open, positions taken
    if denylist is not None:
        denylist.flush()
    tailer.start()
    return SecurityState(engine, tailer, denylist)


def build(settings: Settings) -> Sequence[Collector]:
    pin_mmap_threshold(int(option_value(OPTIONS, settings, "memory.mmap-threshold")))
    state = start(settings)
    return (LogsCollector(state), DetectionsCollector(state), DenyListCollector(state))


def close(collectors: Sequence[Collector]) -> None:
    for collector in collectors:
        if isinstance(collector, LogsCollector):
            collector.state.stop()
            return


EXPORTER = ExporterDef(
    name="security",
    namespace=NS,
    description="Access and authentication logs turned into security metrics (tailed "
    "continuously).",
    metrics=METRICS,
    collectors=COLLECTORS,
    options=OPTIONS,
    build=build,
    close=close,
    default_port=9105,
)
