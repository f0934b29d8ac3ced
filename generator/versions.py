"""Version gates: what a rule file may hold for the Prometheus it is written for.

``prometheus_version`` (a setting, default the Debian 2.42) names the target. A rule
field or PromQL function that version does not know would fail at load time, so
:func:`gate_groups` refuses it, naming the file, group, rule and the version it needs;
with ``version_gate: omit`` a field whose absence is safe to explain is left out
instead, and a note says what was lost. A function is always refused: an expression
cannot be rewritten without changing what it means.

The gates work on rule groups as plain mappings (a rule file as parsed, or the rules
renderer's groups), so every group reaches them, whatever produced it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class Version(NamedTuple):
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch else "")


_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?$")
GATE_POLICIES = ("refuse", "omit")
GATE_NOTE_PREFIX = "prometheus_version "  # how every note of the gate starts


def parse_version(text: str) -> Version:
    """``2.42``, ``2.42.0`` or ``v2.53.1``; ValueError naming the text otherwise."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a Prometheus version like 2.42 or 2.53.1: {text!r}")
    major, minor, patch = match.groups()
    version = Version(int(major), int(minor), int(patch or 0))
    if version < Version(2, 0):
        raise ValueError(f"Prometheus {version} reads no YAML rule files; 2.0 is the oldest")
    return version


@dataclass(frozen=True)
class Feature:
    """A rule-file feature and the first Prometheus release that loads it.

    ``where`` is ``rule`` (a key of a rule), ``group`` (a key of a rule group) or
    ``function`` (a PromQL function in an ``expr``). ``if_omitted`` is what leaving a
    field out costs, said in the note; empty: it cannot be left out, only refused.
    """

    name: str
    where: str
    since: Version
    if_omitted: str = ""


FEATURES: tuple[Feature, ...] = (
    Feature("keep_firing_for", "rule", Version(2, 42),
            "the alert resolves as soon as its series vanish (a dead exporter reads as "
            "resolved)"),
    Feature("limit", "group", Version(2, 31),
            "nothing caps how many series or alerts the group may produce"),
    # Evaluating without the offset reads data remote write has not delivered yet:
    # alerts on incomplete data, so it is only ever refused.
    Feature("query_offset", "group", Version(2, 53)),
    Feature("histogram_count", "function", Version(2, 40)),
    Feature("histogram_sum", "function", Version(2, 40)),
    Feature("histogram_fraction", "function", Version(2, 40)),
    Feature("histogram_stddev", "function", Version(2, 46)),
    Feature("histogram_stdvar", "function", Version(2, 46)),
    Feature("histogram_avg", "function", Version(2, 53)),
)


class VersionError(ValueError):
    """Rules that need a newer Prometheus than the target; the message names each one."""


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def functions_called(expr: str) -> set[str]:
    """Names called as functions in ``expr`` (string literals left out)."""
    bare = _STRING.sub('""', expr)
    return set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\(", bare))


def _present(value: Any) -> bool:
    return value not in (None, "", (), [], {})


def gate_groups(
    groups: Sequence[Mapping[str, Any]], where: str, target: Version, policy: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """``groups`` as ``target`` can load them, and the notes on what was left out.

    Raises :class:`VersionError` naming every feature that cannot be kept or left out
    (``policy`` ``refuse``, or a feature with nothing to say when omitted).
    """
    problems: list[str] = []
    dropped: dict[str, int] = {}
    out: list[dict[str, Any]] = []

    def unsupported(feature: Feature, place: str) -> bool:
        """True when the feature is to be left out; records a problem when refused."""
        if target >= feature.since:
            return False
        if policy == "omit" and feature.if_omitted:
            dropped[feature.name] = dropped.get(feature.name, 0) + 1
            return True
        hint = (" (or version_gate=omit to leave it out)"
                if feature.if_omitted and policy != "omit" else "")
        problems.append(f"{place}: {feature.name} needs Prometheus {feature.since}, "
                        f"prometheus_version is {target}{hint}")
        return False

    for group in groups:
        name = group.get("name", "?")
        kept_group = dict(group)
        for feature in FEATURES:
            if (feature.where == "group" and _present(group.get(feature.name))
                    and unsupported(feature, f"{where}: group {name!r}")):
                del kept_group[feature.name]
        rules = []
        for rule in group.get("rules") or ():
            label = rule.get("alert") or rule.get("record") or "?"
            place = f"{where}: group {name!r}, rule {label!r}"
            kept_rule = dict(rule)
            for feature in FEATURES:
                if (feature.where == "rule" and _present(rule.get(feature.name))
                        and unsupported(feature, place)):
                    del kept_rule[feature.name]
            called = functions_called(str(rule.get("expr", "")))
            for feature in FEATURES:
                if feature.where == "function" and feature.name in called:
                    unsupported(feature, place)
            rules.append(kept_rule)
        kept_group["rules"] = rules
        out.append(kept_group)
    if problems:
        raise VersionError("rules the target Prometheus cannot load:\n  " + "\n  ".join(problems))
    notes = [
        f"{GATE_NOTE_PREFIX}{target}: {name} left out of {count} "
        f"{'rule' if _feature(name).where == 'rule' else 'group'}(s) (version_gate=omit): "
        f"{_feature(name).if_omitted}; Prometheus {_feature(name).since} keeps it"
        for name, count in sorted(dropped.items())
    ]
    return out, notes


def _feature(name: str) -> Feature:
    return next(f for f in FEATURES if f.name == name)
