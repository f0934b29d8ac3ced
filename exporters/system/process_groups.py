"""Opt-in per-process metrics for configured process groups (label ``group``, never a pid).

A group selects processes by a regex on the process name (``comm``), on the command
line, or both (all given must match); a process counts in the first group it matches,
in configuration order, so group sums never count a process twice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric

from exporters.spec import BlockingCollector, ScrapeContext
from exporters.system import parse
from exporters.system.collectors import CLK_TCK, PAGE_SIZE, read_text
from exporters.system.metrics import FAMILIES

_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ProcessGroup:
    name: str
    comm: re.Pattern[str] | None = None
    cmdline: re.Pattern[str] | None = None


def _pattern(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty regular expression")
    try:
        return re.compile(value)
    except re.error as err:
        raise ValueError(f"{where}: bad regular expression {value!r}: {err}") from err


def parse_process_groups(value: Any) -> tuple[ProcessGroup, ...]:
    """The ``processes.groups`` option: a list of ``{name, comm, cmdline}`` mappings.

    Given as YAML in the config file, or as JSON/YAML text on the command line or in
    the environment, e.g. ``[{name: postgres, comm: "^postgres$"}]``.
    """
    if isinstance(value, tuple) and all(isinstance(g, ProcessGroup) for g in value):
        return value
    if isinstance(value, str):
        import yaml  # on first use: groups come as text only from a flag or the environment

        try:
            value = yaml.safe_load(value) if value.strip() else []
        except yaml.YAMLError as err:
            raise ValueError(f"not valid YAML or JSON: {err}") from err
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("expected a list of {name, comm, cmdline} mappings")
    groups: list[ProcessGroup] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"group {i + 1}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a mapping with name and comm and/or cmdline")
        unknown = set(item) - {"name", "comm", "cmdline"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not _GROUP_NAME.match(name):
            raise ValueError(f"{where}: name must be a short identifier, got {name!r}")
        if name in seen:
            raise ValueError(f"{where}: group {name!r} configured twice")
        seen.add(name)
        if item.get("comm") is None and item.get("cmdline") is None:
            raise ValueError(f"{where} ({name}): give comm, cmdline or both")
        groups.append(
            ProcessGroup(
                name=name,
                comm=None if item.get("comm") is None else _pattern(item["comm"], f"{name}.comm"),
                cmdline=None
                if item.get("cmdline") is None
                else _pattern(item["cmdline"], f"{name}.cmdline"),
            )
        )
    return tuple(groups)


@dataclass
class _GroupTotals:
    count: int = 0
    sampled: int = 0
    user_ticks: int = 0
    system_ticks: int = 0
    rss_pages: int = 0
    threads: int = 0
    open_fds: int = 0
    oldest_start_ticks: int | None = None


class ProcessGroupCollector(BlockingCollector):
    """CPU, memory, fds, threads and start time summed per configured group.

    promfleet_system_process_cpu_seconds_total{group="postgres",mode="user"} 12.5
    promfleet_system_process_resident_memory_bytes{group="postgres"} 8.3e+07
    promfleet_system_process_group_members{group="postgres"} 7.0
    """

    name = "processes"

    def __init__(
        self,
        groups: Sequence[ProcessGroup],
        max_per_group: int = 50,
        proc_root: str = "/proc",
        clk_tck: int = CLK_TCK,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.groups = tuple(groups)
        self.max_per_group = max_per_group
        self.proc_root = proc_root
        self.clk_tck = clk_tck
        self.page_size = page_size
        self._needs_cmdline = any(g.cmdline is not None for g in self.groups)

    def _cmdline(self, pid: str) -> str:
        with open(f"{self.proc_root}/{pid}/cmdline", "rb") as handle:
            return parse.parse_cmdline(handle.read())

    def _open_fds(self, pid: str) -> int | None:
        try:
            return len(os.listdir(f"{self.proc_root}/{pid}/fd"))
        except PermissionError:
            return None  # another user's process; documented in the metric's HELP

    def match(self, comm: str, cmdline: str | None) -> ProcessGroup | None:
        for group in self.groups:
            if group.comm is not None and not group.comm.search(comm):
                continue
            if group.cmdline is not None and not group.cmdline.search(cmdline or ""):
                continue
            return group
        return None

    def collect_blocking(self, ctx: ScrapeContext) -> Iterable[Metric]:
        totals = {g.name: _GroupTotals() for g in self.groups}
        with os.scandir(self.proc_root) as entries:
            pids = [e.name for e in entries if e.name.isdigit()]
        for pid in pids:
            try:
                stat = parse.parse_pid_stat(read_text(f"{self.proc_root}/{pid}/stat"))
                cmdline = self._cmdline(pid) if self._needs_cmdline else None
                group = self.match(stat.comm, cmdline)
                if group is None:
                    continue
                t = totals[group.name]
                t.count += 1
                if t.sampled >= self.max_per_group:
                    continue
                fds = self._open_fds(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue  # the process exited between the listing and the read
            except PermissionError:
                # procfs mounted with hidepid=1 lists other users' processes but hides
                # their files: those cannot be matched, as with hidepid=2 where they
                # are not listed at all. One unreadable process must not fail the rest.
                continue
            t.sampled += 1
            t.user_ticks += stat.utime
            t.system_ticks += stat.stime
            t.rss_pages += stat.rss_pages
            t.threads += stat.threads
            t.open_fds += fds or 0
            if t.oldest_start_ticks is None or stat.start_ticks < t.oldest_start_ticks:
                t.oldest_start_ticks = stat.start_ticks

        boot_time = parse.parse_stat(read_text(f"{self.proc_root}/stat")).boot_time
        keys = (
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_threads",
            "process_start_time_seconds",
            "process_group_members",
        )
        b = {key: FAMILIES[key].start() for key in keys}
        tick = 1.0 / self.clk_tck
        for name, t in totals.items():
            b["process_group_members"].add((name,), t.count)
            if t.sampled == 0:
                continue  # nothing running: only the count (0) says so
            b["process_cpu_seconds_total"].add((name, "user"), t.user_ticks * tick)
            b["process_cpu_seconds_total"].add((name, "system"), t.system_ticks * tick)
            b["process_resident_memory_bytes"].add((name,), t.rss_pages * self.page_size)
            b["process_open_fds"].add((name,), t.open_fds)
            b["process_threads"].add((name,), t.threads)
            assert t.oldest_start_ticks is not None
            b["process_start_time_seconds"].add((name,), boot_time + t.oldest_start_ticks * tick)
        return [builder.family for builder in b.values()]
