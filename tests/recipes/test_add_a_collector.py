"""README "How to add a collector", followed on an exporter module: a CollectorDef in
COLLECTORS (METRICS is their union), a class of the same name beside the others, an
instance from build(); the runtime serves and times it, reports its failure without
losing the rest of the scrape, and gives it a --no-collector switch that leaves it out."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from exporters.registry import exporter_specs
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    sample_value,
    scrape,
)
from tests.recipes.support import UPTIME_EXPORTER, exporter_package, python_path

DECLARATION = '''\
    CollectorDef("idle", "CPU idle time, summed over the CPUs (/proc/uptime)", (
        _m("idle_seconds_total", "counter", "Seconds the CPUs spent idle, summed."),
    )),
'''

COLLECTOR = '''\
class IdleCollector(BlockingCollector):
    """promfleet_uptime_idle_seconds_total 24000.0"""

    name = "idle"

    def __init__(self, proc: Path) -> None:
        self.proc = proc

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        seconds = float((self.proc / "uptime").read_text().split()[1])
        return [FAMILIES["idle_seconds_total"].one(seconds)]


'''

SUCCESS = "promfleet_uptime_scrape_collector_success"
DURATION = "promfleet_uptime_scrape_collector_duration_seconds"
IDLE = "promfleet_uptime_idle_seconds_total"


def add_collector(source: str) -> str:
    """The recipe's three edits, each at the place it names."""

    def insert(text: str, anchor: str, new: str, before: bool = False) -> str:
        assert text.count(anchor) == 1, f"the module no longer has {anchor!r}"
        return text.replace(anchor, new + anchor if before else anchor + new)

    # step 1: declared in COLLECTORS, after the uptime collector's declaration
    source = insert(source, '"Seconds since the machine booted."),\n    )),\n', DECLARATION)
    source = insert(source, "def build(", COLLECTOR, before=True)  # step 2
    return source.replace(  # step 3
        "return (UptimeCollector(proc),)", "return (UptimeCollector(proc), IdleCollector(proc))"
    )


def test_a_collector_added_as_the_recipe_says_is_served_timed_switched_and_declared(
    tmp_path: Path,
) -> None:
    name = exporter_package(tmp_path, "uptime", add_collector(UPTIME_EXPORTER))
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "uptime").write_text("12345.67 24000.00\n")
    env = python_path(tmp_path)
    with ExporterProcess(name, f"--proc.path={proc}", env=env) as exporter:
        _, _, text = scrape(exporter.url + "/metrics")
        (proc / "uptime").write_text("12345.67\n")  # the idle field gone: idle fails alone
        _, _, broken = scrape(exporter.url + "/metrics")
    assert sample_value(text, IDLE) == 24000.0
    assert sample_value(text, SUCCESS, {"collector": "idle"}) == 1.0
    assert sample_value(text, DURATION, {"collector": "idle"}) is not None
    assert sample_value(broken, SUCCESS, {"collector": "idle"}) == 0.0
    assert sample_value(broken, SUCCESS, {"collector": "uptime"}) == 1.0
    assert sample_value(broken, "promfleet_uptime_seconds") == 12345.67

    # The runtime gives the declared collector its switch: off, it is not run at all.
    (proc / "uptime").write_text("12345.67 24000.00\n")
    with ExporterProcess(name, f"--proc.path={proc}", "--no-collector.idle", env=env) as off:
        status, _, without = scrape(off.url + "/metrics")
    assert status == 200
    assert f"{IDLE} " not in without and sample_value(without, IDLE) is None
    assert sample_value(without, SUCCESS, {"collector": "idle"}) is None
    assert 'collector="idle"' not in without
    assert sample_value(without, "promfleet_uptime_seconds") == 12345.67
    assert sample_value(without, SUCCESS, {"collector": "uptime"}) == 1.0

    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
        assert [c.name for c in module.COLLECTORS] == ["uptime", "idle"]
        assert [s.name for s in module.METRICS] == ["promfleet_uptime_seconds", IDLE]
        assert module.EXPORTER.collectors == module.COLLECTORS
        assert_matches_declaration(text, exporter_specs(module.EXPORTER))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)
        sys.modules.pop("recipe_exporters", None)
    assert promtool_check_metrics(text) == []
    assert promtool_check_metrics(without) == []
