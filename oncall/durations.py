"""Durations and times as an on-call engineer types and reads them: ``1h30m``, ``2h10m``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from oncall.errors import OncallError

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str, *, what: str, most_seconds: int) -> int:
    """Seconds in ``text`` (``30m``, ``2h``, ``1d``, ``1h30m``): positive, at most
    ``most_seconds``; otherwise an :class:`OncallError` naming ``what``."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise OncallError(f"{what} {text!r} is not a duration: write it like 30m, 2h, 1d or 1h30m")
    seconds = sum(
        int(amount) * size
        for amount, (_, size) in zip(match.groups(), _UNITS, strict=True)
        if amount
    )
    if seconds <= 0:
        raise OncallError(f"{what} {text!r} must be longer than zero")
    if seconds > most_seconds:
        raise OncallError(f"{what} {text!r} is too long: at most {format_duration(most_seconds)}")
    return seconds


def format_duration(seconds: float) -> str:
    """``45s``, ``5m``, ``2h10m``, ``3d``, ``3d4h``: the two largest units, rounded down."""
    left = max(0, int(seconds))
    if left < 60:
        return f"{left}s"
    parts: list[tuple[int, str]] = []
    for unit, size in _UNITS[:3]:
        amount, left = divmod(left, size)
        if amount or parts:
            parts.append((amount, unit))
    shown = parts[:2]
    return "".join(f"{amount}{unit}" for amount, unit in shown if amount) or "0m"


def parse_time(text: str) -> datetime:
    """An RFC 3339 time from Alertmanager or Prometheus, as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def format_time(moment: datetime) -> str:
    """A time for people: local time with its zone, e.g. ``2024-05-01 14:32 CEST``."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def rfc3339(moment: datetime) -> str:
    """A time for the APIs: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )
