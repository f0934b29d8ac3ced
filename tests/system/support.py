"""Shared by the system exporter's tests: run collectors in-process and render them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector as RegistryCollector
from prometheus_client.registry import CollectorRegistry

from exporters.spec import Collector, ScrapeContext

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_PROC = str(FIXTURES / "proc")


class _Fixed(RegistryCollector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def collect(collectors: Sequence[Collector], timeout_s: float = 5.0) -> list[Metric]:
    """Every family the collectors return for one scrape (through their async API)."""

    async def run() -> list[Metric]:
        out: list[Metric] = []
        for collector in collectors:
            out.extend(await collector.collect(ScrapeContext.with_timeout(timeout_s)))
        return out

    return asyncio.run(run())


def render(families: Iterable[Metric]) -> str:
    """The text exposition of these families, from a fresh registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry).decode()


def scrape_text(collectors: Sequence[Collector], timeout_s: float = 5.0) -> str:
    return render(collect(collectors, timeout_s))


class FakeStatVfs:
    """An os.statvfs stand-in: fixed figures, optional failures, counts calls per path."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.failing = set(failing)
        self.calls: dict[str, int] = {}

    def __call__(self, path: str) -> Any:
        self.calls[path] = self.calls.get(path, 0) + 1
        if path in self.failing:
            raise PermissionError(13, "Permission denied", path)
        # f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail,
        # f_flag, f_namemax
        return os.statvfs_result((4096, 4096, 1000, 400, 300, 5000, 4000, 4000, 0, 255))
