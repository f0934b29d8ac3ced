"""The text exposition format (version 0.0.4), byte for byte as prometheus-client writes it.

:class:`TextRenderer` renders the same families as
``prometheus_client.exposition.generate_latest`` to the same bytes, for a fraction of
the cost: the ``# HELP``/``# TYPE`` header of a family and the ``name{labels} `` prefix
of a series are built once and reused while the family and label set recur, which on
an exporter they do scrape after scrape. Anything unusual (a name outside the legacy
character set, a timestamp, OpenMetrics-only samples) is handed to prometheus-client
for that family, so the output never differs::

    # HELP promfleet_system_load1 1-minute load average.
    # TYPE promfleet_system_load1 gauge
    promfleet_system_load1 0.03
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import escape_label_name
from prometheus_client.validation import (
    _is_valid_legacy_labelname,
    _is_valid_legacy_metric_name,
)

# prometheus-client writes these samples of a family in separate gauge families.
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
# Past this many cached headers or series the cache starts afresh: label sets are
# capped by the exporters, so reaching it means churn, and a bounded cache is enough.
MAX_CACHED = 4096

_INF = math.inf


def go_float(value: float) -> str:
    """A sample value as prometheus-client's ``floatToGoString`` writes it."""
    d = float(value)
    if d == _INF:
        return "+Inf"
    if d == -_INF:
        return "-Inf"
    if d != d:
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    # Go switches to exponents sooner than Python (only positive values matter here).
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


class _Single:
    """One family as the registry-like object ``generate_latest`` iterates."""

    __slots__ = ("family",)

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


def _header(family: Metric) -> str | None:
    """``# HELP`` and ``# TYPE`` lines, or None when the family needs the library."""
    name, kind = family.name, family.type
    if kind == "counter":
        name += "_total"
    elif kind == "info":
        name += "_info"
        kind = "gauge"
    elif kind == "stateset":
        kind = "gauge"
    elif kind == "gaugehistogram":
        kind = "histogram"
    elif kind == "unknown":
        kind = "untyped"
    if not _is_valid_legacy_metric_name(name):
        return None
    doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class TextRenderer:
    """Renders families to the text format; keeps its caches between scrapes."""

    def __init__(self, max_cached: int = MAX_CACHED) -> None:
        self.max_cached = max_cached
        # (name, type, help) -> (header, the names of OpenMetrics-only samples)
        self._headers: dict[tuple[str, str, str], tuple[str, tuple[str, ...]] | None] = {}
        # (sample name, label items) -> "name{labels} "
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def _family_header(self, family: Metric) -> tuple[str, tuple[str, ...]] | None:
        key = (family.name, family.type, family.documentation)
        try:
            return self._headers[key]
        except KeyError:
            pass
        header = _header(family)
        entry = None if header is None else (header, tuple(family.name + s for s in _OM_SUFFIXES))
        if len(self._headers) >= self.max_cached:
            self._headers.clear()
        self._headers[key] = entry
        return entry

    def _prefix(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> str | None:
        """``name{labels} `` for a new series, or None when the library must write it."""
        name, items = key
        if not _is_valid_legacy_metric_name(name):
            return None
        parts = []
        for label, value in sorted(items):
            if not isinstance(label, str) or not isinstance(value, str):
                return None
            if not _is_valid_legacy_labelname(label):
                label = escape_label_name(label)
            parts.append(f'{label}="{_escape_value(value)}"')
        prefix = f"{name}{{{','.join(parts)}}} " if parts else f"{name} "
        if len(self._prefixes) >= self.max_cached:
            self._prefixes.clear()
        self._prefixes[key] = prefix
        return prefix

    def _family_lines(self, family: Metric, out: list[str]) -> bool:
        """Append the family's text to ``out``; False (nothing appended) to use the library."""
        entry = self._family_header(family)
        if entry is None:
            return False
        header, om_names = entry
        prefixes = self._prefixes
        mark = len(out)
        out.append(header)
        for sample in family.samples:
            name = sample.name
            if sample.timestamp is not None or name in om_names:
                del out[mark:]
                return False
            key = (name, tuple(sample.labels.items()))
            try:
                prefix = prefixes[key]
            except KeyError:
                found = self._prefix(key)
                if found is None:
                    del out[mark:]
                    return False
                prefix = found
            except TypeError:  # an unhashable label value: the library reports it
                del out[mark:]
                return False
            try:
                d = float(sample.value)
            except (TypeError, ValueError):  # not a number: the library reports it
                del out[mark:]
                return False
            # The common case inline: a finite value Python and Go write alike.
            text = repr(d) if d - d == 0.0 and (d <= 0 or d < 1e6) else go_float(d)
            out.append(f"{prefix}{text}\n")
        return True

    def render(self, families: Iterable[Metric]) -> bytes:
        """The exposition of ``families``, equal to ``generate_latest`` of them."""
        out: list[str] = []
        for family in families:
            if not self._family_lines(family, out):
                out.append(generate_latest(_Single(family)).decode("utf-8"))  # type: ignore[arg-type,unused-ignore]
        return "".join(out).encode("utf-8")
