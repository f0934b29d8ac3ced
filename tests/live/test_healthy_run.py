"""A healthy stack pages nobody: the real rules with their real ``for`` durations, the whole
default stack and its demo writers producing healthy traffic, and no warning or critical
alert even pending at any poll for a couple of minutes.

Only sampling is compressed (1 s scrapes and evaluations: more samples in each window, the
same windows); ``alert_for_override`` is left unset, so a condition that holds in a healthy
stack shows as a pending alert long before it would fire. The Watchdog fires throughout,
which proves the rules are evaluated.

This machine is shared, and the stack itself is busy while it starts: an alert on the
host's own CPU is forgiven only where the test's independent reading of the host (from
``/proc/stat`` through psutil, over the alert's window) shows the host really was that
busy, so it was right, not a false page; so is the load alert where the test's own
reading of the kernel's 5-minute load average per CPU was above its threshold all the
while the alert was seen. So is an alert that predicts a filesystem
filling up where the test's own readings of its free space (``statvfs``, twice a second
from before the stack starts), fitted with a line from Prometheus' first sample as the
alert's ``deriv`` is, fall fast enough to empty it within that alert's horizon:
something on the machine really is writing that fast. Every other sighting fails the test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest
import yaml

from exporters.system.timex import parse_timex, read_adjtimex
from generator.catalogue.system import LOAD_HIGH
from runner import Member
from tests.live.conftest import LiveStack, StartLiveStack, resolve_members

pytestmark = pytest.mark.live

# How long the healthy stack is watched, and how often ALERTS is read.
RUN_SECONDS = 150.0
POLL_SECONDS = 2.0
# A loaded machine may take a while to answer one query; a poll that fails is retried at
# the next one, but the run must have looked often enough to mean something.
MIN_POLLS = int(RUN_SECONDS / POLL_SECONDS / 3)

HEALTHY_SETTINGS = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "scrape_timeout": "1s",
    "alert_for_override": "",  # the real `for` of every alert
}
NOT_OK = 'ALERTS{severity=~"warning|critical"}'
# Alerts on the host's CPU, with the busy share that makes them true and the window of
# the rate behind them: a sighting is right when the host was busier than the share
# (less a margin for windows that do not line up) over that window.
HOST_CPU_ALERTS: dict[str, tuple[float, float]] = {"SystemCPUHigh": (0.9, 300.0)}
# Alerts on the host's clock: right, not false, where the kernel says it is unsynchronised.
HOST_CLOCK_ALERTS = frozenset({"SystemClockNotSynchronising"})
CPU_MARGIN = 0.1
# Alerts on the host's 5-minute load average per CPU, with the threshold that makes them
# true: right where the test's own readings (os.getloadavg) stayed above it, less a margin
# for a reading taken up to a scrape before or after the exporter's.
HOST_LOAD_ALERTS: dict[str, float] = {
    LOAD_HIGH.name: min(level.value for level in LOAD_HIGH.levels)}
LOAD_MARGIN = 0.1
# Alerts predicting a filesystem full, with the warning's horizon: right where the test's
# own readings of the mount's free space fall fast enough to empty it within the horizon
# (times a margin: its samples and the test's readings are not taken at the same instants).
HOST_FILLING_ALERTS: dict[str, float] = {"SystemFilesystemFillingUp": 24 * 3600.0}
FILL_MARGIN = 2.0


@dataclass
class Sighting:
    """One alert seen pending or firing: when first and last, and how often."""

    labels: dict[str, str]
    first: float
    last: float
    polls: int = 1

    def line(self, started: float) -> str:
        keep = ("alertname", "alertstate", "severity", "job", "instance")
        shown = ", ".join(f"{k}={self.labels[k]}" for k in keep if k in self.labels)
        extra = {k: v for k, v in self.labels.items() if k not in keep and k != "__name__"}
        return (
            f"{shown} {extra or ''} seen in {self.polls} polls, "
            f"{self.first - started:.0f}s to {self.last - started:.0f}s into the run"
        )


class HostReadings:
    """The host's CPU times and its filesystems' free space twice a second from before
    the stack starts, to tell a busy machine from a false alert."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, idle, total)
        self.free: list[tuple[float, dict[str, float]]] = []  # (monotonic, {mount: bytes})
        self.load: list[tuple[float, float]] = []  # (monotonic, 5-minute load per CPU)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-cpu", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def start(self) -> HostReadings:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> None:
        free: dict[str, float] = {}
        for partition in psutil.disk_partitions(all=False):
            with contextlib.suppress(OSError):
                free[partition.mountpoint] = float(psutil.disk_usage(partition.mountpoint).free)
        self.free.append((time.monotonic(), free))
        self.load.append((time.monotonic(), os.getloadavg()[1] / (os.cpu_count() or 1)))
        times = psutil.cpu_times()._asdict()
        idle = sum(times.get(mode, 0.0) for mode in ("idle", "iowait", "steal"))
        # guest time is already counted in user time (as the exporter's modes count it)
        total = sum(v for mode, v in times.items() if mode not in ("guest", "guest_nice"))
        self.samples.append((time.monotonic(), idle, total))

    def seconds_to_full(self, mountpoint: str, since: float, until: float) -> float | None:
        """How long the mount's free space would last at the rate it fell between
        ``since`` and ``until``, by a least-squares line through the test's readings as
        the alert's ``deriv`` fits one through its samples; None without two readings or
        a fall."""
        readings = [(t, free[mountpoint]) for t, free in list(self.free)
                    if mountpoint in free and since - 0.5 <= t <= until + 0.5]
        if len(readings) < 2:
            return None
        mean_t = sum(t for t, _ in readings) / len(readings)
        mean_f = sum(f for _, f in readings) / len(readings)
        spread = sum((t - mean_t) ** 2 for t, _ in readings)
        if spread <= 0:
            return None
        slope = sum((t - mean_t) * (f - mean_f) for t, f in readings) / spread
        return readings[-1][1] / -slope if slope < 0 else None

    def soonest_full(self, mountpoint: str, since: float, first: float, last: float,
                     ) -> float | None:
        """The shortest :meth:`seconds_to_full` from ``since`` to any reading between
        ``first`` and ``last`` (the alert's window grows from its first sample)."""
        lasts = [self.seconds_to_full(mountpoint, since, t) for t, _ in list(self.free)
                 if first - 1.0 <= t <= last + 1.0]
        known = [left for left in lasts if left is not None]
        return min(known) if known else None

    def lowest_load(self, start: float, end: float) -> float | None:
        """The lowest 5-minute load per CPU read between ``start`` and ``end``."""
        inside = [load for t, load in list(self.load) if start - 1.0 <= t <= end + 1.0]
        return min(inside) if inside else None

    def busy_share(self, start: float, end: float) -> float | None:
        """The busy share between the samples nearest ``start`` and ``end``."""
        inside = [s for s in list(self.samples) if start - 0.5 <= s[0] <= end + 0.5]
        if len(inside) < 2 or inside[-1][2] <= inside[0][2]:
            return None
        return 1.0 - (inside[-1][1] - inside[0][1]) / (inside[-1][2] - inside[0][2])


@pytest.fixture(scope="module")
def host() -> Iterator[HostReadings]:
    cpu = HostReadings().start()  # before the stack starts: its start-up belongs to the window
    yield cpu
    cpu.stop()


def _first_cpu_sample(stack: LiveStack) -> float:
    """When Prometheus stored its first CPU sample (monotonic clock): the rate windows
    of the CPU alerts begin there while they are younger than their range."""
    found = stack.query(
        'min(min_over_time(timestamp(promfleet_system_cpu_seconds_total{mode="idle"})[10m:1s]))'
    )
    wall = float(found[0]["value"][1]) if found else time.time()
    return wall - (time.time() - time.monotonic())


def healthy_members() -> tuple[Member, ...]:
    """Every member of the default stack, the training demo writing its healthy fleet
    (the demo keeps one failed job on purpose, for ``make run`` to show an alert)."""
    return tuple(
        dataclasses.replace(
            member,
            setup_argv=(*member.setup_argv, "--healthy"),
            argv=(*member.argv, "--healthy"),
        )
        if member.name == "training-demo"
        else member
        for member in resolve_members("all")
    )


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, host: HostReadings) -> LiveStack:
    return live_stack(members=healthy_members(), settings=HEALTHY_SETTINGS)


def _clock_unsynchronised() -> bool:
    """The kernel's own word (adjtimex) that this host's clock is not synchronised: a
    machine without NTP really is in the state the clock alert pages for."""
    return not parse_timex(read_adjtimex()).synchronised


def _host_busy(sighting: Sighting, cpu: HostReadings, first_sample: float) -> float | None:
    """The lowest busy share of the host, as the test read it, over the windows of a CPU
    alert's sightings; None for other alerts or when there is no reading."""
    name = sighting.labels.get("alertname", "")
    if name not in HOST_CPU_ALERTS:
        return None
    window = HOST_CPU_ALERTS[name][1]
    shares = [
        cpu.busy_share(max(first_sample, at - window), at)
        for at, _, _ in cpu.samples
        if sighting.first - 1.0 <= at <= sighting.last + 1.0
    ]
    known = [share for share in shares if share is not None]
    return min(known) if known else None


def test_a_healthy_stack_has_no_warning_or_critical_alert_pending_or_firing(
    stack: LiveStack, host: HostReadings
) -> None:
    rendered = yaml.safe_load((stack.out_dir / "rules" / "meta.rules.yml").read_text("utf-8"))
    durations = {r["for"] for g in rendered["groups"] for r in g["rules"] if "alert" in r}
    assert durations - {"0s"}, "the healthy run must use the real `for` durations"
    started = time.monotonic()
    seen: dict[tuple[tuple[str, str], ...], Sighting] = {}
    polls = 0
    watchdog_polls = 0
    while time.monotonic() - started < RUN_SECONDS:
        try:
            found = stack.query(NOT_OK)
            watchdog = stack.query('ALERTS{alertname="Watchdog",alertstate="firing"}')
        except OSError as err:  # a busy machine: try again at the next poll
            print(f"poll failed: {err}")
            time.sleep(POLL_SECONDS)
            continue
        now = time.monotonic()
        polls += 1
        watchdog_polls += bool(watchdog)
        for sample in found:
            labels = dict(sample["metric"])
            key = tuple(sorted(labels.items()))
            if key in seen:
                seen[key].last = now
                seen[key].polls += 1
            else:
                seen[key] = Sighting(labels, now, now)
        time.sleep(POLL_SECONDS)
    assert polls >= MIN_POLLS, f"only {polls} polls answered in {RUN_SECONDS:.0f}s"
    assert watchdog_polls >= polls - 2, "the Watchdog was not firing: rules are not evaluated"
    first_sample = _first_cpu_sample(stack)
    report = []
    for sighting in seen.values():
        busy = _host_busy(sighting, host, first_sample)
        name = sighting.labels.get("alertname", "")
        if name in HOST_CLOCK_ALERTS and _clock_unsynchronised():
            print(f"right, the kernel says the clock is unsynchronised: {sighting.line(started)}")
            continue
        if name in HOST_FILLING_ALERTS:
            left = host.soonest_full(sighting.labels.get("mountpoint", ""), first_sample,
                                     sighting.first, sighting.last)
            if left is not None and left <= HOST_FILLING_ALERTS[name] * FILL_MARGIN:
                print(f"right, by the test's own readings the mount fills in {left / 3600:.1f} h: "
                      f"{sighting.line(started)}")
                continue
        if name in HOST_LOAD_ALERTS:
            load = host.lowest_load(sighting.first, sighting.last)
            if load is not None and load >= HOST_LOAD_ALERTS[name] - LOAD_MARGIN:
                print(f"right, the host's load per CPU was at least {load:.2f}: "
                      f"{sighting.line(started)}")
                continue
        if busy is not None and busy >= HOST_CPU_ALERTS[name][0] - CPU_MARGIN:
            print(f"right, the host was at least {busy:.0%} busy: {sighting.line(started)}")
            continue
        note = "" if busy is None else f" (the host was {busy:.0%} busy by the test's reading)"
        report.append(sighting.line(started) + note)
    report.sort()
    assert not report, (
        f"{len(report)} warning/critical alerts pending or firing in a healthy stack:\n  "
        + "\n  ".join(report)
    )
