"""Pure /proc parsers on recorded snippets, and the golden exposition of a fixture /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from exporters.system import parse
from exporters.system.collectors import (
    MEMINFO_KEYS,
    DeviceFilter,
    DiskStatsCollector,
    FileFDCollector,
    LoadAvgCollector,
    MemInfoCollector,
    NetDevCollector,
    StatCollector,
    read_text,
)
from exporters.system.filesystem import (
    DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
    FilesystemCollector,
    FilesystemConfig,
)
from exporters.system.metrics import METRICS
from exporters.system.process_groups import ProcessGroupCollector, parse_process_groups
from exporters.system.timex import (
    STA_NANO,
    STA_UNSYNC,
    TIME_ERROR,
    Timex,
    TimexCollector,
    parse_timex,
    read_adjtimex,
)
from tests.helpers import assert_matches_declaration, promtool_check_metrics
from tests.system.support import FIXTURE_PROC, FIXTURES, FakeStatVfs, scrape_text

GOLDEN = FIXTURES / "golden.prom"
UPDATE = os.environ.get("PROMFLEET_UPDATE_GOLDEN") == "1"


# Recorded from a host whose chrony is locked (TIME_OK, STA_PLL, microsecond offsets).
SYNCED = Timex(state=0, status=0x0001, offset=-183, maxerror_us=12500, esterror_us=420)
# The same host after chronyd stopped for a while: the kernel marks the clock unsynchronised.
UNSYNCED = Timex(state=TIME_ERROR, status=0x0041, offset=0, maxerror_us=16000000, esterror_us=0)


def read(rel: str) -> str:
    return Path(FIXTURE_PROC, rel).read_text()


def fixture_collectors() -> list[object]:
    return [
        StatCollector(FIXTURE_PROC, clk_tck=100),
        LoadAvgCollector(FIXTURE_PROC),
        MemInfoCollector(FIXTURE_PROC, page_size=4096),
        FileFDCollector(FIXTURE_PROC),
        TimexCollector(lambda: SYNCED),
        FilesystemCollector(
            FilesystemConfig(
                re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE), re.compile(DEFAULT_FS_TYPES_EXCLUDE)
            ),
            FIXTURE_PROC,
            statvfs=FakeStatVfs(failing={"/boot/efi"}),
        ),
        DiskStatsCollector(
            DeviceFilter(re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"), 100),
            FIXTURE_PROC,
        ),
        NetDevCollector(DeviceFilter(re.compile(r"^ifb"), 100), FIXTURE_PROC),
        ProcessGroupCollector(
            parse_process_groups(
                "[{name: workers, comm: '^pfx-'}, {name: pyjobs, cmdline: 'pfx\\.worker'},"
                " {name: absent, comm: '^nothing-runs-this$'}]"
            ),
            proc_root=FIXTURE_PROC,
            clk_tck=100,
            page_size=4096,
        ),
    ]


def test_the_fixture_proc_renders_exactly_the_golden_exposition() -> None:
    text = scrape_text(fixture_collectors())  # type: ignore[arg-type]
    if UPDATE:
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), "no golden file: run with PROMFLEET_UPDATE_GOLDEN=1 once"
    assert text == GOLDEN.read_text(), (
        "exposition differs from tests/system/fixtures/golden.prom; if the change is "
        "intended, refresh it with PROMFLEET_UPDATE_GOLDEN=1"
    )


def test_stat_parser_reads_each_cpu_but_not_the_total_line() -> None:
    stat = parse.parse_stat(read("stat"))
    assert sorted(stat.cpu_ticks) == ["0", "1"]
    assert stat.cpu_ticks["0"] == (4277, 0, 1796, 63377, 34, 0, 99, 18)
    assert stat.boot_time == 1795387845
    assert (stat.procs_running, stat.procs_blocked) == (2, 0)


def test_stat_parser_pads_modes_an_old_kernel_does_not_write() -> None:
    stat = parse.parse_stat("cpu0 1 2 3 4 5 6 7\nbtime 10\n")
    assert stat.cpu_ticks["0"] == (1, 2, 3, 4, 5, 6, 7, 0)


def test_meminfo_values_are_turned_from_kibibytes_into_bytes() -> None:
    mem = parse.parse_meminfo("MemTotal:       16 kB\nHugePages_Total:       3\n")
    assert mem == {"MemTotal": 16 * 1024, "HugePages_Total": 3}


def test_meminfo_looked_up_by_key_agrees_with_the_full_parse() -> None:
    for text in (read("meminfo"), Path("/proc/meminfo").read_text()):
        full = parse.parse_meminfo(text)
        keyed = parse.parse_meminfo(text, MEMINFO_KEYS)
        assert keyed == {k: full[k] for k in MEMINFO_KEYS if k in full}
    # "Cached" is a key of its own, not the tail of "SwapCached".
    assert parse.parse_meminfo("SwapCached:  4 kB\n", ("Cached",)) == {}
    assert parse.parse_meminfo("SwapCached:  4 kB\nCached: 2 kB", ("Cached",)) == {"Cached": 2048}


def test_stat_keys_are_found_on_any_line_and_are_zero_when_missing() -> None:
    text = "cpu  9 9 9 9\ncpu0 1 1 1 1\nintr 5 6 7\nprocs_blocked 3\nbtime 42"
    stat = parse.parse_stat(text)
    assert (stat.boot_time, stat.procs_running, stat.procs_blocked) == (42, 0, 3)
    assert list(stat.cpu_ticks) == ["0"]


def test_a_file_larger_than_one_read_is_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "big"
    text = "".join(f"line {i} é\n" for i in range(30_000))
    big.write_text(text, encoding="utf-8")
    assert read_text(str(big)) == text
    (tmp_path / "bad").write_bytes(b"ok \xff\n")
    assert read_text(str(tmp_path / "bad")) == "ok \ufffd\n"


def test_loadavg_parser_reads_the_three_averages_and_the_thread_total() -> None:
    load = parse.parse_loadavg(read("loadavg"))
    assert (load.load1, load.load5, load.load15, load.threads) == (0.52, 0.31, 0.17, 151)


def test_file_nr_parser_returns_allocated_and_maximum() -> None:
    assert parse.parse_file_nr(read("sys/fs/file-nr")) == (1216, 2466174)


def test_mount_parser_unescapes_octal_and_keeps_the_last_entry_of_a_mounted_over_point() -> None:
    mounts = {m.mountpoint: m for m in parse.parse_mounts(read("self/mounts"))}
    assert "/srv/my data" in mounts
    assert mounts["/data"].device == "/dev/vdd" and mounts["/data"].fstype == "xfs"
    assert mounts["/boot/efi"].readonly and not mounts["/"].readonly


def test_diskstats_parser_counts_bytes_in_512_byte_sectors_and_time_in_seconds() -> None:
    disks = {d.device: d for d in parse.parse_diskstats(read("diskstats"))}
    sda = disks["sda"]
    assert (sda.read_bytes, sda.written_bytes) == (20000 * 512, 40000 * 512)
    assert (sda.reads_completed, sda.writes_completed) == (1000, 2000)
    assert (sda.read_time_s, sda.write_time_s, sda.io_time_s) == (0.3, 0.5, 0.7)


def test_net_dev_parser_skips_the_two_header_lines_and_reads_eight_counters() -> None:
    rows = dict(parse.parse_net_dev(read("net/dev")))
    assert "lo" in rows and "eth0" in rows
    assert all(len(values) == 8 for values in rows.values())
    assert rows["lo"][0] == rows["lo"][4]  # loopback: bytes in equal bytes out


def test_pid_stat_parser_handles_a_process_name_with_spaces_and_parentheses() -> None:
    stat = parse.parse_pid_stat(read("4343/stat"))
    assert stat.comm == "my (odd) proc"
    assert (stat.utime, stat.stime, stat.threads, stat.start_ticks, stat.rss_pages) == (
        10,
        5,
        1,
        22222,
        100,
    )


def test_cmdline_parser_joins_arguments_with_spaces() -> None:
    assert (
        parse.parse_cmdline(b"/usr/bin/python3\0-m\0pfx.worker\0")
        == "/usr/bin/python3 -m pfx.worker"
    )


@pytest.mark.parametrize(
    "value",
    [
        "{name: x}",
        "[{comm: '^a'}]",
        "[{name: 'bad name', comm: a}]",
        "[{name: a}]",
        "[{name: a, comm: '('}]",
        "[{name: a, comm: x}, {name: a, comm: y}]",
        "[{name: a, comm: x, pid: 3}]",
    ],
)
def test_process_group_option_refuses_malformed_groups(value: str) -> None:
    with pytest.raises(ValueError):
        parse_process_groups(value)


def test_the_fixture_exposition_publishes_exactly_the_declared_families() -> None:
    text = scrape_text(fixture_collectors())  # type: ignore[arg-type]
    assert_matches_declaration(text, METRICS)


def test_promtool_finds_nothing_to_lint_in_the_fixture_exposition() -> None:
    assert promtool_check_metrics(scrape_text(fixture_collectors())) == []  # type: ignore[arg-type]


def test_vmstat_parser_finds_the_swap_counters_anywhere_in_the_file_and_skips_absent_ones() -> None:
    assert parse.parse_vmstat("pswpin 7\npgfault 1\npswpout 9") == {"pswpin": 7, "pswpout": 9}
    assert parse.parse_vmstat("xpswpin 7\n") == {}


def test_vmstat_oom_kill_counter_is_read_and_published() -> None:
    assert parse.parse_vmstat(read("vmstat"), ("oom_kill",)) == {"oom_kill": 2}
    text = scrape_text([MemInfoCollector(FIXTURE_PROC, page_size=4096)])
    assert "promfleet_system_oom_kills_total 2.0" in text


def test_a_kernel_without_the_oom_kill_counter_publishes_no_oom_series(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text(read("meminfo"))
    (tmp_path / "vmstat").write_text("pswpin 1\npswpout 2\n")
    text = scrape_text([MemInfoCollector(str(tmp_path), page_size=4096)])
    assert "oom_kills_total" not in text and "swap_in_bytes_total" in text


def test_timex_of_a_synchronised_clock_gives_seconds_from_microseconds() -> None:
    clock = parse_timex(SYNCED)
    assert clock.synchronised
    assert clock.offset_s == pytest.approx(-0.000183)
    assert clock.maxerror_s == pytest.approx(0.0125)
    assert clock.esterror_s == pytest.approx(0.00042)


def test_timex_reads_nanosecond_offsets_when_the_kernel_says_so() -> None:
    nano = Timex(state=0, status=STA_NANO | 0x0001, offset=-183000, maxerror_us=1, esterror_us=1)
    assert parse_timex(nano).offset_s == pytest.approx(-0.000183)


@pytest.mark.parametrize(
    "raw",
    [
        UNSYNCED,
        Timex(state=TIME_ERROR, status=0, offset=0, maxerror_us=0, esterror_us=0),
        Timex(state=0, status=STA_UNSYNC, offset=0, maxerror_us=0, esterror_us=0),
    ],
)
def test_timex_calls_the_clock_unsynchronised_on_time_error_or_sta_unsync(raw: Timex) -> None:
    assert not parse_timex(raw).synchronised


def test_the_timex_collector_publishes_the_unsynchronised_clock() -> None:
    text = scrape_text([TimexCollector(lambda: UNSYNCED)])
    assert "promfleet_system_timex_sync_status 0.0" in text
    assert "promfleet_system_timex_maxerror_seconds 16.0" in text


def test_the_real_adjtimex_call_answers_on_this_machine() -> None:
    raw = read_adjtimex()
    assert raw.state >= 0 and raw.maxerror_us >= 0


def test_the_clock_collector_is_on_by_default_and_can_be_turned_off() -> None:
    from exporters.system import build

    assert "timex" in [c.name for c in build({})]
    assert "timex" not in [c.name for c in build({"timex.enabled": "false"})]


def test_the_loopback_is_left_out_of_the_network_counters_by_default() -> None:
    from exporters.system import build

    netdev = [c for c in build({"path.procfs": FIXTURE_PROC}) if c.name == "netdev"]
    text = scrape_text(netdev)
    assert 'device="eth0"' in text and 'device="lo"' not in text
    everything = build({"path.procfs": FIXTURE_PROC, "network.device-exclude": ""})
    assert 'device="lo"' in scrape_text([c for c in everything if c.name == "netdev"])
