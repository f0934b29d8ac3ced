"""The system exporter's /proc collectors: stat, loadavg, meminfo, filefd, diskstats, netdev.

Each reads its files under an injected ``/proc`` root and hands the text to a pure
``parse_...()`` in :mod:`exporters.system.parse`. Reading /proc directly costs a
fraction of psutil's per-call overhead, which matters at one scrape every few seconds
on every host.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import Metric

from exporters.spec import Collector, ScrapeContext
from exporters.system import parse
from exporters.system.metrics import FAMILIES

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

_DIGITS = frozenset("0123456789")
_READ_CHUNK = 1 << 16


def read_text(path: str) -> str:
    """A (procfs) file's text, undecodable bytes replaced.

    Plain ``os.read`` calls on a descriptor: a text-mode file object (its buffer and
    decoder) costs more than reading a small procfs file itself.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, _READ_CHUNK)
        if data:
            chunks = [data]
            while chunk := os.read(fd, _READ_CHUNK):  # procfs may hand out a page at a time
                chunks.append(chunk)
            if len(chunks) > 1:
                data = b"".join(chunks)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


class ProcFileCollector(Collector):
    """A collector that only reads procfs files, so it runs on the event loop.

    procfs content is generated in memory by the kernel: a read never waits for a disk
    or a network, and costs microseconds, far less than a hop to a worker thread and
    back (which would be most of such a collector's cost).
    """

    @abc.abstractmethod
    def read(self, ctx: ScrapeContext) -> list[Metric]:
        """Read and parse the files; return fresh families."""

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        return self.read(ctx)


def gauge(name: str, value: float) -> Metric:
    """A label-less gauge family with one sample."""
    return FAMILIES[name].one(value)


class StatCollector(ProcFileCollector):
    """CPU seconds by cpu and mode, boot time, running/blocked tasks, process count.

    promfleet_system_cpu_seconds_total{cpu="0",mode="idle"} 504.31
    promfleet_system_boot_time_seconds 1.763852e+09
    promfleet_system_processes{state="blocked"} 0.0
    promfleet_system_pids 98.0
    """

    name = "stat"

    def __init__(self, proc_root: str = "/proc", clk_tck: int = CLK_TCK) -> None:
        self.proc_root = proc_root
        self.clk_tck = clk_tck

    def count_pids(self) -> int:
        # listdir's plain names cost half of scandir's entries.
        return sum(1 for name in os.listdir(self.proc_root) if name[0] in _DIGITS)

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        stat = parse.parse_stat(read_text(f"{self.proc_root}/stat"))
        cpu = FAMILIES["cpu_seconds_total"].start()
        tick = 1.0 / self.clk_tck
        for name, ticks in stat.cpu_ticks.items():
            for mode, value in zip(parse.CPU_MODES, ticks, strict=True):
                cpu.add((name, mode), value * tick)
        processes = FAMILIES["processes"].start()
        processes.add(("running",), stat.procs_running)
        processes.add(("blocked",), stat.procs_blocked)
        return [
            cpu.family,
            gauge("boot_time_seconds", stat.boot_time),
            processes.family,
            gauge("pids", self.count_pids()),
        ]


class LoadAvgCollector(ProcFileCollector):
    """Load averages and the thread count.

    promfleet_system_load1 0.03
    promfleet_system_threads 149.0
    """

    name = "loadavg"

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        load = parse.parse_loadavg(read_text(f"{self.proc_root}/loadavg"))
        return [
            gauge("load1", load.load1),
            gauge("load5", load.load5),
            gauge("load15", load.load15),
            gauge("threads", load.threads),
        ]


MEMINFO_KEYS = (
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SReclaimable",
    "SwapTotal",
    "SwapFree",
)


VMSTAT_KEYS = ("pswpin", "pswpout", "oom_kill")


class MemInfoCollector(ProcFileCollector):
    """Memory and swap from /proc/meminfo; swap traffic and OOM kills from /proc/vmstat.

    promfleet_system_memory_total_bytes 2.5e+10
    promfleet_system_memory_available_bytes 2.1e+10
    promfleet_system_swap_in_bytes_total 0.0
    promfleet_system_oom_kills_total 2.0
    """

    name = "meminfo"

    def __init__(self, proc_root: str = "/proc", page_size: int = PAGE_SIZE) -> None:
        self.proc_root = proc_root
        self.page_size = page_size

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        mem = parse.parse_meminfo(read_text(f"{self.proc_root}/meminfo"), MEMINFO_KEYS)
        vm = parse.parse_vmstat(read_text(f"{self.proc_root}/vmstat"), VMSTAT_KEYS)
        total = mem["MemTotal"]
        buffers = mem.get("Buffers", 0)
        cached = mem.get("Cached", 0) + mem.get("SReclaimable", 0)
        used = total - mem.get("MemFree", 0) - buffers - cached
        if used < 0:  # can happen on some container kernels' meminfo; free(1) uses total-free then
            used = total - mem.get("MemFree", 0)
        # MemAvailable exists since Linux 3.14; estimate it as free(1) did before.
        available = mem.get("MemAvailable", mem.get("MemFree", 0) + buffers + cached)
        swap_in = FAMILIES["swap_in_bytes_total"].one(vm.get("pswpin", 0) * self.page_size)
        swap_out = FAMILIES["swap_out_bytes_total"].one(vm.get("pswpout", 0) * self.page_size)
        oom = [FAMILIES["oom_kills_total"].one(vm["oom_kill"])] if "oom_kill" in vm else []
        return [
            gauge("memory_total_bytes", total),
            gauge("memory_available_bytes", available),
            gauge("memory_used_bytes", used),
            gauge("memory_buffers_bytes", buffers),
            gauge("memory_cached_bytes", cached),
            gauge("swap_total_bytes", mem.get("SwapTotal", 0)),
            gauge("swap_free_bytes", mem.get("SwapFree", 0)),
            swap_in,
            swap_out,
            *oom,
        ]


class FileFDCollector(ProcFileCollector):
    """Allocated file handles against the system maximum.

    promfleet_system_filefd_allocated 680.0
    promfleet_system_filefd_maximum 2.466174e+06
    """

    name = "filefd"

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        allocated, maximum = parse.parse_file_nr(read_text(f"{self.proc_root}/sys/fs/file-nr"))
        return [gauge("filefd_allocated", allocated), gauge("filefd_maximum", maximum)]


class _Selection:
    """A :class:`DeviceFilter`'s last answer, reused while the device list is unchanged.

    Devices come and go rarely; searching every name with the regex on every scrape
    would redo the same work.
    """

    __slots__ = ("devices", "dropped", "kept", "names")

    def __init__(self, devices: DeviceFilter) -> None:
        self.devices = devices
        self.names: tuple[str, ...] | None = None
        self.kept: tuple[str, ...] = ()
        self.dropped = 0

    def select(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
        if names != self.names:
            kept, self.dropped = self.devices.select(names)
            self.kept = tuple(kept)
            self.names = names
        return self.kept, self.dropped


@dataclass(frozen=True)
class DeviceFilter:
    """Which devices (disks, interfaces) a collector reports: not excluded, at most ``cap``."""

    exclude: re.Pattern[str] | None
    cap: int

    def select(self, names: Iterable[str]) -> tuple[list[str], int]:
        """(kept names in order, how many were dropped by the cap)."""
        kept: list[str] = []
        dropped = 0
        for name in names:
            if self.exclude is not None and self.exclude.search(name):
                continue
            if len(kept) >= self.cap:
                dropped += 1
                continue
            kept.append(name)
        return kept, dropped


# (family, DiskStats field), in exposition order.
DISKSTATS_METRICS: tuple[tuple[str, str], ...] = (
    ("disk_read_bytes_total", "read_bytes"),
    ("disk_written_bytes_total", "written_bytes"),
    ("disk_reads_completed_total", "reads_completed"),
    ("disk_writes_completed_total", "writes_completed"),
    ("disk_read_time_seconds_total", "read_time_s"),
    ("disk_write_time_seconds_total", "write_time_s"),
    ("disk_io_time_seconds_total", "io_time_s"),
)


class DiskStatsCollector(ProcFileCollector):
    """Disk I/O counters per device from /proc/diskstats.

    promfleet_system_disk_read_bytes_total{device="vda"} 1.418974208e+09
    promfleet_system_disk_io_time_seconds_total{device="vda"} 8.2
    """

    name = "diskstats"

    def __init__(self, devices: DeviceFilter, proc_root: str = "/proc") -> None:
        self.devices = devices
        self.proc_root = proc_root
        self._selection = _Selection(devices)

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        stats = {
            d.device: d for d in parse.parse_diskstats(read_text(f"{self.proc_root}/diskstats"))
        }
        kept, dropped = self._selection.select(tuple(stats))
        columns = [(FAMILIES[key].start(), field) for key, field in DISKSTATS_METRICS]
        for name in kept:
            d = stats[name]
            labels = (name,)
            for builder, field in columns:
                builder.add(labels, getattr(d, field))
        fams = [builder.family for builder, _ in columns]
        return [*fams, gauge("disk_devices_dropped", dropped)]


NETDEV_METRICS: tuple[str, ...] = tuple(
    f"network_{field}_total" for field, _ in parse.NETDEV_FIELDS
)


class NetDevCollector(ProcFileCollector):
    """Network counters per interface from /proc/net/dev.

    promfleet_system_network_receive_bytes_total{device="eth0"} 2.22278182e+08
    promfleet_system_network_transmit_drop_total{device="eth0"} 0.0
    """

    name = "netdev"

    def __init__(self, devices: DeviceFilter, proc_root: str = "/proc") -> None:
        self.devices = devices
        self.proc_root = proc_root
        self._selection = _Selection(devices)

    def read(self, ctx: ScrapeContext) -> list[Metric]:
        rows = dict(parse.parse_net_dev(read_text(f"{self.proc_root}/net/dev")))
        kept, dropped = self._selection.select(tuple(rows))
        builders = [FAMILIES[key].start() for key in NETDEV_METRICS]
        for name in kept:
            labels = (name,)
            for builder, value in zip(builders, rows[name], strict=True):
                builder.add(labels, value)
        fams = [builder.family for builder in builders]
        return [*fams, gauge("network_devices_dropped", dropped)]
