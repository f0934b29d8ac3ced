"""Catalogue area ``system``: host CPU, memory, filesystems, disks, network, clock, load.

Recording rules turn the system exporter's raw series (``promfleet_system_*``) into
``instance:...:ratio`` signals; the alerts compare those signals with their thresholds.

A mount whose ``statvfs`` fails or hangs loses its size series (the exporter publishes
``promfleet_system_filesystem_device_error 1`` instead): the disk alerts then read the
mount's last value of the past hour (:func:`while_erroring`), so they stay firing rather
than resolve, and ``SystemFilesystemDeviceError`` tells why the numbers stopped.
"""

from __future__ import annotations

from generator.catalogue._gather import gather_module
from generator.model import (
    AlertTest,
    Category,
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
DEVICE_ERROR = "promfleet_system_filesystem_device_error"
FS_LABELS = "instance, job, mountpoint, device, fstype"


def while_erroring(record: str) -> str:
    """``record``, or while statvfs fails on the mount, its last value of the past hour.

    The size series vanish while a mount errors; an alert on them would resolve then,
    just when the mount is in the worst state. Past the hour the device-error alert
    stands alone (a longer look-back costs every evaluation more samples).
    """
    return f"({record} or (last_over_time({record}[1h]) and on ({FS_LABELS}) {DEVICE_ERROR} == 1))"


def fs_series(*pairs: tuple[str, str]) -> tuple[TestSeries, ...]:
    """Series of the root filesystem, mounted read-write, with ``(metric, values)`` pairs."""
    samples = pairs[0][1].rsplit("x", 1)[-1]
    return (
        *(series(metric, ROOT_FS, values) for metric, values in pairs),
        series("promfleet_system_filesystem_readonly", ROOT_FS, f"0+0x{samples}"),
    )


def cpu_idle(per_minute: float, samples: int = 40) -> tuple[TestSeries, ...]:
    """Two CPUs whose idle counters grow by ``per_minute`` seconds each minute, and whose
    user counters take the rest of the minute."""
    return tuple(
        series(
            "promfleet_system_cpu_seconds_total",
            (("cpu", cpu), *HOST, ("mode", mode)),
            f"1000+{step:g}x{samples}",
        )
        for cpu in ("0", "1")
        for mode, step in (("idle", per_minute), ("user", 60 - per_minute))
    )


CPU = "instance:promfleet_system_cpu_utilisation:ratio"
CPUS = "instance:promfleet_system_cpus:count"
LOAD = "instance:promfleet_system_load5_per_cpu:ratio"
MEMORY = "instance:promfleet_system_memory_utilisation:ratio"
SWAP = "instance:promfleet_system_swap_utilisation:ratio"
FS = "instance_mountpoint:promfleet_system_filesystem_utilisation:ratio"
INODES = "instance_mountpoint:promfleet_system_filesystem_inodes_utilisation:ratio"
FDS = "instance:promfleet_system_filefd_utilisation:ratio"
SPACE_LEFT = "instance_mountpoint:promfleet_system_filesystem_avail_bytes:seconds_to_zero_6h"
INODES_LEFT = "instance_mountpoint:promfleet_system_filesystem_files_free:seconds_to_zero_6h"
DISK_BUSY = "instance_device:promfleet_system_disk_io_time_seconds:rate5m"
NET_ERRORS = "instance_device:promfleet_system_network_errors:ratio_rate5m"
# The utilisations the disk alerts read: as FS and INODES, but while statvfs fails on a
# mount, its last value of the past hour (see while_erroring).
FS_KEPT = "instance_mountpoint:promfleet_system_filesystem_utilisation:ratio_kept1h"
INODES_KEPT = "instance_mountpoint:promfleet_system_filesystem_inodes_utilisation:ratio_kept1h"


def seconds_to_zero(metric: str) -> str:
    """Seconds until ``metric`` reaches 0 on the trend of the last 6 hours; absent when
    it is not falling. (``predict_linear(m[6h], t) < 0`` exactly when this is below t.)"""
    return f"predict_linear({metric}[6h], 0) / (-deriv({metric}[6h]) > 0)"


def error_ratio(direction: str) -> str:
    errs = f"rate(promfleet_system_network_{direction}_errs_total[5m])"
    packets = f"rate(promfleet_system_network_{direction}_packets_total[5m])"
    return f'label_replace({errs} / ({packets} + {errs} > 0), "direction", "{direction}", "", "")'


RECORDING_RULES = (
    RecordingRule(
        CPU,
        # Idle time over all CPU time rather than over the window's length: rate() over a
        # window Prometheus has only seconds of data for (after its restart, or a new
        # host) underestimates every mode alike, so the share stays true where "idle
        # seconds per second" would read a quiet host as fully busy.
        "1 - sum without (cpu, mode) ("
        'rate(promfleet_system_cpu_seconds_total{mode=~"idle|iowait|steal"}[5m]))\n'
        "/ sum without (cpu, mode) (rate(promfleet_system_cpu_seconds_total[5m]))",
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
    RecordingRule(FS_KEPT, while_erroring(FS)),
    RecordingRule(INODES_KEPT, while_erroring(INODES)),
    RecordingRule(SPACE_LEFT, seconds_to_zero("promfleet_system_filesystem_avail_bytes")),
    RecordingRule(INODES_LEFT, seconds_to_zero("promfleet_system_filesystem_files_free")),
    RecordingRule(DISK_BUSY, "rate(promfleet_system_disk_io_time_seconds_total[5m])"),
    RecordingRule(NET_ERRORS, f"{error_ratio('receive')} or {error_ratio('transmit')}"),
)

_ESCALATE_OPS = (
    "Page the ops on-call engineer through the pager rota if it is not resolved within "
    "30 minutes, or at once when a service is already degraded."
)

CPU_HIGH = Threshold(
    name="SystemCPUHigh",
    signal=CPU,
    no_traffic_guard=(
        "A share of CPU time: every CPU accrues one second of it per second, busy or not, "
        "so there is no low traffic to guard against."
    ),
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
    category=Category.SYSTEM_OUTAGE,
    signal=FS_KEPT,
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
        "fail when it is full. Read-only filesystems are left out; while statvfs fails on the "
        "mount, its last value of the past hour counts."
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
        expr=f"{FS_KEPT}{{{SEL}}}",
        unit="percentunit",
        description="Share of each filesystem's space not available to unprivileged users "
        "(while a mount's statvfs fails, its last value of the past hour, as the alert reads).",
        legend="{{instance}} {{mountpoint}}",
    ),
)

FILL_WARNING_S = 24 * 3600
FILL_CRITICAL_S = 4 * 3600
# One signal for both levels of SystemFilesystemFillingUp, so the critical inhibits the
# warning (same alert name): the predicted seconds until full, on a filesystem more than
# half full; only a filesystem already more than 85 % full may read below 4 hours (the
# others are clamped there), so a half-empty disk with a burst of writes cannot page.
FILLING = (
    f"(({SPACE_LEFT} and {FS_KEPT} > 0.85)"
    f" or (clamp_min({SPACE_LEFT}, {FILL_CRITICAL_S}) and {FS_KEPT} > 0.5))"
)


def _filling(avail: str, samples: int = 80) -> tuple[TestSeries, ...]:
    return fs_series(
        ("promfleet_system_filesystem_size_bytes", f"100000000000+0x{samples}"),
        ("promfleet_system_filesystem_avail_bytes", f"{avail}x{samples}"),
    )


FS_FILLING = Threshold(
    name="SystemFilesystemFillingUp",
    category=Category.SYSTEM_OUTAGE,
    signal=FILLING,
    op="<",
    guard=WRITABLE,
    levels=(
        Level(
            Severity.WARNING,
            FILL_WARNING_S,
            for_seconds=3600,
            cooldown_seconds=14400,
            test=AlertTest(
                # 40 GB free of 100 GB, losing 50 MB a minute: empty in about 13 hours.
                firing=_filling("40000000000-50000000"),
                quiet=_filling("40000000000+0"),
                labels=ROOT_FS,
                value=48000,
                warmup_seconds=60,
            ),
        ),
        Level(
            Severity.CRITICAL,
            FILL_CRITICAL_S,
            for_seconds=1800,
            cooldown_seconds=3600,
            test=AlertTest(
                # 88 % full, losing 100 MB a minute: empty in about 2 hours.
                firing=_filling("12000000000-100000000", 60),
                # 70 % full, losing 200 MB a minute (empty in 2.5 hours): not full enough
                # to page; the warning (pending here, not yet for an hour) covers it.
                quiet=_filling("30000000000-200000000", 60),
                labels=ROOT_FS,
                value=7200,
                quiet_value=FILL_CRITICAL_S,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is predicted to fill up"
    ),
    description=(
        "At the rate of the last 6 hours, {{ $labels.mountpoint }} ({{ $labels.device }}) "
        "on {{ $labels.instance }} runs out of space within 24 hours (warning, when more "
        "than half full) or within 4 hours (critical, when more than 85 % full)."
    ),
    runbook=Runbook(
        meaning=(
            "A writable filesystem is filling fast enough to be full within 24 hours "
            "(warning) or, already more than 85 % full, within 4 hours (critical: it will "
            "be full before the morning)."
        ),
        impact=(
            "Nothing yet; when it fills, writes fail: databases stop, logs are lost, "
            "services crash."
        ),
        diagnosis=(
            "Seconds until full at the 6-hour trend: "
            f'`{SPACE_LEFT}{{instance="<instance>",mountpoint="<mountpoint>"}}`',
            f'How full it is now: `{FS}{{instance="<instance>",mountpoint="<mountpoint>"}}`',
            "Is it still growing, or did the writer stop (the 6-hour trend lags: after a "
            "flat last hour the prediction eases, and clears within 6 hours at most): "
            "`deriv(promfleet_system_filesystem_avail_bytes"
            '{instance="<instance>",mountpoint="<mountpoint>"}[1h])`',
            "Does statvfs still answer on the mount (1: the figures are its last known ones): "
            f'`{DEVICE_ERROR}{{instance="<instance>",mountpoint="<mountpoint>"}}`',
            "On the host, what grew in the last hours: "
            "```sh\ndf -h <mountpoint>\n"
            "find <mountpoint> -xdev -type f -mmin -360 -size +100M -exec ls -lh {} + "
            "2>/dev/null | sort -k5 -h | tail\n```",
        ),
        mitigation=(
            "Find the writer (log level left at debug, a runaway queue, a core-dump loop) "
            "and stop it.",
            "Rotate or ship logs, delete what can go, or grow the volume before it fills.",
        ),
        escalation=(
            "Critical: act now, and call the owning team of the writer if it cannot be "
            "stopped safely. Warning: hand over to the owning team in working hours."
        ),
    ),
    panel=Panel(
        title="Filesystem time until full",
        expr=(
            f"({SPACE_LEFT}{{{SEL}}} and {FS_KEPT}{{{SEL}}} > 0.85)"
            f" or (clamp_min({SPACE_LEFT}{{{SEL}}}, {FILL_CRITICAL_S})"
            f" and {FS_KEPT}{{{SEL}}} > 0.5)"
        ),
        unit="s",
        description=(
            "Seconds until each filesystem is full at its 6-hour trend, as the alert reads "
            "it: held at 4 hours unless more than 85 % full; no line while a filesystem is "
            "not filling or is less than half full."
        ),
        legend="{{instance}} {{mountpoint}}",
        expect_data=False,
    ),
)


def _device_error(value: int) -> tuple[TestSeries, ...]:
    return (series(DEVICE_ERROR, ROOT_FS, f"{value}+0x30"),)


FS_DEVICE_ERROR = Threshold(
    name="SystemFilesystemDeviceError",
    signal=DEVICE_ERROR,
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=_device_error(1), quiet=_device_error(0), labels=ROOT_FS, value=1
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "statvfs fails on {{ $labels.mountpoint }} on {{ $labels.instance }}: its space is "
        "no longer measured"
    ),
    description=(
        "For 5 minutes the system exporter's statvfs on {{ $labels.mountpoint }} "
        "({{ $labels.device }}, {{ $labels.fstype }}) on {{ $labels.instance }} has failed "
        "or not answered in time. Its size, free-space and inode series are gone; the disk "
        "alerts keep its last values for an hour."
    ),
    runbook=Runbook(
        meaning=(
            "The exporter cannot read a mounted filesystem's size: statvfs returned an "
            "error, or hung (a dead network server behind the mount, a failing disk, a "
            "stuck FUSE daemon)."
        ),
        impact=(
            "Whatever uses the mount likely fails or hangs too; and its disk-space alerts "
            "are blind (they hold the last known value for an hour, then this alert is "
            "the only one left)."
        ),
        diagnosis=(
            "Which mounts, and whether the call hangs (stuck 1) or fails at once: "
            f"`{DEVICE_ERROR} == 1` and "
            '`promfleet_system_filesystem_stuck{instance="<instance>"} == 1`',
            "Its last known fullness: "
            f'`last_over_time({FS}{{instance="<instance>",mountpoint="<mountpoint>"}}[1h])`',
            "On the host, with a timeout (a hung mount hangs df too), and the kernel's "
            "complaints: "
            "```sh\ntimeout 5 stat -f <mountpoint>; echo rc=$?\n"
            "grep ' <mountpoint> ' /proc/mounts\n"
            "journalctl -k --since -1h | grep -iE 'i/o error|ext4|xfs|nfs|blk_update' | tail\n"
            "```",
        ),
        mitigation=(
            "A network mount: bring its server back, or unmount it lazily (`umount -l`) "
            "when nothing needs it.",
            "A local disk with I/O errors: move its workload away, then replace the disk; "
            "do not run fsck on a mounted filesystem.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Filesystems statvfs failing",
        expr=f"{DEVICE_ERROR}{{{SEL}}}",
        unit="short",
        description="1 while statvfs fails or hangs on the mount (its size is then unknown).",
        legend="{{instance}} {{mountpoint}}",
    ),
)

INODES_HIGH = Threshold(
    name="SystemInodesHigh",
    signal=INODES_KEPT,
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
        expr=f"{INODES_KEPT}{{{SEL}}}",
        unit="percentunit",
        description="Share of each filesystem's inodes in use (while a mount's statvfs "
        "fails, its last value of the past hour, as the alert reads).",
        legend="{{instance}} {{mountpoint}}",
    ),
)


def _inodes(files_free: str, samples: int = 80) -> tuple[TestSeries, ...]:
    return fs_series(
        ("promfleet_system_filesystem_files", f"1000000+0x{samples}"),
        ("promfleet_system_filesystem_files_free", f"{files_free}x{samples}"),
    )


INODES_FILLING = Threshold(
    name="SystemInodesFillingUp",
    signal=INODES_LEFT,
    op="<",
    guard=f"and {INODES_KEPT} > 0.5 {WRITABLE}",
    levels=(
        Level(
            Severity.WARNING,
            FILL_WARNING_S,
            for_seconds=3600,
            cooldown_seconds=14400,
            test=AlertTest(
                # 400,000 inodes free of 1,000,000, 500 more used a minute: none left in
                # about 13 hours.
                firing=_inodes("400000-500"),
                quiet=_inodes("400000+0"),
                labels=ROOT_FS,
                value=48000,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Inodes of {{ $labels.mountpoint }} on {{ $labels.instance }} are predicted to run out"
    ),
    description=(
        "At the rate of the last 6 hours, {{ $labels.mountpoint }} ({{ $labels.device }}) "
        "on {{ $labels.instance }} has no free inodes left within 24 hours; more than half "
        "are used already."
    ),
    runbook=Runbook(
        meaning=(
            "A writable filesystem, more than half of whose inodes are used, is creating "
            "files fast enough to run out of inodes within 24 hours."
        ),
        impact=(
            "Nothing yet; when none are left, creating a file fails with 'No space left on "
            "device' although df shows space."
        ),
        diagnosis=(
            "Seconds until no inode is free at the 6-hour trend: "
            f'`{INODES_LEFT}{{instance="<instance>",mountpoint="<mountpoint>"}}`',
            f'Share used now: `{INODES}{{instance="<instance>",mountpoint="<mountpoint>"}}`',
            "On the host, which directories gain the most files: "
            "```sh\ndf -i <mountpoint>\n"
            "find <mountpoint> -xdev -type f -mmin -360 2>/dev/null | cut -d/ -f1-4 "
            "| sort | uniq -c | sort -n | tail\n```",
        ),
        mitigation=(
            "Stop what creates the many small files (a cache without expiry, session "
            "files, a spool nobody drains) and clean them up.",
            "Recreate the filesystem with more inodes when the workload needs them.",
        ),
        escalation="Hand over to the owning team in working hours; page if it runs out tonight.",
    ),
    panel=Panel(
        title="Inodes time until exhausted",
        expr=f"{INODES_LEFT}{{{SEL}}}",
        unit="s",
        description=(
            "Seconds until each filesystem has no free inode at its 6-hour trend; no line "
            "while inodes are not being used up."
        ),
        legend="{{instance}} {{mountpoint}}",
        expect_data=False,
    ),
)


def _fds(allocated: int) -> tuple[TestSeries, ...]:
    return (
        series("promfleet_system_filefd_maximum", HOST, "1000+0x30"),
        series("promfleet_system_filefd_allocated", HOST, f"{allocated}+0x30"),
    )


FDS_HIGH = Threshold(
    name="SystemFileDescriptorsHigh",
    category=Category.SYSTEM_OUTAGE,
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


def _oom(values: str) -> tuple[TestSeries, ...]:
    return (series("promfleet_system_oom_kills_total", HOST, values),)


OOM_KILL = Threshold(
    name="SystemOOMKill",
    # ">= 1", not "> 0": the same alerts (increase() only scales a whole kill up), and
    # the panel then colours a healthy 0 as healthy.
    signal="increase(promfleet_system_oom_kills_total[5m])",
    op=">=",
    single_event=(
        "An out-of-memory kill has already ended a process: its work is lost and the host "
        "(or a container's memory limit) is out of memory."
    ),
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=_oom("3+1x20"),
                quiet=_oom("3+0x20"),
                labels=HOST,
                value=1,
                warmup_seconds=60,  # increase() needs two samples
            ),
        ),
    ),
    team=Team.OPS,
    summary="The kernel killed a process on {{ $labels.instance }} for lack of memory",
    description=(
        "The out-of-memory killer ended at least one process on {{ $labels.instance }} in "
        "the last 5 minutes. The alert resolves 5 minutes after the last kill."
    ),
    runbook=Runbook(
        meaning=(
            "The kernel ran out of memory (for the whole host, or inside a container's "
            "memory limit) and killed a process to free some."
        ),
        impact=(
            "The killed process is gone mid-work: requests fail, a job is lost, a service "
            "restarts (or stays down)."
        ),
        diagnosis=(
            "Kills over the last day: "
            '`increase(promfleet_system_oom_kills_total{instance="<instance>"}[1d])`',
            f'Host memory around the kill: `{MEMORY}{{instance="<instance>"}}`',
            "Which process groups grew: `topk(5, "
            'promfleet_system_process_resident_memory_bytes{instance="<instance>"})`',
            "On the host, what was killed and whether it was a cgroup limit "
            '("Memory cgroup out of memory") or the whole host: '
            "```sh\njournalctl -k --since -2h | grep -iE 'out of memory|oom-kill|killed process'"
            " | tail\n```",
        ),
        mitigation=(
            "Restart what was killed if its supervisor did not; take a heap profile if it "
            "grows again.",
            "Raise the container's memory limit or the host's memory when the load is "
            "legitimate; fix the leak when it is not.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="OOM kills",
        expr=f"increase(promfleet_system_oom_kills_total{{{SEL}}}[$__rate_interval])",
        unit="short",
        description="Processes the kernel's out-of-memory killer ended.",
    ),
)


def _clock(sync: int, maxerror: float, offset: float = 0.0) -> tuple[TestSeries, ...]:
    return (
        series("promfleet_system_timex_sync_status", HOST, f"{sync}+0x30"),
        series("promfleet_system_timex_maxerror_seconds", HOST, f"{maxerror:g}+0x30"),
        series("promfleet_system_timex_offset_seconds", HOST, f"{offset:g}+0x30"),
    )


CLOCK_NOT_SYNC = Threshold(
    name="SystemClockNotSynchronising",
    signal="min_over_time(promfleet_system_timex_sync_status[5m])",
    op="<",
    # The kernel caps maxerror at 16 s once the NTP daemon stops updating it: both
    # together mean nothing disciplines the clock any more, not a brief resync.
    guard="and on (instance, job) promfleet_system_timex_maxerror_seconds >= 16",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=600,
            cooldown_seconds=14400,
            test=AlertTest(firing=_clock(0, 16), quiet=_clock(1, 0.0125), labels=HOST, value=0),
        ),
    ),
    team=Team.OPS,
    summary="The clock of {{ $labels.instance }} is not synchronised",
    description=(
        "For 10 minutes the kernel has reported the clock of {{ $labels.instance }} as "
        "unsynchronised, and its error bound is at the 16-second ceiling: no NTP daemon is "
        "keeping it in time."
    ),
    runbook=Runbook(
        meaning="Nothing (chrony, ntpd, systemd-timesyncd) is disciplining the host's clock.",
        impact=(
            "The clock drifts, seconds a day: TLS and token validity checks fail, log "
            "and trace timestamps disagree, distributed locks and leases misbehave."
        ),
        diagnosis=(
            'Synchronised (1) or not: `promfleet_system_timex_sync_status{instance="<instance>"}`',
            'Error bound: `promfleet_system_timex_maxerror_seconds{instance="<instance>"}`',
            "On the host, the time daemon and its sources: "
            "```sh\ntimedatectl status\nchronyc tracking; chronyc sources -v\n"
            "systemctl status chronyd systemd-timesyncd ntp 2>/dev/null | head -20\n```",
        ),
        mitigation=(
            "Start (or restart) the time daemon; check that its servers are reachable "
            "(UDP port 123 through the firewall).",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Clock synchronised",
        expr=f"min_over_time(promfleet_system_timex_sync_status{{{SEL}}}[5m])",
        unit="short",
        description="1 while the kernel reports its clock synchronised, 0 when not.",
    ),
)

OFFSET = "promfleet_system_timex_offset_seconds"

CLOCK_SKEW = Threshold(
    name="SystemClockSkewed",
    signal=f"abs({OFFSET})",
    op=">",
    # Not while the daemon is pulling the offset back towards 0 (node-mixin's rule).
    guard=f"unless on (instance, job) (deriv({OFFSET}[5m]) * sgn({OFFSET}) < 0)",
    levels=(
        Level(
            Severity.WARNING,
            0.05,
            for_seconds=600,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=_clock(1, 0.2, offset=-0.25),
                quiet=_clock(1, 0.0125, offset=0.0002),
                labels=HOST,
                value=0.25,
            ),
        ),
    ),
    team=Team.OPS,
    summary="The clock of {{ $labels.instance }} is {{ $value | humanizeDuration }} off",
    description=(
        "For 10 minutes the clock of {{ $labels.instance }} has been more than 50 ms away "
        "from its time source (now {{ $value | humanizeDuration }}), and not converging."
    ),
    runbook=Runbook(
        meaning=(
            "The NTP daemon measures the host's clock more than 50 ms off its sources and "
            "is not bringing it back."
        ),
        impact=(
            "Timestamps disagree across hosts: ordering of logs and traces, TLS and token "
            "validity at their edges, and time-based leases go wrong."
        ),
        diagnosis=(
            f'Offset in seconds: `{OFFSET}{{instance="<instance>"}}` over 6 hours',
            "Is it converging (the alert is held while it shrinks): "
            f'`deriv({OFFSET}{{instance="<instance>"}}[5m])`',
            "On the host, the sources and their offsets: "
            "```sh\nchronyc tracking\nchronyc sourcestats\n```",
        ),
        mitigation=(
            "Check the time sources (one bad server, or a virtual machine's clock after a "
            "pause or migration); let the daemon step the clock (`chronyc makestep`) when "
            "the services tolerate a jump.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Clock offset",
        expr=f"abs({OFFSET}{{{SEL}}})",
        unit="s",
        description="Distance between the kernel clock and its time source.",
    ),
)


def _network(errors_per_minute: int) -> tuple[TestSeries, ...]:
    device = (("device", "eth0"), *HOST)
    return (
        series("promfleet_system_network_receive_packets_total", device, "0+5400x40"),
        series("promfleet_system_network_receive_errs_total", device, f"0+{errors_per_minute}x40"),
        series("promfleet_system_network_transmit_packets_total", device, "0+5400x40"),
        series("promfleet_system_network_transmit_errs_total", device, "0+0x40"),
    )


NETWORK_ERRORS = Threshold(
    name="SystemNetworkErrors",
    signal=NET_ERRORS,
    op=">",
    # Some packets a second on the interface, so a handful of errors on an idle link
    # (a ratio of a few packets) cannot fire.
    guard=(
        "and on (instance, job, device) ("
        "rate(promfleet_system_network_receive_packets_total[5m])"
        " + rate(promfleet_system_network_transmit_packets_total[5m])) > 10"
    ),
    levels=(
        Level(
            Severity.WARNING,
            0.01,
            for_seconds=1800,
            cooldown_seconds=14400,
            test=AlertTest(
                # 90 good packets and 10 errors a second received: 10 % errors.
                firing=_network(600),
                quiet=_network(0),
                labels=(("device", "eth0"), ("direction", "receive"), *HOST),
                value=0.1,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "{{ $value | humanizePercentage }} of packets {{ $labels.direction }}d on "
        "{{ $labels.device }} of {{ $labels.instance }} are errors"
    ),
    description=(
        "For 30 minutes more than 1 % of the packets {{ $labels.direction }}d on "
        "{{ $labels.device }} of {{ $labels.instance }} have been errors (now "
        "{{ $value | humanizePercentage }}): a bad cable, port, driver or duplex setting."
    ),
    runbook=Runbook(
        meaning=(
            "The network interface counts a share of its frames as errors (CRC, frame, "
            "FIFO, carrier), in the direction the alert names."
        ),
        impact=(
            "Lost frames are retransmitted: throughput drops and latency rises for every "
            "connection through the interface."
        ),
        diagnosis=(
            f'Error share by direction: `{NET_ERRORS}{{instance="<instance>"}}`',
            "Errors and drops a second: "
            '`rate(promfleet_system_network_receive_errs_total{instance="<instance>"}[5m])`, '
            '`rate(promfleet_system_network_receive_drop_total{instance="<instance>"}[5m])`',
            "On the host, the driver's own counters and the link: "
            "```sh\nip -s link show <device>\n"
            "ethtool -S <device> | grep -iE 'err|crc|drop|fifo' | grep -v ': 0'\n"
            "ethtool <device> | grep -iE 'speed|duplex|link'\n```",
        ),
        mitigation=(
            "Reseat or replace the cable or transceiver; move to another switch port.",
            "Fix a speed or duplex mismatch; update the NIC driver or firmware.",
        ),
        escalation=(
            "Hand over to the network team with the interface's counters if the cabling "
            "and port are fine."
        ),
    ),
    panel=Panel(
        title="Network errors",
        expr=f"{NET_ERRORS}{{{SEL}}}",
        unit="percentunit",
        description="Share of frames received or transmitted with errors, per interface.",
        legend="{{instance}} {{device}} {{direction}}",
    ),
)


def _disk(busy_per_minute: float) -> tuple[TestSeries, ...]:
    return (
        series(
            "promfleet_system_disk_io_time_seconds_total",
            (("device", "sda"), *HOST),
            f"100000+{busy_per_minute:g}x40",
        ),
    )


DISK_IO_SATURATED = Threshold(
    name="SystemDiskIOSaturated",
    signal=DISK_BUSY,
    op=">",
    # No traffic guard: busy time is not a share of requests. A device busy 90 % of
    # the time with few operations is slow, and one that hangs with I/O in flight
    # (busy, nothing completing) is the worst case, not one to leave out.
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=1800,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=_disk(57),
                quiet=_disk(30),
                labels=(("device", "sda"), *HOST),
                value=0.95,
                warmup_seconds=240,  # rate()[5m] reads the full busy share from 4m (extrapolated)
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Disk {{ $labels.device }} of {{ $labels.instance }} is busy "
        "{{ $value | humanizePercentage }} of the time"
    ),
    description=(
        "For 30 minutes {{ $labels.device }} on {{ $labels.instance }} has had I/O in "
        "flight more than 90 % of the time (now {{ $value | humanizePercentage }}): its "
        "I/O queues and everything waiting on it slows down."
    ),
    runbook=Runbook(
        meaning="A block device has been almost always busy for half an hour.",
        impact=(
            "Reads and writes queue: databases commit slowly, requests time out, load "
            "rises with tasks blocked on I/O."
        ),
        diagnosis=(
            f'Busy share per device: `{DISK_BUSY}{{instance="<instance>"}}`',
            "Operations and bytes a second: "
            '`rate(promfleet_system_disk_reads_completed_total{instance="<instance>"}[5m])`, '
            '`rate(promfleet_system_disk_written_bytes_total{instance="<instance>"}[5m])`',
            "Average wait per write (rising: the device cannot keep up): "
            "`rate(promfleet_system_disk_write_time_seconds_total"
            '{instance="<instance>"}[5m]) / rate(promfleet_system_disk_writes_completed_total'
            '{instance="<instance>"}[5m])`',
            "On the host, per-device utilisation and the processes doing I/O: "
            "```sh\niostat -x 1 5\niotop -obn 3 | head -30\n```",
        ),
        mitigation=(
            "Throttle or reschedule the heavy job (a backup, a compaction, a reindex).",
            "Move the workload to a faster volume, or raise a cloud volume's IOPS limit.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="Disk I/O utilisation",
        expr=f"{DISK_BUSY}{{{SEL}}}",
        unit="percentunit",
        description="Share of time each block device had I/O in flight.",
        legend="{{instance}} {{device}}",
    ),
)

PANELS = (
    Panel(
        title="Filesystem space available",
        expr=f"promfleet_system_filesystem_avail_bytes{{{SEL}}}",
        unit="bytes",
        description="Bytes available to unprivileged users on each filesystem.",
        legend="{{instance}} {{mountpoint}}",
    ),
    Panel(
        title="Network traffic",
        expr=(
            "sum by (instance, job, device) ("
            f"rate(promfleet_system_network_receive_bytes_total{{{SEL}}}[$__rate_interval])"
            f" + rate(promfleet_system_network_transmit_bytes_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="Bps",
        description="Bytes a second received and transmitted together, per interface.",
        legend="{{instance}} {{device}}",
    ),
    Panel(
        title="Network packets dropped",
        expr=(
            f"rate(promfleet_system_network_receive_drop_total{{{SEL}}}[$__rate_interval])"
            f" + rate(promfleet_system_network_transmit_drop_total{{{SEL}}}[$__rate_interval])"
        ),
        unit="pps",
        description="Packets dropped a second (receive and transmit), per interface.",
        legend="{{instance}} {{device}}",
    ),
    Panel(
        title="Disk throughput",
        expr=(
            f"rate(promfleet_system_disk_read_bytes_total{{{SEL}}}[$__rate_interval])"
            f" + rate(promfleet_system_disk_written_bytes_total{{{SEL}}}[$__rate_interval])"
        ),
        unit="Bps",
        description="Bytes a second read and written together, per block device.",
        legend="{{instance}} {{device}}",
    ),
    Panel(
        title="Disk I/O queue",
        expr=(
            "(rate(promfleet_system_disk_read_time_seconds_total"
            f"{{{SEL}}}[$__rate_interval])"
            " + rate(promfleet_system_disk_write_time_seconds_total"
            f"{{{SEL}}}[$__rate_interval]))"
        ),
        unit="short",
        description=(
            "Average reads and writes in flight (seconds spent by all of them a second): "
            "saturation, where utilisation stops at 100 %."
        ),
        legend="{{instance}} {{device}}",
    ),
)

AREA = gather_module(
    __name__,
    title="System",
    description=(
        "Host resources as the system exporter sees them: CPU, memory, disks, network, clock, load."
    ),
)
