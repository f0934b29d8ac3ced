"""The runtime's process_* families are prometheus-client's ProcessCollector's, cheaper."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector

from exporters.runtime.exposition import TextRenderer
from exporters.runtime.process import ProcessMetrics
from exporters.runtime.selfmetrics import PROCESS_METRICS


def _by_name(families: list[Metric]) -> dict[str, Metric]:
    """Families by their sample's name (a counter family is named without _total)."""
    return {f.samples[0].name: f for f in families}


def _value(family: Metric) -> float:
    assert len(family.samples) == 1
    return float(family.samples[0].value)


def test_the_families_match_prometheus_client_in_name_type_help_order_and_static_values() -> None:
    ours = ProcessMetrics().collect()
    theirs = list(ProcessCollector(registry=None).collect())
    assert [(f.name, f.type, f.documentation) for f in ours] == [
        (f.name, f.type, f.documentation) for f in theirs
    ]
    assert [f.samples[0].name for f in ours] == [f.samples[0].name for f in theirs]
    mine, lib = _by_name(ours), _by_name(theirs)
    for static in ("process_start_time_seconds", "process_max_fds"):
        assert _value(mine[static]) == _value(lib[static])
    # Moving values: read one after the other, so only close.
    assert abs(_value(mine["process_open_fds"]) - _value(lib["process_open_fds"])) <= 2
    assert _value(mine["process_cpu_seconds_total"]) <= _value(lib["process_cpu_seconds_total"])
    rss = _value(mine["process_resident_memory_bytes"])
    assert 0.5 < rss / _value(lib["process_resident_memory_bytes"]) < 2


def test_the_families_are_the_ones_the_runtime_declares() -> None:
    names = {s.name for f in ProcessMetrics().collect() for s in f.samples}
    assert names == {spec.name for spec in PROCESS_METRICS}


def test_open_fds_count_a_newly_opened_descriptor() -> None:
    metrics = ProcessMetrics()
    before = _value(_by_name(metrics.collect())["process_open_fds"])
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        after = _value(_by_name(metrics.collect())["process_open_fds"])
    finally:
        os.close(fd)
    assert after == before + 1
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert _value(_by_name(metrics.collect())["process_max_fds"]) == float(soft)


def test_a_proc_root_without_a_stat_file_gives_no_process_families(tmp_path: Path) -> None:
    assert ProcessMetrics(str(tmp_path)).collect() == []
    assert list(ProcessCollector(proc=str(tmp_path), registry=None).collect()) == []


def test_a_fixture_proc_gives_prometheus_client_s_exact_text(tmp_path: Path) -> None:
    # A recorded /proc/self/stat whose command name holds ") (" and spaces.
    (tmp_path / "self" / "fd").mkdir(parents=True)
    for n in range(3):
        (tmp_path / "self" / "fd" / str(n)).write_text("")
    (tmp_path / "stat").write_text("cpu  1 2 3\nbtime 1700000000\n")
    (tmp_path / "self" / "stat").write_text(
        "4242 (py ) (thon) S 1 4242 4242 0 -1 4194560 5000 0 0 0 123 45 0 0 20 0 3 0 "
        "98765 204800000 10000 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 "
        "0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    )
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    (tmp_path / "self" / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units\n"
        f"Max open files            {soft}                 {soft}                 files\n"
    )
    renderer = TextRenderer()
    ours = renderer.render(ProcessMetrics(str(tmp_path)).collect())
    theirs = renderer.render(list(ProcessCollector(proc=str(tmp_path), registry=None).collect()))
    assert ours == theirs
    assert b"process_open_fds 3.0\n" in ours
    assert b"process_cpu_seconds_total 1.68\n" in ours
