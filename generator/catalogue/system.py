"""Catalogue area ``system``: host CPU, memory, filesystems, file descriptors, swap, load.

Recording rules turn the system exporter's raw series (``promfleet_system_*``) into
``instance:...:ratio`` signals; the alerts compare those signals with their thresholds.
"""

from __future__ import annotations

from generator.model import (
    AlertTest,
    Area,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import series

HOST = (("instance", "host-1:9101"), ("job", "system"))
ROOT_FS = (("device", "/dev/sda1"), ("fstype", "ext4"), *HOST, ("mountpoint", "/"))
SEL = 'job=~"$job",instance=~"$instance"'
# A read-only filesystem cannot fill up further, and one mounted full on purpose (an
# image, a read-only bind mount) would otherwise page for ever.
WRITABLE = "and promfleet_system_filesystem_readonly == 0"


def fs_series(*pairs: tuple[str, str]) -> tuple[TestSeries, ...]:
    """Series of the root filesystem, mounted read-write, with ``(metric, values)`` pairs."""
    samples = pairs[0][1].rsplit("x", 1)[-1]
    return (
        *(series(metric, ROOT_FS, values) for metric, values in pairs),
        series("promfleet_system_filesystem_readonly", ROOT_FS, f"0+0x{samples}"),
    )


def cpu_idle(per_minute: float, samples: int = 40) -> tuple[TestSeries, ...]:
    """Two CPUs whose idle counters grow by ``per_minute`` seconds each minute."""
    return tuple(
        series(
            "promfleet_system_cpu_seconds_total",
            (("cpu", cpu), *HOST, ("mode", "idle")),
            f"1000+{per_minute:g}x{samples}",
        )
        for cpu in ("0", "1")
    )


CPU = "instance:promfleet_system_cpu_utilisation:ratio"
CPUS = "instance:promfleet_system_cpus:count"
LOAD = "instance:promfleet_system_load5_per_cpu:ratio"
MEMORY = "instance:promfleet_system_memory_utilisation:ratio"
SWAP = "instance:promfleet_system_swap_utilisation:ratio"
FS = "instance_mountpoint:promfleet_system_filesystem_utilisation:ratio"
INODES = "instance_mountpoint:promfleet_system_filesystem_inodes_utilisation:ratio"
FDS = "instance:promfleet_system_filefd_utilisation:ratio"

RECORDING_RULES = (
    RecordingRule(
        CPU,
        "1 - avg without (cpu) (sum without (mode) ("
        'rate(promfleet_system_cpu_seconds_total{mode=~"idle|iowait|steal"}[5m])))',
    ),
    RecordingRule(
        CPUS, 'count without (cpu, mode) (promfleet_system_cpu_seconds_total{mode="idle"})'
    ),
    RecordingRule(LOAD, f"promfleet_system_load5 / {CPUS}"),
    RecordingRule(
        MEMORY, "1 - promfleet_system_memory_available_bytes / promfleet_system_memory_total_bytes"
    ),
    RecordingRule(
        SWAP, "1 - promfleet_system_swap_free_bytes / (promfleet_system_swap_total_bytes > 0)"
    ),
    RecordingRule(
        FS,
        "1 - promfleet_system_filesystem_avail_bytes"
        " / (promfleet_system_filesystem_size_bytes > 0)",
    ),
    RecordingRule(
        INODES,
        "1 - promfleet_system_filesystem_files_free / (promfleet_system_filesystem_files > 0)",
    ),
    RecordingRule(FDS, "promfleet_system_filefd_allocated / (promfleet_system_filefd_maximum > 0)"),
)

_ESCALATE_OPS = (
    "Page the ops on-call engineer through the pager rota if it is not resolved within "
    "30 minutes, or at once when a service is already degraded."
)

CPU_HIGH = Threshold(
    name="SystemCPUHigh",
    signal=CPU,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=600,
            cooldown_seconds=900,
            test=AlertTest(
                firing=cpu_idle(3),  # 0.05 s idle per second: 95 % busy
                quiet=cpu_idle(48),  # 0.8 s idle per second: 20 % busy
                labels=HOST,
                value=0.95,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="CPU on {{ $labels.instance }} is {{ $value | humanizePercentage }} busy",
    description=(
        "All CPUs of {{ $labels.instance }} together have been more than 90 % busy for "
        "10 minutes (now {{ $value | humanizePercentage }}). Requests queue and slow down."
    ),
    runbook=Runbook(
        meaning="The host's CPUs have been almost fully busy for ten minutes.",
        impact="Every process on the host gets less CPU time: latency rises, timeouts follow.",
        diagnosis=(
            f"Which hosts and how busy: `sort_desc({CPU})`",
            "Busy doing what (user, system, softirq; steal is the hypervisor taking it): "
            "`sum by (mode) (rate(promfleet_system_cpu_seconds_total"
            '{instance="<instance>"}[5m]))`',
            "Which process groups use it: `topk(5, sum by (group) (rate("
            'promfleet_system_process_cpu_seconds_total{instance="<instance>"}[5m])))`',
            "On the host, the processes and the CPUs: "
            "```sh\ntop -b -n 1 -o %CPU | head -20\n"
            "ps -eo pid,user,pcpu,etime,comm --sort=-pcpu | head -15\n```",
        ),
        mitigation=(
            "Stop or throttle a runaway process (a batch job, a stuck loop).",
            "Move load elsewhere or add capacity when the load is legitimate.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="CPU utilisation",
        expr=f"{CPU}{{{SEL}}}",
        unit="percentunit",
        description="Share of CPU time not idle, averaged over all CPUs of the host.",
    ),
)

MEMORY_HIGH = Threshold(
    name="SystemMemoryHigh",
    signal=MEMORY,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=600,
            cooldown_seconds=900,
            test=AlertTest(
                firing=(
                    series("promfleet_system_memory_total_bytes", HOST, "8000000000+0x30"),
                    series("promfleet_system_memory_available_bytes", HOST, "400000000+0x30"),
                ),
                quiet=(
                    series("promfleet_system_memory_total_bytes", HOST, "8000000000+0x30"),
                    series("promfleet_system_memory_available_bytes", HOST, "4000000000+0x30"),
                ),
                labels=HOST,
                value=0.95,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Memory on {{ $labels.instance }} is {{ $value | humanizePercentage }} used",
    description=(
        "{{ $labels.instance }} has had less than 10 % of its memory available for 10 "
        "minutes (now {{ $value | humanizePercentage }} used). The kernel will soon "
        "reclaim caches aggressively or kill a process."
    ),
    runbook=Runbook(
        meaning="Less than a tenth of the host's memory is available to new allocations.",
        impact="Page-cache thrashing, swapping, and the out-of-memory killer ending a process.",
        diagnosis=(
            f"Which hosts: `sort_desc({MEMORY})`",
            "Growing or steady (a leak climbs for hours): "
            '`promfleet_system_memory_available_bytes{instance="<instance>"}` over 24 hours',
            "Which process groups hold it: `topk(5, "
            'promfleet_system_process_resident_memory_bytes{instance="<instance>"})`',
            "On the host, the largest processes and whether the OOM killer already ran: "
            "```sh\nfree -m\nps -eo pid,user,rss,etime,comm --sort=-rss | head -15\n"
            "journalctl -k --since -2h | grep -iE 'out of memory|oom-kill' | tail\n```",
        ),
        mitigation=(
            "Restart a process whose memory keeps growing (a leak), after taking a heap dump.",
            "Lower a cache's size limit, or move a service to a larger host.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Memory utilisation",
        expr=f"{MEMORY}{{{SEL}}}",
        unit="percentunit",
        description="Share of memory not available to new allocations.",
    ),
)

DISK_HIGH = Threshold(
    name="SystemDiskSpaceHigh",
    signal=FS,
    op=">",
    guard=WRITABLE,
    levels=(
        Level(
            Severity.CRITICAL,
            0.9,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=fs_series(
                    ("promfleet_system_filesystem_size_bytes", "100000000000+0x20"),
                    ("promfleet_system_filesystem_avail_bytes", "5000000000+0x20"),
                ),
                quiet=fs_series(
                    ("promfleet_system_filesystem_size_bytes", "100000000000+0x20"),
                    ("promfleet_system_filesystem_avail_bytes", "50000000000+0x20"),
                ),
                labels=ROOT_FS,
                value=0.95,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is "
        "{{ $value | humanizePercentage }} full"
    ),
    description=(
        "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} has been "
        "more than 90 % full for 5 minutes (now {{ $value | humanizePercentage }}). Writes "
        "fail when it is full. Read-only filesystems are left out."
    ),
    runbook=Runbook(
        meaning="A filesystem has less than a tenth of its space available.",
        impact="When it fills, writes fail: databases stop, logs are lost, services crash.",
        diagnosis=(
            f"Which filesystems: `sort_desc({FS} > 0.9)`",
            "How fast it fills, in bytes per second (negative: filling): "
            "`deriv(promfleet_system_filesystem_avail_bytes"
            '{instance="<instance>",mountpoint="<mountpoint>"}[1h])`',
            "On the host, what is big, and deleted files still held open (their space is "
            "only freed when the process closes them): "
            "```sh\ndf -h <mountpoint>\n"
            "du -xh --max-depth=2 <mountpoint> 2>/dev/null | sort -h | tail -20\n"
            "lsof -nP +L1 <mountpoint> 2>/dev/null | head\n```",
        ),
        mitigation=(
            "Delete or compress what can go: old logs, core dumps, package caches.",
            "Grow the volume, or move data to a larger one.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Filesystem utilisation",
        expr=f"{FS}{{{SEL}}}",
        unit="percentunit",
        description="Share of each filesystem's space not available to unprivileged users.",
        legend="{{instance}} {{mountpoint}}",
    ),
)

FS_FILLING = Threshold(
    name="SystemFilesystemFillingUp",
    signal="predict_linear(promfleet_system_filesystem_avail_bytes[6h], 86400)",
    op="<",
    guard=f"and {FS} > 0.5 {WRITABLE}",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=3600,
            cooldown_seconds=14400,
            test=AlertTest(
                # 40 GB free of 100 GB, losing 50 MB a minute: empty in about 13 hours.
                firing=fs_series(
                    ("promfleet_system_filesystem_size_bytes", "100000000000+0x80"),
                    ("promfleet_system_filesystem_avail_bytes", "40000000000-50000000x80"),
                ),
                quiet=fs_series(
                    ("promfleet_system_filesystem_size_bytes", "100000000000+0x80"),
                    ("promfleet_system_filesystem_avail_bytes", "40000000000+0x80"),
                ),
                labels=ROOT_FS,
                value=-1,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} fills within a day",
    description=(
        "At the rate of the last 6 hours, {{ $labels.mountpoint }} ({{ $labels.device }}) "
        "on {{ $labels.instance }} runs out of space within 24 hours."
    ),
    runbook=Runbook(
        meaning="A half-full filesystem is filling fast enough to be full within 24 hours.",
        impact="Nothing yet; when it fills, writes fail.",
        diagnosis=(
            "Prediction in bytes a day from now (negative: full within a day): "
            "`predict_linear(promfleet_system_filesystem_avail_bytes"
            '{instance="<instance>",mountpoint="<mountpoint>"}[6h], 86400)`',
            "Hours left at the current rate: `promfleet_system_filesystem_avail_bytes"
            '{instance="<instance>",mountpoint="<mountpoint>"} / -deriv('
            "promfleet_system_filesystem_avail_bytes"
            '{instance="<instance>",mountpoint="<mountpoint>"}[6h]) / 3600`',
            "On the host, what grew in the last hours: "
            "```sh\ndf -h <mountpoint>\n"
            "find <mountpoint> -xdev -type f -mmin -360 -size +100M -exec ls -lh {} + "
            "2>/dev/null | sort -k5 -h | tail\n```",
        ),
        mitigation=(
            "Find the writer (log level left at debug, a runaway queue) and stop it.",
            "Rotate or ship logs, or grow the volume before it fills.",
        ),
        escalation="Hand over to the owning team in working hours; page if it fills tonight.",
    ),
    panel=Panel(
        title="Filesystem space available",
        expr=f"promfleet_system_filesystem_avail_bytes{{{SEL}}}",
        unit="bytes",
        description="Bytes available to unprivileged users on each filesystem.",
        legend="{{instance}} {{mountpoint}}",
    ),
)

INODES_HIGH = Threshold(
    name="SystemInodesHigh",
    signal=INODES,
    op=">",
    guard=WRITABLE,
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=fs_series(
                    ("promfleet_system_filesystem_files", "1000000+0x30"),
                    ("promfleet_system_filesystem_files_free", "20000+0x30"),
                ),
                quiet=fs_series(
                    ("promfleet_system_filesystem_files", "1000000+0x30"),
                    ("promfleet_system_filesystem_files_free", "800000+0x30"),
                ),
                labels=ROOT_FS,
                value=0.98,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Inodes of {{ $labels.mountpoint }} on {{ $labels.instance }} are "
        "{{ $value | humanizePercentage }} used"
    ),
    description=(
        "{{ $labels.mountpoint }} on {{ $labels.instance }} has used more than 90 % of its "
        "inodes for 15 minutes (now {{ $value | humanizePercentage }}). New files cannot be "
        "created when none are left, even with space free."
    ),
    runbook=Runbook(
        meaning="A filesystem is running out of inodes (file entries), not of bytes.",
        impact="Creating a file fails with 'No space left on device' although df shows space.",
        diagnosis=(
            f"Which filesystems: `sort_desc({INODES} > 0.9)`",
            "On the host, which directories hold the most files: "
            "```sh\ndf -i <mountpoint>\n"
            "find <mountpoint> -xdev -type f 2>/dev/null | cut -d/ -f1-4 | sort | uniq -c "
            "| sort -n | tail\n```",
        ),
        mitigation=(
            "Delete the many small files (session files, mail spools, caches).",
            "Recreate the filesystem with more inodes when the workload needs them.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Inode utilisation",
        expr=f"{INODES}{{{SEL}}}",
        unit="percentunit",
        description="Share of each filesystem's inodes in use.",
        legend="{{instance}} {{mountpoint}}",
    ),
)


def _fds(allocated: int) -> tuple[TestSeries, ...]:
    return (
        series("promfleet_system_filefd_maximum", HOST, "1000+0x30"),
        series("promfleet_system_filefd_allocated", HOST, f"{allocated}+0x30"),
    )


FDS_HIGH = Threshold(
    name="SystemFileDescriptorsHigh",
    signal=FDS,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.7,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_fds(800), quiet=_fds(100), labels=HOST, value=0.8),
        ),
        Level(
            Severity.CRITICAL,
            0.9,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=_fds(950), quiet=_fds(800), labels=HOST, value=0.95, quiet_value=0.8
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of its file descriptors"
    ),
    description=(
        "The kernel on {{ $labels.instance }} has allocated {{ $value | humanizePercentage }} "
        "of its file-descriptor limit for 5 minutes. When it runs out, no process can open a "
        "file or a socket."
    ),
    runbook=Runbook(
        meaning="The host-wide count of open files and sockets is near the kernel's limit.",
        impact="At the limit, accept(), open() and connect() fail in every process.",
        diagnosis=(
            f"How close: `{FDS}`",
            "Growing steadily (a leak) or a burst: "
            '`promfleet_system_filefd_allocated{instance="<instance>"}` over 6 hours',
            "Which process groups hold them: "
            '`topk(5, promfleet_system_process_open_fds{instance="<instance>"})`',
            "On the host (allocated, free, maximum), then the processes holding the most: "
            "```sh\ncat /proc/sys/fs/file-nr\n"
            'for p in /proc/[0-9]*; do echo "$(ls $p/fd 2>/dev/null | wc -l) $(cat '
            '$p/comm 2>/dev/null)"; done | sort -n | tail\n```',
        ),
        mitigation=(
            "Restart the process leaking descriptors (their count only grows).",
            "Raise fs.file-max when the load is legitimate.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="File descriptors in use",
        expr=f"{FDS}{{{SEL}}}",
        unit="percentunit",
        description="Allocated file descriptors as a share of the kernel's limit.",
    ),
)

SWAP_HIGH = Threshold(
    name="SystemSwapHigh",
    signal=SWAP,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.8,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series("promfleet_system_swap_total_bytes", HOST, "2000000000+0x30"),
                    series("promfleet_system_swap_free_bytes", HOST, "200000000+0x30"),
                ),
                quiet=(
                    series("promfleet_system_swap_total_bytes", HOST, "2000000000+0x30"),
                    series("promfleet_system_swap_free_bytes", HOST, "1800000000+0x30"),
                ),
                labels=HOST,
                value=0.9,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Swap on {{ $labels.instance }} is {{ $value | humanizePercentage }} used",
    description=(
        "{{ $labels.instance }} has used more than 80 % of its swap for 15 minutes (now "
        "{{ $value | humanizePercentage }}): memory is overcommitted."
    ),
    runbook=Runbook(
        meaning="Most of the host's swap space is in use.",
        impact="Processes whose pages are swapped out stall on every access to them.",
        diagnosis=(
            f"How full: `{SWAP}`",
            "Is it swapping now (pages read back in hurt; a full but idle swap matters "
            'less): `rate(promfleet_system_swap_in_bytes_total{instance="<instance>"}[5m])`',
            "On the host, the si/so columns, and which processes are swapped out: "
            "```sh\nvmstat 1 5\n"
            "grep VmSwap /proc/[0-9]*/status 2>/dev/null | sort -k2 -n | tail\n```",
        ),
        mitigation=(
            "Find and restart the process that grew, or add memory.",
            "Lower the memory limits of caches that can shrink.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Swap utilisation",
        expr=f"{SWAP}{{{SEL}}}",
        unit="percentunit",
        description="Share of swap space in use.",
    ),
)


def _load(load5: float) -> tuple[TestSeries, ...]:
    return (*cpu_idle(30), series("promfleet_system_load5", HOST, f"{load5:g}+0x30"))


LOAD_HIGH = Threshold(
    name="SystemLoadHigh",
    signal=LOAD,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            2,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(firing=_load(6), quiet=_load(1), labels=HOST, value=3),
        ),
    ),
    team=Team.OPS,
    summary="Load on {{ $labels.instance }} is {{ $value | humanize }} per CPU",
    description=(
        "The 5-minute load average of {{ $labels.instance }} has been above 2 per CPU for 15 "
        "minutes (now {{ $value | humanize }}): runnable and blocked tasks are queueing."
    ),
    runbook=Runbook(
        meaning="More tasks want to run (or wait on I/O) than the host has CPUs.",
        impact="Everything on the host runs slower; I/O-bound load also shows as high load.",
        diagnosis=(
            f"Load per CPU: `{LOAD}`",
            f'Is it CPU (compare with the CPU utilisation): `{CPU}{{instance="<instance>"}}`',
            "Or I/O (a disk near 1 is saturated): "
            '`rate(promfleet_system_disk_io_time_seconds_total{instance="<instance>"}[5m])`',
            "Tasks by state (running, blocked on I/O): "
            '`promfleet_system_processes{instance="<instance>"}`',
            "On the host: runnable (R) and uninterruptible (D) tasks: "
            "```sh\nuptime; vmstat 1 5\n"
            "ps -eo state,pid,wchan:20,comm | awk '$1 ~ /^[RD]/' | head -20\n```",
        ),
        mitigation=(
            "For CPU, see SystemCPUHigh; for I/O, find the process saturating the disk.",
            "Spread the work over more hosts.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Load per CPU",
        expr=f"{LOAD}{{{SEL}}}",
        unit="short",
        description="5-minute load average divided by the number of CPUs.",
    ),
)

AREA = Area(
    name="system",
    title="System",
    description="Host resources as the system exporter sees them: CPU, memory, disks, load.",
    recording_rules=RECORDING_RULES,
    thresholds=(
        CPU_HIGH,
        MEMORY_HIGH,
        DISK_HIGH,
        FS_FILLING,
        INODES_HIGH,
        FDS_HIGH,
        SWAP_HIGH,
        LOAD_HIGH,
    ),
)
