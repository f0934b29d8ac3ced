"""Builders of promtool input series for the catalogue's AlertTests, shared by every area."""

from __future__ import annotations

from generator.model import TestSeries

Labels = tuple[tuple[str, str], ...]


def series(metric: str, labels: Labels, values: str) -> TestSeries:
    """A promtool input series: ``metric{a="b",...}`` with values in expanding notation."""
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
    return TestSeries(f"{metric}{{{body}}}", values)


def gauge(metric: str, labels: Labels, value: float, samples: int = 40) -> TestSeries:
    """A gauge holding ``value`` for ``samples`` intervals."""
    return series(metric, labels, f"{value:g}+0x{samples}")


def counter(metric: str, labels: Labels, per_minute: float, samples: int = 40) -> TestSeries:
    """A counter from 0 growing by ``per_minute`` each interval, for ``samples`` intervals."""
    return series(metric, labels, f"0+{per_minute:g}x{samples}")
