"""The system exporter's collectors: each declares what it publishes, each has a switch,
and ``--collector.timex`` is the clock collector's one switch (``--timex.enabled`` its
deprecated alias)."""

from __future__ import annotations

import logging

import pytest

from exporters import system
from exporters.runtime.config import RuntimeConfig, resolve
from exporters.runtime.server import Served
from exporters.spec import Settings, metrics_of
from exporters.system import metrics
from tests.helpers import ExporterProcess, scrape
from tests.system.support import FIXTURE_PROC, collect

RUNTIME = RuntimeConfig("", 0, "", "info", 0.5, 10.0)


def served(*flags: str, env: dict[str, str] | None = None) -> Served:
    _, settings, _ = resolve(system.EXPORTER, list(flags), env or {})
    return Served(system.EXPORTER, settings, RUNTIME, tuple(system.build(settings)))


def active(*flags: str, env: dict[str, str] | None = None) -> list[str]:
    return [c.name for c in served(*flags, env=env).active]


def test_metrics_are_the_union_of_the_collectors_declarations_in_their_order() -> None:
    assert metrics_of(*(c.metrics for c in metrics.COLLECTORS)) == metrics.METRICS
    assert system.EXPORTER.collectors == metrics.COLLECTORS
    assert [c.name for c in metrics.COLLECTORS] == [
        "stat", "loadavg", "meminfo", "filefd", "filesystem", "diskstats", "netdev",
        "timex", "processes"]  # fmt: skip


def test_each_collector_publishes_only_families_its_own_declaration_holds() -> None:
    declared = {c.name: {s.name for s in c.metrics} for c in metrics.COLLECTORS}
    built = [c for c in system.build(Settings("system", {"path.procfs": FIXTURE_PROC}))
             if c.name != "filesystem"]  # statvfs of real mounts: tests/system/test_filesystem
    assert {c.name for c in built} == set(declared) - {"filesystem", "processes"}
    for collector in built:
        published = {family.name for family in collect([collector])}
        # Counters are named without _total in a prometheus-client family.
        names = {n if n in declared[collector.name] else f"{n}_total" for n in published}
        assert names <= declared[collector.name], collector.name
        assert names, collector.name


def test_no_collector_leaves_that_collector_out_and_keeps_the_rest() -> None:
    names = active("--no-collector.diskstats", "--collector.netdev=false")
    assert "diskstats" not in names and "netdev" not in names
    assert {"stat", "loadavg", "meminfo", "filefd", "filesystem", "timex"} <= set(names)


def test_the_clock_collector_is_on_by_default_through_its_one_switch() -> None:
    (timex,) = (c for c in system.EXPORTER.collectors if c.name == "timex")
    assert timex.default is True
    assert "timex" in active()
    assert "timex" not in active("--no-collector.timex")
    assert "timex" in active("--collector.timex")


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--timex.enabled=false"], {}), ([], {"PROMFLEET_SYSTEM_TIMEX_ENABLED": "false"})],
    ids=["flag", "env"],
)
def test_the_deprecated_timex_enabled_still_turns_the_clock_off(
    flags: list[str], env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="promfleet.system"):
        assert "timex" not in active(*flags, env=env)
    assert "--timex.enabled is deprecated: use --collector.timex" in caplog.text
    assert "timex" in active("--timex.enabled=true")


def test_the_switch_wins_over_the_deprecated_alias_when_both_are_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="promfleet.system"):
        assert "timex" in active("--timex.enabled=false", "--collector.timex")
        assert "timex" not in active("--timex.enabled=true", "--no-collector.timex")
    assert "ignored beside --collector.timex" in caplog.text


def test_a_served_system_exporter_publishes_no_clock_families_when_it_is_off() -> None:
    with ExporterProcess("system", "--timex.enabled=false") as alias, ExporterProcess(
        "system", "--no-collector.timex", "--no-collector.meminfo"
    ) as switch:
        _, _, by_alias = scrape(alias.url + "/metrics")
        _, _, by_switch = scrape(switch.url + "/metrics")
    for text in (by_alias, by_switch):
        assert "promfleet_system_timex_" not in text
        assert 'collector="timex"' not in text
        assert "promfleet_system_load1 " in text
        assert "promfleet_system_filefd_allocated " in text
    assert "promfleet_system_memory_total_bytes " in by_alias
    assert "promfleet_system_memory_total_bytes " not in by_switch
