"""One scrape in process: every collector is waited for, timed, and cut off at the deadline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

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
    # The quick one waited 0.3 s for the loop, but ran for a moment only; timed from the
    # scrape's start it would be charged with the hog's whole run and more.
    assert durations["quick"] < durations["hog"]


def test_a_collector_past_the_deadline_is_cut_off_and_the_others_are_served() -> None:
    got = _scrape([Sleeping("late", 30.0), Sleeping("now", 0.0)], timeout_s=0.2)
    assert got[f"{NS}_scrape_collector_success"] == {"late": 0.0, "now": 1.0}
    assert got[f"{NS}_scrape_collector_duration_seconds"]["late"] >= 0.2
    assert f"{NS}_late" not in got
    assert got[f"{NS}_now"] == {"": 0.0}


def test_a_scrape_without_collectors_serves_only_the_runtime_families() -> None:
    got = _scrape([], timeout_s=60.0)
    assert got == {}


class Publishing(Collector):
    """Publishes one family under a name of its choosing, or raises while told to."""

    def __init__(self, name: str, family: Metric, target: str = "") -> None:
        self.name = name
        self.family = family
        self.target = target
        self.failing = False

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        if self.failing:
            raise OSError("gone")
        return [self.family]


def _gauge(name: str, value: float) -> Metric:
    family = GaugeMetricFamily(f"{NS}_{name}", "A value.", labels=["target"])
    family.add_metric([str(value)], value)
    return family


def test_a_family_published_by_several_collectors_is_served_once_with_all_their_samples() -> None:
    collectors: list[Collector] = [
        Publishing("a", _gauge("shared", 1.0)),
        Publishing("b", _gauge("shared", 2.0)),
    ]
    scraper = Scraper(NS, WorkerPool(max_workers=1))
    families = asyncio.run(scraper.scrape(collectors, 60.0, process_metrics=False)).collect()
    shared = [f for f in families if f.name == f"{NS}_shared"]
    assert len(shared) == 1
    assert [s.value for s in shared[0].samples] == [1.0, 2.0]


def test_a_family_published_under_another_type_fails_the_collector_that_sent_it() -> None:
    counter = CounterMetricFamily(f"{NS}_shared", "A count.")
    counter.add_metric([], 5.0)
    got = _scrape(
        [Publishing("a", _gauge("shared", 1.0)), Publishing("b", counter)], timeout_s=60.0
    )
    assert got[f"{NS}_scrape_collector_success"] == {"a": 1.0, "b": 0.0}
    assert f"{NS}_shared_total" not in got


def test_a_failure_is_logged_once_while_it_lasts_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Publishing("flaky", _gauge("value", 1.0), target="db1")
    scraper = Scraper(NS, WorkerPool(max_workers=1), multi_target=True)

    def scrape_with(failing: bool) -> None:
        collector.failing = failing
        asyncio.run(scraper.scrape([collector], 60.0, process_metrics=False))

    caplog.set_level(logging.INFO, logger="promfleet.runtime")
    for failing in (True, True, False, False):
        scrape_with(failing)
    events = [(r.getMessage(), getattr(r, "fields", None)) for r in caplog.records]
    assert events == [
        (
            "collector failed",
            {"collector": "flaky", "target": "db1", "error": "OSError: gone"},
        ),
        ("collector recovered", {"collector": "flaky", "target": "db1"}),
    ]
