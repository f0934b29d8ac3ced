"""Which configuration changes were planned: the deploy pipeline's, or inside a change window.

A deploy changes configuration every time; only a change nobody planned is drift. A
change is ``deploy_pipeline`` when its actor (the log's ``user`` field) is one of the
configured deployers, ``change_window`` when it happened inside a declared window (UTC),
otherwise ``unplanned``. Windows read ``[DAYS ]HH:MM-HH:MM``: ``Tue 20:00-22:00``,
``Mon-Fri 09:00-17:00``, ``Sat,Sun 02:00-06:00`` or ``01:00-03:00`` (every day); an end
at or before the start runs past midnight into the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CHANGE_ORIGINS = ("deploy_pipeline", "change_window", "unplanned")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"(?:(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*)\s+)?"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})"
)
_WEEK = 7 * 86400


def _minute(text: str, window: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"change window {window!r}: {text} is not a time of day")
    return hours * 60 + minutes


def _day(name: str, window: str) -> int:
    try:
        return _DAYS.index(name.lower())
    except ValueError as err:
        raise ValueError(f"change window {window!r}: {name!r} is not a weekday") from err


@dataclass(frozen=True)
class ChangeWindow:
    """Weekdays (0 = Monday) and minutes of the day, in UTC; ``end`` may pass midnight."""

    days: frozenset[int]
    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> ChangeWindow:
        match = _WINDOW.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"change window {text!r}: expected [DAYS ]HH:MM-HH:MM")
        days: set[int] = set()
        for part in (match["days"] or "mon-sun").split(","):
            first, _, last = part.partition("-")
            low, high = _day(first, text), _day(last or first, text)
            span = range(low, high + 1) if low <= high else (*range(low, 7), *range(high + 1))
            days.update(span)
        return cls(frozenset(days), _minute(match["start"], text), _minute(match["end"], text))

    def contains(self, when: float) -> bool:
        """True when the Unix time ``when`` falls inside the window."""
        # 1970-01-01 was a Thursday (weekday 3).
        seconds = int(when) % _WEEK
        day = (seconds // 86400 + 3) % 7
        minute = (seconds % 86400) // 60
        if self.start_minute < self.end_minute:
            return day in self.days and self.start_minute <= minute < self.end_minute
        # Past midnight: the evening belongs to a listed day, the early hours to its next.
        return (day in self.days and minute >= self.start_minute) or (
            (day - 1) % 7 in self.days and minute < self.end_minute
        )


@dataclass(frozen=True)
class ChangePolicy:
    """Who deploys (actors whose changes are the pipeline's) and when changes are planned."""

    deployers: frozenset[str] = frozenset()
    windows: tuple[ChangeWindow, ...] = ()

    def origin(self, actor: str | None, when: float) -> str:
        """``deploy_pipeline``, ``change_window`` or ``unplanned``."""
        if actor is not None and actor in self.deployers:
            return "deploy_pipeline"
        if any(window.contains(when) for window in self.windows):
            return "change_window"
        return "unplanned"


def parse_windows(value: Any) -> tuple[ChangeWindow, ...]:
    """The ``config-change.windows`` option: a list (or comma-free lines) of windows."""
    if value is None or value == "":
        return ()
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of change windows")
    return tuple(ChangeWindow.parse(str(item)) for item in items if str(item).strip())


def parse_names(value: Any) -> frozenset[str]:
    """The ``config-change.deployers`` option: a list, or comma-separated names."""
    if value is None or value == "":
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of names")
    return frozenset(str(item).strip() for item in items if str(item).strip())
