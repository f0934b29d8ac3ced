"""One scrape in process: every collector is waited for, timed, and cut off at the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from exporters.runtime.pool import WorkerPool
from exporters.runtime.scrape import Scraper
from exporters.spec import Collector, ScrapeContext

NS = "promfleet_test"


class Sleeping(Collector):
    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        if self.seconds:
            await asyncio.sleep(self.seconds)
        family = GaugeMetricFamily(f"{NS}_{self.name}", "A value.")
        family.add_metric([], self.seconds)
        return [family]


class Hogging(Collector):
    """Holds the event loop without awaiting, as a collector reading procfs there does."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        time.sleep(self.seconds)
        family = GaugeMetricFamily(f"{NS}_{self.name}", "A value.")
        family.add_metric([], self.seconds)
        return [family]


def _scrape(collectors: list[Collector], timeout_s: float) -> dict[str, dict[str, float]]:
    """{family: {collector or "": value}} of one scrape, which must end within 10 s."""

    async def run() -> list[Metric]:
        scraper = Scraper(NS, WorkerPool(max_workers=2))
        families = await asyncio.wait_for(
            scraper.scrape(collectors, timeout_s, process_metrics=False), timeout=10
        )
        return families.collect()

    out: dict[str, dict[str, float]] = {}
    for family in asyncio.run(run()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[sample.labels.get("collector", "")] = sample.value
    return out


def test_a_scrape_ends_when_its_collectors_do_not_at_a_far_deadline() -> None:
    got = _scrape([Sleeping("now", 0.0), Sleeping("soon", 0.05)], timeout_s=60.0)
    assert got[f"{NS}_scrape_collector_success"] == {"now": 1.0, "soon": 1.0}
    assert got[f"{NS}_soon"] == {"": 0.05}


def test_each_collector_is_timed_by_its_own_end() -> None:
    got = _scrape([Sleeping("now", 0.0), Sleeping("soon", 0.05)], timeout_s=60.0)
    durations = got[f"{NS}_scrape_collector_duration_seconds"]
    assert durations["soon"] >= 0.05
    assert 0.0 <= durations["now"] < durations["soon"]


def test_a_collector_run_after_another_on_the_event_loop_is_not_charged_with_its_time() -> None:
    got = _scrape([Hogging("hog", 0.3), Sleeping("quick", 0.0)], timeout_s=60.0)
    durations = got[f"{NS}_scrape_collector_duration_seconds"]
    assert durations["hog"] >= 0.3
    # The quick one waited 0.3 s for the loop, but ran for a moment only.
    assert durations["quick"] < 0.15


def test_a_collector_past_the_deadline_is_cut_off_and_the_others_are_served() -> None:
    got = _scrape([Sleeping("late", 30.0), Sleeping("now", 0.0)], timeout_s=0.2)
    assert got[f"{NS}_scrape_collector_success"] == {"late": 0.0, "now": 1.0}
    assert got[f"{NS}_scrape_collector_duration_seconds"]["late"] >= 0.2
    assert f"{NS}_late" not in got
    assert got[f"{NS}_now"] == {"": 0.0}


def test_a_scrape_without_collectors_serves_only_the_runtime_families() -> None:
    got = _scrape([], timeout_s=60.0)
    assert got == {}
