"""Log formats of the security exporter: JSON lines, nginx/Apache combined, custom regex.

A parser turns one decoded line into a flat record (``dict``) or ``None`` when the line
does not parse; :class:`FieldMap` says which record key holds each logical field.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FORMATS = ("json", "combined", "regex")
LOGICAL_FIELDS = (
    "source",
    "path",
    "query",
    "body",
    "status",
    "event",
    "user",
    "tenant",
    "target_tenant",
    "user_agent",
    "reason",
    "role",
    "time",
)

Record = dict[str, Any]
Parser = Callable[[str], "Record | None"]

_DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "json": {**{name: name for name in LOGICAL_FIELDS}, "source": "ip"},
    "combined": {
        "source": "remote_addr",
        "path": "path",
        "query": "query",
        "status": "status",
        "user": "remote_user",
        "user_agent": "http_user_agent",
        "time": "time_local",
    },
    "regex": {name: name for name in LOGICAL_FIELDS},
}

_COMBINED = re.compile(
    r"(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]*)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-)'
    r'(?: "(?P<http_referer>(?:[^"\\]|\\.)*)" "(?P<http_user_agent>(?:[^"\\]|\\.)*)")?.*'
)


@dataclass(frozen=True)
class FieldMap:
    """Record key for each logical field; an empty string means the log has no such field."""

    source: str = ""
    path: str = ""
    query: str = ""
    body: str = ""
    status: str = ""
    event: str = ""
    user: str = ""
    tenant: str = ""
    target_tenant: str = ""
    user_agent: str = ""
    reason: str = ""
    role: str = ""
    time: str = ""
    request_fields: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        keys = tuple(k for k in (self.path, self.query, self.body) if k)
        object.__setattr__(self, "request_fields", keys)

    @classmethod
    def for_format(cls, fmt: str, overrides: Mapping[str, str] | None = None) -> FieldMap:
        """The format's defaults with ``overrides`` applied (unknown names are refused)."""
        values = dict(_DEFAULT_FIELDS[fmt])
        for name, key in (overrides or {}).items():
            if name not in LOGICAL_FIELDS:
                raise ValueError(f"unknown field {name!r}; expected one of {LOGICAL_FIELDS}")
            if not isinstance(key, str):
                raise ValueError(f"field {name!r} must name a key, got {key!r}")
            values[name] = key
        return cls(**values)


_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def parse_json(line: str) -> Record | None:
    """One JSON object per line; anything else (arrays, trailing garbage) is ``None``."""
    try:
        value, end = _scan_json(line, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    if end != len(line) and line[end:].strip():
        return None
    return value if type(value) is dict else None


def parse_combined(line: str) -> Record | None:
    """The nginx/Apache combined (or common) format; the request is split into path and query."""
    match = _COMBINED.fullmatch(line)
    if match is None:
        return None
    record: Record = match.groupdict()
    request = record["request"]
    parts = request.split(" ")
    target = parts[1] if len(parts) >= 2 else request
    path, _, query = target.partition("?")
    record["method"] = parts[0]
    record["path"] = path
    record["query"] = query
    return record


def regex_parser(pattern: str) -> Parser:
    """A parser for a user-defined regular expression with named groups."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"bad regular expression: {err}") from err
    if not compiled.groupindex:
        raise ValueError("the regular expression has no named groups")

    def parse(line: str) -> Record | None:
        match = compiled.search(line)
        return None if match is None else match.groupdict()

    return parse


def make_parser(fmt: str, pattern: str = "") -> Parser:
    if fmt == "json":
        return parse_json
    if fmt == "combined":
        return parse_combined
    if fmt == "regex":
        return regex_parser(pattern)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


# Timestamps: only read on failure lines (brute-force windows), so speed matters less.

_CLF_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from epoch numbers (s or ms), ISO 8601, or ``10/Oct/2000:13:55:36 -0700``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return None
        return number / 1000.0 if number > 1e11 else number
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        if value[0].isdigit() and "/" in value[:7]:
            return datetime.strptime(value, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        if value.replace(".", "", 1).isdigit():
            return parse_timestamp(float(value))
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        return None  # a naive local time is ambiguous; the caller falls back to "now"
    return moment.timestamp()
