"""Reading collector output in tests: families into a fresh registry, then sample values."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector as RegistryCollector

from exporters.spec import Collector, ScrapeContext


class _Static(RegistryCollector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def registry_of(families: Iterable[Metric]) -> CollectorRegistry:
    """A fresh registry serving exactly these families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families))
    return registry


def value(
    families: Iterable[Metric], name: str, labels: Mapping[str, str] | None = None
) -> float | None:
    return registry_of(families).get_sample_value(name, dict(labels or {}))


def exposition(families: Iterable[Metric]) -> str:
    return generate_latest(registry_of(families)).decode("utf-8")


def collect(collector: Collector, timeout: float = 5.0) -> list[Metric]:
    """One scrape of a collector, outside the runtime."""

    async def run() -> list[Metric]:
        return list(await collector.collect(ScrapeContext.with_timeout(timeout)))

    return asyncio.run(run())
