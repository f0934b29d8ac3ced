"""Generator settings: defaults from :class:`generator.model.Settings`, then a YAML file,
then ``--set key=value`` pairs, checked once and frozen.

A value given as text is parsed by the field's type: ``true``/``false`` for booleans,
a whole number for counts (``shard_count``), a YAML mapping ``{job: [address, ...]}``
for ``targets``, text otherwise. Duration
settings must read like ``15s`` or ``1m30s``; URLs like ``http://...``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from generator.model import Settings
from generator.versions import GATE_POLICIES, parse_version

_DURATION = re.compile(r"^(0|(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
DURATION_FIELDS = frozenset(
    {
        "scrape_interval",
        "evaluation_interval",
        "scrape_timeout",
        "alertmanager_group_wait",
        "alertmanager_group_interval",
        "alertmanager_repeat_interval",
        "alertmanager_resolve_timeout",
        "alert_for_override",
        "prometheus_retention",
        "alertmanager_retention",
    }
)
URL_FIELDS = frozenset({"runbook_base_url", "dashboard_base_url", "webhook_override_url"})
MAPPING_FIELDS = frozenset(
    {"kubernetes_rule_labels", "thanos_partial_response_strategy", "mimir_source_tenants"}
)
LIST_FIELDS = frozenset({"kubernetes_probe_targets"})
# Kubernetes names: a namespace is a DNS-1123 label, an object a DNS-1123 subdomain; a
# label value is at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_LABEL_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
PARTIAL_RESPONSE_STRATEGIES = ("abort", "warn")


class SettingsError(ValueError):
    """Settings that cannot be used; the message names every bad key."""


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration (``1h30m`` -> 5400.0); ValueError when malformed."""
    if not text or not _DURATION.match(text):
        raise ValueError(f"not a duration like 15s or 1m30s: {text!r}")
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|d|h|m|s)", text):
        total += int(number) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def _coerce(name: str, current: Any, value: Any) -> Any:
    """Turn a YAML or command-line value into the type of the field's default."""
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "1", "on"}:
            return True
        if text in {"false", "no", "0", "off"}:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if name == "targets":
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value) if value.strip() else {}
            except yaml.YAMLError as err:
                raise ValueError(f"not a YAML mapping: {err}") from err
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of job to a list of addresses")
        out = []
        for job, addresses in sorted(value.items()):
            if isinstance(addresses, str):
                addresses = [addresses]
            if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
                raise ValueError(f"targets.{job}: expected a list of host:port strings")
            out.append((str(job), tuple(addresses)))
        return tuple(out)
    if name in MAPPING_FIELDS:
        return _mapping(name, value)
    if name in LIST_FIELDS:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of names (or one comma-separated text)")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return str(value)


def _mapping(name: str, value: Any) -> tuple[tuple[str, Any], ...]:
    """A mapping setting as sorted pairs: ``key: text`` (``key: [text, ...]`` for
    ``mimir_source_tenants``), from YAML or from ``--set name={key: value}``."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else {}
        except yaml.YAMLError as err:
            raise ValueError(f"not a YAML mapping: {err}") from err
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of name: value")
    out: list[tuple[str, Any]] = []
    for key, item in sorted(value.items(), key=lambda kv: str(kv[0])):
        if name == "mimir_source_tenants":
            if isinstance(item, str):
                item = [item]
            if (not isinstance(item, list) or not item
                    or not all(isinstance(v, str) and v for v in item)):
                raise ValueError(f"{key}: expected a non-empty list of tenant names")
            out.append((str(key), tuple(item)))
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            out.append((str(key), str(item)))
        else:
            raise ValueError(f"{key}: expected text, got {type(item).__name__}")
    return tuple(out)


def _check(settings: Settings) -> list[str]:
    problems = []
    for name in sorted(DURATION_FIELDS):
        value = getattr(settings, name)
        if value == "" and name.startswith(("alertmanager_", "alert_for")):
            continue  # empty: no override
        try:
            duration_seconds(value)
        except ValueError as err:
            problems.append(f"{name}: {err}")
    for name in sorted(URL_FIELDS):
        value = getattr(settings, name)
        if value == "" and name == "webhook_override_url":
            continue
        if not re.match(r"^https?://[^\s]+$", value):
            problems.append(f"{name}: expected an http:// or https:// URL, got {value!r}")
    if not re.fullmatch(r"[1-9][0-9]*", settings.slo_window_divisor):
        problems.append(
            f"slo_window_divisor: expected a whole number of 1 or more, got "
            f"{settings.slo_window_divisor!r}"
        )
    if settings.secrets_dir == "":
        problems.append("secrets_dir: must not be empty")
    label = settings.cluster_label
    if label and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) or label.startswith("__")):
        problems.append(f"cluster_label: {label!r} is not a label name")
    return problems + _scale_problems(settings) + _check_deploy(settings)


# The smallest sensible value of each scale-out setting, and why.
_SCALE_MINIMUM = {
    "shard_count": (1, "the scrape targets are split over at least one shard"),
    "ha_replicas": (2, "an HA pair needs two Prometheus replicas"),
    "alertmanager_cluster_size": (1, "at least one Alertmanager receives the alerts"),
}


def _scale_problems(settings: Settings) -> list[str]:
    problems = []
    for name, (least, why) in _SCALE_MINIMUM.items():
        value = getattr(settings, name)
        if value < least:
            problems.append(f"{name}: must be at least {least} ({why}), got {value}")
    label = settings.ha_replica_label
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) or label.startswith("__"):
        problems.append(f"ha_replica_label: {label!r} is not a label name (letters, digits "
                        "and _, not starting with a digit or __)")
    return problems


def _check_deploy(settings: Settings) -> list[str]:
    """The version gate's and deploy/'s settings."""
    problems = []
    try:
        parse_version(settings.prometheus_version)
    except ValueError as err:
        problems.append(f"prometheus_version: {err}")
    if settings.version_gate not in GATE_POLICIES:
        problems.append(f"version_gate: expected one of {', '.join(GATE_POLICIES)}, "
                        f"got {settings.version_gate!r}")
    if not _DNS_LABEL.match(settings.kubernetes_namespace):
        problems.append("kubernetes_namespace: expected a Kubernetes namespace name (lower-case "
                        "letters, digits and '-', at most 63), got "
                        f"{settings.kubernetes_namespace!r}")
    if not _DNS_SUBDOMAIN.match(settings.kubernetes_secret):
        problems.append("kubernetes_secret: expected a Kubernetes object name, got "
                        f"{settings.kubernetes_secret!r}")
    for key, value in settings.kubernetes_rule_labels:
        if not _LABEL_NAME.match(key):
            problems.append(f"kubernetes_rule_labels: {key!r} is not a Kubernetes label name")
        if not _LABEL_VALUE.match(value):
            problems.append(f"kubernetes_rule_labels: {key}: {value!r} is not a Kubernetes "
                            "label value (at most 63 of letters, digits, '-', '_', '.')")
    if not settings.kubernetes_probe_targets or not all(settings.kubernetes_probe_targets):
        problems.append("kubernetes_probe_targets: expected at least one target name")
    for group, strategy in settings.thanos_partial_response_strategy:
        if strategy not in PARTIAL_RESPONSE_STRATEGIES:
            problems.append(f"thanos_partial_response_strategy: {group}: expected one of "
                            f"{', '.join(PARTIAL_RESPONSE_STRATEGIES)}, got {strategy!r}")
    return problems


def load_settings(
    file: str | Path | None = None, pairs: Iterable[str] = (), base: Settings | None = None
) -> Settings:
    """Settings from ``base`` (defaults), a YAML file and ``key=value`` pairs, in that order.

    Raises :class:`SettingsError` naming every unknown key, malformed pair and bad value.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise SettingsError(f"cannot read settings file {file}: {err}") from err
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise SettingsError(f"settings file {file}: expected a mapping of key: value")
        values.update({str(k): v for k, v in loaded.items()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            problems.append(f"--set {pair!r}: expected key=value")
            continue
        values[key.strip()] = value
    return settings_from(values, base, problems)


def settings_from(
    values: Mapping[str, Any], base: Settings | None = None, problems: Iterable[str] = ()
) -> Settings:
    """``base`` (defaults) with ``values`` laid over it, checked; :class:`SettingsError`
    naming every unknown key and bad value (and the ``problems`` found before)."""
    settings = base or Settings()
    fields = {f.name for f in dataclasses.fields(Settings)}
    problems = list(problems)
    changes: dict[str, Any] = {}
    for key, value in sorted(values.items()):
        if key not in fields:
            problems.append(f"{key}: unknown setting (known: {', '.join(sorted(fields))})")
            continue
        try:
            changes[key] = _coerce(key, getattr(settings, key), value)
        except ValueError as err:
            problems.append(f"{key}: {err}")
    if not problems:
        settings = dataclasses.replace(settings, **changes)
        problems = _check(settings)
    if problems:
        raise SettingsError("bad settings:\n  " + "\n  ".join(problems))
    return settings


def go_duration(text: str) -> str:
    """A Prometheus duration as Go's time.ParseDuration reads it (no days): 30d -> 720h."""
    seconds = int(duration_seconds(text))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest}s" if rest else f"{hours}h"


def effective_for_seconds(for_seconds: int, settings: Settings) -> int:
    """A level's ``for``, or ``alert_for_override`` when that is set."""
    if settings.alert_for_override:
        return int(duration_seconds(settings.alert_for_override))
    return for_seconds
