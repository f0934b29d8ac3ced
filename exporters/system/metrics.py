"""The system exporter's collectors, each with the families it publishes, and ``METRICS``.

Each ``CollectorDef`` below declares its own families; ``METRICS`` (the contract the
runtime, the docs and the rule checks read) is their union. The collector classes live
beside their parsers (``collectors.py``, ``filesystem.py``, ``timex.py``,
``process_groups.py``) and build families through ``FAMILIES`` by short name.
"""

from __future__ import annotations

from exporters.families import Families
from exporters.spec import CollectorDef, MetricNamespace, MetricSpec, metrics_of

NS = "promfleet_system"
_FS = ("mountpoint", "device", "fstype")
_m = MetricNamespace(NS)


STAT = CollectorDef(
    "stat",
    "CPU time, boot time, processes (/proc/stat)",
    (
        _m("cpu_seconds_total", "counter", "Seconds each CPU spent in each mode.", "cpu", "mode"),
        _m("boot_time_seconds", "gauge", "Unix time the machine booted."),
        _m(
            "processes",
            "gauge",
            "Tasks by scheduler state as /proc/stat counts them: running (runnable) and "
            "blocked (waiting for I/O).",
            "state",
        ),
        _m("pids", "gauge", "Processes that exist now (thread-group leaders)."),
    ),
)


LOADAVG = CollectorDef(
    "loadavg",
    "load averages and threads (/proc/loadavg)",
    (
        _m("load1", "gauge", "1-minute load average."),
        _m("load5", "gauge", "5-minute load average."),
        _m("load15", "gauge", "15-minute load average."),
        _m("threads", "gauge", "Threads of all processes (kernel scheduling entities)."),
    ),
)


MEMINFO = CollectorDef(
    "meminfo",
    "memory, swap and OOM kills (/proc/meminfo, /proc/vmstat)",
    (
        _m("memory_total_bytes", "gauge", "Usable RAM (MemTotal)."),
        _m("memory_available_bytes", "gauge", "RAM available to start new work (MemAvailable)."),
        _m(
            "memory_used_bytes",
            "gauge",
            "RAM in use: total minus free, buffers and cache (Cached + SReclaimable), as free(1).",
        ),
        _m("memory_buffers_bytes", "gauge", "RAM in block-device buffers (Buffers)."),
        _m("memory_cached_bytes", "gauge", "RAM in the page cache and reclaimable slab."),
        _m("swap_total_bytes", "gauge", "Swap space configured (SwapTotal)."),
        _m("swap_free_bytes", "gauge", "Swap space unused (SwapFree)."),
        _m("swap_in_bytes_total", "counter", "Bytes read in from swap."),
        _m("swap_out_bytes_total", "counter", "Bytes written out to swap."),
        _m(
            "oom_kills_total",
            "counter",
            "Processes the kernel's out-of-memory killer ended (vmstat oom_kill; absent on "
            "kernels older than 4.13, which do not count them).",
        ),
    ),
)


FILEFD = CollectorDef(
    "filefd",
    "file handles (/proc/sys/fs/file-nr)",
    (
        _m(
            "filefd_allocated",
            "gauge",
            "File handles allocated system-wide (/proc/sys/fs/file-nr).",
        ),
        _m("filefd_maximum", "gauge", "The system's maximum number of file handles (fs.file-max)."),
    ),
)


FILESYSTEM = CollectorDef(
    "filesystem",
    "space, inodes and state of mounted filesystems",
    (
        _m("filesystem_size_bytes", "gauge", "Size of the filesystem.", *_FS),
        _m(
            "filesystem_free_bytes", "gauge", "Free space, including space reserved for root.", *_FS
        ),
        _m("filesystem_avail_bytes", "gauge", "Space available to unprivileged users.", *_FS),
        _m("filesystem_files", "gauge", "Inodes in the filesystem.", *_FS),
        _m("filesystem_files_free", "gauge", "Free inodes.", *_FS),
        _m("filesystem_readonly", "gauge", "1 when the filesystem is mounted read-only.", *_FS),
        _m(
            "filesystem_device_error",
            "gauge",
            "1 when statvfs failed or did not answer in time for this mount point (its size "
            "metrics are then absent).",
            *_FS,
        ),
        _m(
            "filesystem_stuck",
            "gauge",
            "1 while a statvfs call on this mount point has not returned; the mount is skipped "
            "until it does, so a hung mount never hangs a scrape.",
            *_FS,
        ),
        _m(
            "filesystem_mounts_dropped",
            "gauge",
            "Mount points left out of this scrape because filesystem.max-mounts was reached.",
        ),
    ),
)


DISKSTATS = CollectorDef(
    "diskstats",
    "block device I/O (/proc/diskstats)",
    (
        _m("disk_read_bytes_total", "counter", "Bytes read from the device.", "device"),
        _m("disk_written_bytes_total", "counter", "Bytes written to the device.", "device"),
        _m("disk_reads_completed_total", "counter", "Reads completed.", "device"),
        _m("disk_writes_completed_total", "counter", "Writes completed.", "device"),
        _m("disk_read_time_seconds_total", "counter", "Seconds spent by all reads.", "device"),
        _m("disk_write_time_seconds_total", "counter", "Seconds spent by all writes.", "device"),
        _m(
            "disk_io_time_seconds_total",
            "counter",
            "Seconds the device had I/O in flight (its busy time).",
            "device",
        ),
        _m(
            "disk_devices_dropped",
            "gauge",
            "Block devices left out of this scrape because disk.max-devices was reached.",
        ),
    ),
)


NETDEV = CollectorDef(
    "netdev",
    "network device traffic (/proc/net/dev)",
    (
        *(
            _m(
                f"network_{direction}_{what}_total",
                "counter",
                f"{text} {'received' if direction == 'receive' else 'transmitted'} on the "
                "interface.",
                "device",
            )
            for direction in ("receive", "transmit")
            for what, text in (
                ("bytes", "Bytes"),
                ("packets", "Packets"),
                ("errs", "Errors"),
                ("drop", "Packets dropped"),
            )
        ),
        _m(
            "network_devices_dropped",
            "gauge",
            "Interfaces left out of this scrape because network.max-devices was reached.",
        ),
    ),
)


TIMEX = CollectorDef(
    "timex",
    "the kernel clock's synchronisation (adjtimex)",
    (
        _m(
            "timex_sync_status",
            "gauge",
            "1 when the kernel clock is synchronised (adjtimex: neither TIME_ERROR nor "
            "STA_UNSYNC), 0 when it is not.",
        ),
        _m(
            "timex_offset_seconds",
            "gauge",
            "Offset between the kernel clock and its time source, as the NTP daemon last set it.",
        ),
        _m(
            "timex_maxerror_seconds",
            "gauge",
            "The kernel clock's maximum error bound (16 s once the NTP daemon stops updating it).",
        ),
        _m("timex_estimated_error_seconds", "gauge", "The kernel clock's estimated error."),
    ),
)


PROCESSES = CollectorDef(
    "processes",
    "process groups (with --processes.groups)",
    (
        _m(
            "process_cpu_seconds_total",
            "counter",
            "CPU seconds used by the group's sampled processes, by mode (user, system); a "
            "member exiting lowers the sum, which rate() reads as a counter reset.",
            "group",
            "mode",
        ),
        _m(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the group's sampled processes, summed.",
            "group",
        ),
        _m(
            "process_open_fds",
            "gauge",
            "Open file descriptors of the group's sampled processes whose fd table this "
            "exporter may read.",
            "group",
        ),
        _m("process_threads", "gauge", "Threads of the group's sampled processes.", "group"),
        _m(
            "process_start_time_seconds",
            "gauge",
            "Unix start time of the group's oldest sampled process.",
            "group",
        ),
        _m(
            "process_group_members",
            "gauge",
            "Processes matching the group; the other process_ metrics sum at most "
            "processes.max-per-group of them.",
            "group",
        ),
    ),
)


COLLECTORS: tuple[CollectorDef, ...] = (
    STAT, LOADAVG, MEMINFO, FILEFD, FILESYSTEM, DISKSTATS, NETDEV, TIMEX, PROCESSES,
)
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))

# Label sets remembered per family; device names are capped well below this by the
# collectors, so reaching it means churn, and starting afresh is enough.
FAMILIES = Families(METRICS, NS + "_", max_label_sets=1024)
