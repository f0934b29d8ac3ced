"""The kernel clock's synchronisation state (adjtimex), as node_exporter's timex collector.

``adjtimex(2)`` with no mode bits set only reads: any user may call it, and it never
blocks. The call sits behind an injectable function so tests feed recorded values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import Metric

from exporters.spec import Collector, ScrapeContext
from exporters.system.collectors import gauge

# <sys/timex.h>
TIME_ERROR = 5  # adjtimex's return value: the clock is not synchronised
STA_UNSYNC = 0x0040  # status bit: clock unsynchronised
STA_NANO = 0x2000  # status bit: offset is in nanoseconds, not microseconds


@dataclass(frozen=True)
class Timex:
    """The raw fields of one ``adjtimex`` read (units as the kernel gives them)."""

    state: int  # the call's return value: TIME_OK (0) ... TIME_ERROR (5)
    status: int  # STA_* bits
    offset: int  # microseconds, or nanoseconds with STA_NANO
    maxerror_us: int
    esterror_us: int


@dataclass(frozen=True)
class ClockState:
    synchronised: bool
    offset_s: float
    maxerror_s: float
    esterror_s: float


def parse_timex(raw: Timex) -> ClockState:
    """Seconds and a synchronised flag from one ``adjtimex`` read.

    Unsynchronised when the kernel says so either way: the TIME_ERROR return value
    (what node_exporter reads) or the STA_UNSYNC status bit.
    """
    synchronised = raw.state != TIME_ERROR and not raw.status & STA_UNSYNC
    divisor = 1e9 if raw.status & STA_NANO else 1e6
    return ClockState(
        synchronised, raw.offset / divisor, raw.maxerror_us / 1e6, raw.esterror_us / 1e6
    )


class _CTimeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _CTimex(ctypes.Structure):
    """glibc's ``struct timex`` (Linux), with its trailing padding."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _CTimeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    )


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def read_adjtimex() -> Timex:
    """One read-only ``adjtimex`` call through libc; OSError when it fails."""
    libc = _libc()
    buf = _CTimex()  # modes 0: read only
    state = libc.adjtimex(ctypes.byref(buf))
    if state < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"adjtimex failed: {os.strerror(errno)}")
    return Timex(state, buf.status, buf.offset, buf.maxerror, buf.esterror)


class TimexCollector(Collector):
    """Whether the kernel clock is synchronised, its offset and its error bounds.

    promfleet_system_timex_sync_status 1.0
    promfleet_system_timex_offset_seconds -0.000183
    promfleet_system_timex_maxerror_seconds 0.0125
    """

    name = "timex"

    def __init__(self, adjtimex: Callable[[], Timex] = read_adjtimex) -> None:
        self.adjtimex = adjtimex

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        clock = parse_timex(self.adjtimex())  # a system call that never blocks
        return [
            gauge("timex_sync_status", 1.0 if clock.synchronised else 0.0),
            gauge("timex_offset_seconds", clock.offset_s),
            gauge("timex_maxerror_seconds", clock.maxerror_s),
            gauge("timex_estimated_error_seconds", clock.esterror_s),
        ]
