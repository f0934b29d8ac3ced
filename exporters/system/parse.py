"""Pure parsers for the Linux /proc files the system exporter reads (no I/O here).

Each ``parse_...(text)`` takes a file's content and returns plain values; the collectors
do the reading. Tests feed them recorded snippets from ``tests/system/fixtures/``.
"""

from __future__ import annotations

from dataclasses import dataclass

# The modes of a /proc/stat "cpu" line, in file order; guest time is already counted in
# user and nice, so (like node_exporter) guest columns are not exported as modes.
CPU_MODES: tuple[str, ...] = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

# /proc/diskstats counts in 512-byte sectors whatever the device's real sector size.
DISKSTATS_SECTOR_BYTES = 512


@dataclass(frozen=True)
class Stat:
    """What the exporter uses from /proc/stat (CPU times in clock ticks)."""

    cpu_ticks: dict[str, tuple[int, ...]]  # "0" -> ticks per mode, in CPU_MODES order
    boot_time: int
    procs_running: int
    procs_blocked: int


def _line_value(text: str, key: str) -> str | None:
    """The rest of the line ``key`` starts (``key`` includes its separator), or None."""
    if text.startswith(key):
        start = len(key)
    else:
        at = text.find("\n" + key)
        if at < 0:
            return None
        start = at + 1 + len(key)
    end = text.find("\n", start)
    return text[start : end if end >= 0 else len(text)]


def _int_field(text: str, key: str) -> int:
    rest = _line_value(text, key)
    return int(rest.split()[0]) if rest and rest.strip() else 0


def parse_stat(text: str) -> Stat:
    """/proc/stat: per-CPU ticks by mode, boot time, running and blocked task counts.

    The cpu lines come first; the rest is found by key, never split: the ``intr`` line
    alone holds thousands of numbers.
    """
    cpus: dict[str, tuple[int, ...]] = {}
    n_modes = len(CPU_MODES)
    start = 0
    size = len(text)
    while text.startswith("cpu", start):
        end = text.find("\n", start)
        if end < 0:
            end = size
        fields = text[start:end].split()
        start = end + 1
        name = fields[0]
        if name == "cpu":
            continue  # the sum over CPUs; PromQL sums, the exporter does not
        ticks = [int(v) for v in fields[1 : 1 + n_modes]]
        ticks.extend([0] * (n_modes - len(ticks)))  # old kernels lack steal
        cpus[name[3:]] = tuple(ticks)
    return Stat(
        cpus,
        _int_field(text, "btime "),
        _int_field(text, "procs_running "),
        _int_field(text, "procs_blocked "),
    )


def parse_meminfo(text: str, keys: tuple[str, ...] | None = None) -> dict[str, int]:
    """/proc/meminfo as ``{key: bytes}`` (the file's kB are kibibytes).

    With ``keys``, only those are looked up (absent ones are left out): the collector
    wants 8 of some 50 lines.
    """
    out: dict[str, int] = {}
    if keys is not None:
        for key in keys:
            rest = _line_value(text, key + ":")
            if rest is None:
                continue
            parts = rest.split()
            if parts:
                value = int(parts[0])
                out[key] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
        return out
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        value = int(parts[0])
        out[key] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


def parse_vmstat(text: str, keys: tuple[str, ...] = ("pswpin", "pswpout")) -> dict[str, int]:
    """The chosen counters of /proc/vmstat (``name value`` lines); absent ones are left out.

    The file has some 150 lines and two are wanted: finding them beats splitting it all.
    """
    out: dict[str, int] = {}
    for key in keys:
        rest = _line_value(text, key + " ")
        if rest is not None:
            out[key] = int(rest)
    return out


@dataclass(frozen=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float
    threads: int  # kernel scheduling entities (all threads of all processes)


def parse_loadavg(text: str) -> LoadAvg:
    """/proc/loadavg: ``0.03 0.13 0.09 1/149 11552``."""
    fields = text.split()
    return LoadAvg(
        float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3].split("/")[1])
    )


def parse_file_nr(text: str) -> tuple[int, int]:
    """/proc/sys/fs/file-nr: (allocated, maximum); the middle field is always 0 since 2.6."""
    fields = text.split()
    return int(fields[0]), int(fields[2])


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    readonly: bool


def _unescape_mount(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in octal (\040 ...).
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str) -> list[Mount]:
    """/proc/self/mounts, one :class:`Mount` per mount point.

    A mount point mounted over (it appears twice) keeps the last entry: that is the
    one ``statvfs`` sees. Order is the file's order of first appearance.
    """
    by_point: dict[str, Mount] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = _unescape_mount(fields[1])
        options = fields[3].split(",")
        by_point[point] = Mount(_unescape_mount(fields[0]), point, fields[2], "ro" in options)
    return list(by_point.values())


@dataclass(frozen=True)
class DiskStats:
    device: str
    reads_completed: int
    read_bytes: int
    read_time_s: float
    writes_completed: int
    written_bytes: int
    write_time_s: float
    io_time_s: float


def parse_diskstats(text: str) -> list[DiskStats]:
    """/proc/diskstats: one entry per device line (the first 11 counters are used)."""
    out: list[DiskStats] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 14:
            continue
        out.append(
            DiskStats(
                device=f[2],
                reads_completed=int(f[3]),
                read_bytes=int(f[5]) * DISKSTATS_SECTOR_BYTES,
                read_time_s=int(f[6]) / 1000.0,
                writes_completed=int(f[7]),
                written_bytes=int(f[9]) * DISKSTATS_SECTOR_BYTES,
                write_time_s=int(f[10]) / 1000.0,
                io_time_s=int(f[12]) / 1000.0,
            )
        )
    return out


# Column positions in /proc/net/dev after the "iface:" prefix.
NETDEV_FIELDS: tuple[tuple[str, int], ...] = (
    ("receive_bytes", 0),
    ("receive_packets", 1),
    ("receive_errs", 2),
    ("receive_drop", 3),
    ("transmit_bytes", 8),
    ("transmit_packets", 9),
    ("transmit_errs", 10),
    ("transmit_drop", 11),
)


def parse_net_dev(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """/proc/net/dev: ``(interface, counters in NETDEV_FIELDS order)`` per interface."""
    out: list[tuple[str, tuple[int, ...]]] = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        values = rest.split()
        if len(values) < 16:
            continue
        out.append((name.strip(), tuple(int(values[i]) for _, i in NETDEV_FIELDS)))
    return out


@dataclass(frozen=True)
class PidStat:
    """The fields of /proc/PID/stat the process groups use (times in clock ticks)."""

    comm: str
    utime: int
    stime: int
    threads: int
    start_ticks: int  # since boot
    rss_pages: int


def parse_pid_stat(text: str) -> PidStat:
    """/proc/PID/stat; ``comm`` may hold spaces and parentheses, so split at the last ')'."""
    open_at = text.index("(")
    close_at = text.rindex(")")
    rest = text[close_at + 2 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return PidStat(
        comm=text[open_at + 1 : close_at],
        utime=int(rest[11]),
        stime=int(rest[12]),
        threads=int(rest[17]),
        start_ticks=int(rest[19]),
        rss_pages=int(rest[21]),
    )


def parse_cmdline(raw: bytes) -> str:
    """/proc/PID/cmdline: NUL-separated arguments joined with spaces."""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", errors="replace")
