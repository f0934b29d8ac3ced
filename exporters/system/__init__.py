"""The system exporter (``promfleet-exporter system``): host metrics read from /proc.

CPU, memory, swap and OOM kills, filesystems (hung-mount safe), disks, network
interfaces, load, boot time, clock synchronisation, process and thread counts, file
handles, and opt-in process groups. This
module owns the options and wires the collectors; ``metrics.py`` declares each
collector with its families, and ``METRICS``, their union.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from exporters.spec import (
    Collector,
    ExporterDef,
    Option,
    Settings,
    option_value,
    parse_bool,
    parse_duration,
    parse_positive_int,
    parse_str,
    switch_with_alias,
)
from exporters.system.collectors import (
    DeviceFilter,
    DiskStatsCollector,
    FileFDCollector,
    LoadAvgCollector,
    MemInfoCollector,
    NetDevCollector,
    StatCollector,
)
from exporters.system.filesystem import (
    DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
    FilesystemCollector,
    FilesystemConfig,
)
from exporters.system.metrics import COLLECTORS, METRICS, NS, TIMEX
from exporters.system.process_groups import ProcessGroupCollector, parse_process_groups
from exporters.system.timex import TimexCollector

__all__ = ["EXPORTER", "METRICS", "build"]

log = logging.getLogger("promfleet.system")

# node_exporter 1.5's default: RAM disks, loop and floppy devices, and partitions.
DEFAULT_DISK_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


def parse_regex(value: Any) -> re.Pattern[str] | None:
    """A regular expression (searched, so anchor it); the empty string excludes nothing."""
    if value is None or isinstance(value, re.Pattern):
        return value
    text = parse_str(value)
    if text == "":
        return None
    try:
        return re.compile(text)
    except re.error as err:
        raise ValueError(f"bad regular expression {text!r}: {err}") from err


OPTIONS: tuple[Option, ...] = (
    Option(
        "path.procfs",
        "Where procfs is mounted (a host's /proc seen from a container, e.g. /host/proc).",
        "/proc",
        parse_str,
    ),
    Option(
        "filesystem.mount-points-exclude",
        "Regex of mount points not to report (searched; empty excludes none).",
        DEFAULT_MOUNT_POINTS_EXCLUDE,
        parse_regex,
    ),
    Option(
        "filesystem.fs-types-exclude",
        "Regex of filesystem types not to report: pseudo and network filesystems by default.",
        DEFAULT_FS_TYPES_EXCLUDE,
        parse_regex,
    ),
    Option(
        "filesystem.stat-timeout",
        "How long to wait for one mount point's statvfs before calling it stuck.",
        1.0,
        parse_duration,
    ),
    Option("filesystem.max-mounts", "Most mount points reported.", 100, parse_positive_int),
    Option(
        "disk.device-exclude",
        "Regex of block devices not to report (default: ram, loop, floppy, partitions).",
        DEFAULT_DISK_EXCLUDE,
        parse_regex,
    ),
    Option("disk.max-devices", "Most block devices reported.", 100, parse_positive_int),
    Option(
        "network.device-exclude",
        "Regex of network interfaces not to report (default: the loopback, whose errors "
        "and traffic say nothing about the network); empty excludes none.",
        "^lo$",
        parse_regex,
    ),
    Option("network.max-devices", "Most network interfaces reported.", 100, parse_positive_int),
    Option(
        "timex.enabled",
        "Deprecated: use --collector.timex / --no-collector.timex, which win when given. "
        "false still turns the clock collector off.",
        True,
        parse_bool,
    ),
    Option(
        "processes.groups",
        "Process groups to report: a list of {name, comm, cmdline} (regexes; all given "
        "must match). Empty: no per-process metrics.",
        (),
        parse_process_groups,
        structured=True,
    ),
    Option(
        "processes.max-per-group",
        "Most processes of one group whose resources are summed (all are counted).",
        50,
        parse_positive_int,
    ),
)


def _get(settings: Settings, name: str) -> Any:
    return option_value(OPTIONS, settings, name)


def timex_enabled(settings: Settings) -> bool:
    """Whether the clock collector is built: ``--collector.timex`` is its one switch;
    ``--timex.enabled`` its deprecated alias (see :func:`switch_with_alias`)."""
    return switch_with_alias(settings, TIMEX, "timex.enabled", log)


def build(settings: Settings) -> Sequence[Collector]:
    """The collectors for these settings (process groups only when some are configured)."""
    proc = str(_get(settings, "path.procfs")).rstrip("/") or "/"
    collectors: list[Collector] = [
        StatCollector(proc),
        LoadAvgCollector(proc),
        MemInfoCollector(proc),
        FileFDCollector(proc),
        FilesystemCollector(
            FilesystemConfig(
                mount_points_exclude=_get(settings, "filesystem.mount-points-exclude"),
                fs_types_exclude=_get(settings, "filesystem.fs-types-exclude"),
                stat_timeout_s=_get(settings, "filesystem.stat-timeout"),
                max_mounts=_get(settings, "filesystem.max-mounts"),
            ),
            proc,
        ),
        DiskStatsCollector(
            DeviceFilter(_get(settings, "disk.device-exclude"), _get(settings, "disk.max-devices")),
            proc,
        ),
        NetDevCollector(
            DeviceFilter(
                _get(settings, "network.device-exclude"), _get(settings, "network.max-devices")
            ),
            proc,
        ),
    ]
    if timex_enabled(settings):
        collectors.append(TimexCollector())
    groups = _get(settings, "processes.groups")
    if groups:
        collectors.append(
            ProcessGroupCollector(groups, _get(settings, "processes.max-per-group"), proc)
        )
    return collectors


EXPORTER = ExporterDef(
    name="system",
    namespace=NS,
    description="Host metrics from /proc: CPU, memory, filesystems, disks, network, "
    "load, clock synchronisation, processes, file handles, and opt-in process groups.",
    metrics=METRICS,
    options=OPTIONS,
    build=build,
    default_port=9101,
    collectors=COLLECTORS,
)
