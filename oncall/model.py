"""Alerts, silences and matchers as Alertmanager's v2 API returns them, and how they match.

An acknowledgement is a silence whose comment starts with :data:`ACK_PREFIX`; any other
silence is a maintenance silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from generator.model import Severity
from oncall.durations import parse_time

ACK_PREFIX = "ack: "

# The labels every row shows in columns of their own; the rest are shown compactly.
SHOWN_LABELS = ("alertname", "severity", "team", "instance")


@dataclass(frozen=True)
class Matcher:
    """One silence matcher; equality unless ``is_regex``, negated unless ``is_equal``."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        # As in Alertmanager: a missing label has the value "".
        actual = labels.get(self.name, "")
        if self.is_regex:
            hit = re.fullmatch(self.value, actual) is not None
        else:
            hit = actual == self.value
        return hit == self.is_equal

    def __str__(self) -> str:
        op = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}[
            (self.is_equal, self.is_regex)
        ]
        return f'{self.name}{op}"{self.value}"'

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(
            name=str(data["name"]),
            value=str(data["value"]),
            is_regex=bool(data.get("isRegex", False)),
            is_equal=bool(data.get("isEqual", True)),
        )


@dataclass(frozen=True)
class Silence:
    """A silence; ``state`` is ``active``, ``pending`` or ``expired``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str

    @property
    def is_ack(self) -> bool:
        return self.comment.startswith(ACK_PREFIX)

    @property
    def reason(self) -> str:
        """The comment without the ack prefix."""
        return self.comment.removeprefix(ACK_PREFIX)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the silence was in force at some moment of [start, end]."""
        return self.starts_at <= end and self.ends_at >= start

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=tuple(Matcher.from_json(m) for m in data.get("matchers", ())),
            starts_at=parse_time(str(data["startsAt"])),
            ends_at=parse_time(str(data["endsAt"])),
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
            state=str(data.get("status", {}).get("state", "")),
        )

    def describe(self) -> str:
        """``{alertname="X", instance="h"} by alice: comment`` in one line."""
        matchers = ", ".join(str(m) for m in self.matchers)
        return f"{{{matchers}}} by {self.created_by or '(nobody)'}: {self.comment}"


@dataclass(frozen=True)
class Alert:
    """An alert Alertmanager holds now (firing), with who mutes it."""

    labels: Mapping[str, str]
    starts_at: datetime
    state: str
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def other_labels(self) -> dict[str, str]:
        """The labels not shown in a column of their own."""
        return {k: v for k, v in sorted(self.labels.items()) if k not in SHOWN_LABELS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        status = data.get("status", {})
        return cls(
            labels={str(k): str(v) for k, v in data.get("labels", {}).items()},
            starts_at=parse_time(str(data["startsAt"])),
            state=str(status.get("state", "")),
            silenced_by=tuple(str(s) for s in status.get("silencedBy") or ()),
            inhibited_by=tuple(str(s) for s in status.get("inhibitedBy") or ()),
        )


def severity_rank(severity: str) -> int:
    """Higher is more urgent; an unknown severity ranks below info."""
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


def format_labels(labels: Mapping[str, str]) -> str:
    """``{alertname="X", instance="h"}``: sorted, alertname first."""
    ordered = sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
    return "{" + ", ".join(f'{k}="{v}"' for k, v in ordered) + "}"


def compact_labels(labels: Mapping[str, str]) -> str:
    """``job=demo,zone=a``: the other identifying labels in one short cell."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def matching(alerts: Sequence[Alert], matchers: Sequence[Matcher]) -> list[Alert]:
    """The alerts every matcher matches."""
    return [a for a in alerts if all(m.matches(a.labels) for m in matchers)]
