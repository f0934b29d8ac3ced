"""Structured logging: one JSON object per line on stderr, with secret values redacted.

A record's ``extra={"fields": {...}}`` becomes top-level keys of the JSON object::

    {"ts": "2024-05-01T12:00:00.123Z", "level": "error", "logger": "promfleet.runtime",
     "msg": "collector failed", "collector": "cpu", "error": "OSError: ..."}
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import time
from collections.abc import Iterable
from types import FrameType
from typing import Any, TextIO
from urllib.parse import unquote

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}


# The password inside a URL (``scheme://user:PASSWORD@host``) or a libpq key/value DSN
# (``password=PASSWORD`` or ``password='PASS WORD'``).
_URL_PASSWORD = re.compile(r"://[^/@\s:]*:([^@\s]+)@")
_DSN_PASSWORD = re.compile(r"\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))")


def secret_fragments(secret: str) -> set[str]:
    """The secret itself and the password inside it, if it is a URL or a DSN.

    A driver's error may quote part of a DSN (its password, or the DSN re-ordered)
    rather than the whole string, so the password is redacted on its own too.
    """
    out = {secret}
    for match in _URL_PASSWORD.finditer(secret):
        out.add(match.group(1))
        out.add(unquote(match.group(1)))
    for match in _DSN_PASSWORD.finditer(secret):
        quoted = match.group(1)
        out.add(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(2))
    return out


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line, replacing every known secret value.

    Each secret is redacted as given and, when it is a URL or a DSN, its password on
    its own; also as it appears once JSON-escaped (a quote or backslash in it).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        found: set[str] = set()
        for secret in secrets:
            for fragment in secret_fragments(secret):
                found.add(fragment)
                found.add(json.dumps(fragment, ensure_ascii=False)[1:-1])
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        millis = int(record.msecs)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{millis:03d}Z",
            "level": _NAMES.get(record.levelno, "error"),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                out.setdefault(str(key), value)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
        return self.redact(json.dumps(out, default=str, ensure_ascii=False))


def setup_logging(
    level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Route every logger to one JSON handler on stderr at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # aiohttp's access log is one line per scrape: noise at info.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def log_event(logger: str, event: str, **fields: Any) -> None:
    """One event as a JSON line on stderr, for the small programs that set up no logging
    (the demo writers, the stack runner): ``{"ts": ..., "logger": ..., "event": ...}``.
    Callers never pass a secret."""
    record = {"ts": round(time.time(), 3), "logger": logger, "event": event, **fields}
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()


class Stopped(Exception):
    """Raised by :func:`stop_on_signals`'s handler; its text is the signal's name."""


def stop_on_signals(*signals: signal.Signals) -> None:
    """Leave a blocking loop by raising :class:`Stopped` on each of ``signals``
    (SIGTERM and SIGINT when none are named)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    for each in signals or (signal.SIGTERM, signal.SIGINT):
        signal.signal(each, handler)
