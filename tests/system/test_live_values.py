"""The collectors' figures against this machine's own /proc, read side by side."""

from __future__ import annotations

import os
from pathlib import Path

from exporters.system.collectors import (
    FileFDCollector,
    LoadAvgCollector,
    MemInfoCollector,
    StatCollector,
)
from tests.helpers import sample_value
from tests.system.support import scrape_text

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat_cpu_seconds() -> dict[tuple[str, str], float]:
    modes = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    out: dict[tuple[str, str], float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0].startswith("cpu") and fields[0] != "cpu":
            for mode, ticks in zip(modes, fields[1:9], strict=False):
                out[(fields[0][3:], mode)] = int(ticks) / CLK_TCK
    return out


def test_cpu_seconds_lie_between_two_reads_of_proc_stat_taken_around_the_scrape() -> None:
    before = proc_stat_cpu_seconds()
    text = scrape_text([StatCollector()])
    after = proc_stat_cpu_seconds()
    assert before, "no per-CPU lines in /proc/stat"
    for (cpu, mode), low in before.items():
        value = sample_value(text, "promfleet_system_cpu_seconds_total", {"cpu": cpu, "mode": mode})
        assert value is not None, f"cpu {cpu} mode {mode} missing"
        # Counters only grow: the scrape happened between the two reads.
        assert low - 1e-9 <= value <= after[(cpu, mode)] + 1e-9, (cpu, mode, low, value)


def test_memory_total_equals_memtotal_in_proc_meminfo_exactly() -> None:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    expected = int(meminfo["MemTotal"].split()[0]) * 1024
    swap_total = int(meminfo["SwapTotal"].split()[0]) * 1024
    text = scrape_text([MemInfoCollector()])
    assert sample_value(text, "promfleet_system_memory_total_bytes") == expected
    assert sample_value(text, "promfleet_system_swap_total_bytes") == swap_total
    used = sample_value(text, "promfleet_system_memory_used_bytes")
    available = sample_value(text, "promfleet_system_memory_available_bytes")
    assert used is not None and 0 < used <= expected
    assert available is not None and 0 < available <= expected


def test_load_averages_equal_proc_loadavg_read_before_or_after() -> None:
    before = Path("/proc/loadavg").read_text().split()
    text = scrape_text([LoadAvgCollector()])
    after = Path("/proc/loadavg").read_text().split()
    got = [sample_value(text, f"promfleet_system_load{n}") for n in (1, 5, 15)]
    # The kernel refreshes the averages every 5 s; one of the two reads matches.
    assert got in ([float(v) for v in before[:3]], [float(v) for v in after[:3]])
    threads = sample_value(text, "promfleet_system_threads")
    assert threads is not None and threads >= 1


def test_file_handle_maximum_equals_proc_file_nr_exactly() -> None:
    _, _, maximum = Path("/proc/sys/fs/file-nr").read_text().split()
    text = scrape_text([FileFDCollector()])
    assert sample_value(text, "promfleet_system_filefd_maximum") == int(maximum)
    allocated = sample_value(text, "promfleet_system_filefd_allocated")
    assert allocated is not None and allocated > 0


def test_boot_time_equals_btime_and_the_process_count_is_plausible() -> None:
    btime = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    text = scrape_text([StatCollector()])
    assert sample_value(text, "promfleet_system_boot_time_seconds") == btime
    pids = sample_value(text, "promfleet_system_pids")
    assert pids is not None and pids >= 2  # at least pytest and its init
    assert sample_value(text, "promfleet_system_processes", {"state": "running"}) is not None
