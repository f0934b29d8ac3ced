"""Measuring helpers shared by every ``bench/bench_<name>.py``.

A bench module defines ``run() -> str`` (one Markdown section, starting with a ``##``
heading) and raises :class:`Skip` when something it needs is missing. The usual shape::

    from bench import common

    def run() -> str:
        node = common.require_binary("prometheus-node-exporter")
        ours_port, ref_port = common.free_port(), common.free_port()
        with (
            common.started([sys.executable, "-m", "exporters", "system",
                            f"--web.listen-address=127.0.0.1:{ours_port}"],
                           f"http://127.0.0.1:{ours_port}/metrics") as ours,
            common.started([node, f"--web.listen-address=127.0.0.1:{ref_port}"],
                           f"http://127.0.0.1:{ref_port}/metrics") as ref,
        ):
            got = common.measure_side_by_side({"ours": ours, "reference": ref}, scrapes=300)
        rows = [common.Row("samples per scrape", got["ours"].samples,
                           got["reference"].samples, "{:.0f}")]
        return "## system\\n\\n" + common.table(rows, "ours", "node_exporter")

What is here:

- :func:`free_port`, :func:`require_binary`, :func:`started` (start a process, wait
  until a URL answers 200, always stop it), :func:`wait_for_url`.
- :class:`Scraper` (one keep-alive HTTP connection, like Prometheus) and
  :func:`scrape_many` (N sequential scrapes, optionally paced at a rate).
- :func:`cpu_seconds` (user+sys of a process, psutil), :func:`rss_bytes`,
  :func:`peak_rss_bytes` (the kernel's high-water mark, VmHWM).
- :func:`count_samples` (sample lines in an exposition), :func:`percentile`.
- :func:`measure_side_by_side`: interleaved scrapes of several targets, giving each a
  :class:`Measurement` (samples, CPU per scrape and per sample, latency percentiles,
  RSS and peak RSS). Interleaving means the targets share the same machine noise.
- :class:`Row` and :func:`table`: the side-by-side Markdown table with the ratio
  ours/reference and, where a row has an aim, whether it is met.

Everything measures; nothing here asserts. Speed figures belong to ``make bench``,
never to the test suite.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from runner.process import free_port as process_free_port


class Skip(Exception):
    """Raised by a bench module's ``run()`` when it cannot run here; the message says why."""


class BenchError(RuntimeError):
    """A benchmark could not measure what it set out to (a process died, a URL never came up)."""


# Processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, outside the kernel's ephemeral range
    (see :func:`runner.process.free_port`)."""
    return process_free_port("127.0.0.1")


def require_binary(name: str) -> str:
    """The full path of an executable, or :class:`Skip` naming the missing program."""
    found = shutil.which(name)
    if found is None:
        raise Skip(f"{name} is not installed")
    return found


def wait_for_url(
    url: str, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 200.

    Raises :class:`BenchError` on timeout, or as soon as ``proc`` has exited.
    """
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"process exited with status {proc.returncode} before {url} answered")
        try:
            with Scraper(url, timeout_s=2.0) as scraper:
                scraper.get()
            return
        except (OSError, http.client.HTTPException, BenchError) as err:
            last_error = f"{type(err).__name__}: {err}"
        time.sleep(0.05)
    raise BenchError(f"{url} did not answer within {timeout_s:.0f}s ({last_error})")


@dataclass
class Started:
    """A process started by :func:`started`: its URL, pid and psutil handle."""

    url: str
    popen: subprocess.Popen[bytes]
    process: psutil.Process = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid


@contextlib.contextmanager
def started(
    argv: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 20.0,
    cwd: str | None = None,
) -> Iterator[Started]:
    """Start ``argv``, wait until ``url`` answers 200, yield it, then stop it (TERM, then KILL).

    The process's output is discarded (a benchmark must not measure a full pipe);
    ``env`` is added to the current environment.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=full_env,
        cwd=cwd,
    )
    try:
        wait_for_url(url, timeout_s, popen)
        yield Started(url=url, popen=popen, process=psutil.Process(popen.pid))
    finally:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=5)


# Scraping -------------------------------------------------------------------------------


class Scraper:
    """GETs one URL over a kept-alive HTTP/1.1 connection, as Prometheus does."""

    def __init__(self, url: str, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only plain http URLs are measured, got {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout_s
        self._headers = {"Accept": "text/plain;version=0.0.4", **(headers or {})}
        self._conn: http.client.HTTPConnection | None = None

    def get(self) -> tuple[str, float]:
        """One scrape: ``(body, latency in seconds)``; a non-200 answer is a BenchError."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        start = time.perf_counter()
        try:
            self._conn.request("GET", self._path, headers=self._headers)
            response = self._conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.close()  # the next call reconnects; this one's failure is the caller's
            raise
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise BenchError(f"{self._path} answered {response.status}")
        if response.will_close:
            self.close()
        return body.decode("utf-8", errors="replace"), elapsed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Scraper:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def scrape_many(url: str, n: int, rate_per_s: float | None = None) -> list[float]:
    """Scrape ``url`` ``n`` times in sequence; returns the latencies in seconds.

    With ``rate_per_s`` the scrapes start on a fixed schedule (never faster), so an
    idle exporter's latency can be told from a saturated one's.
    """
    latencies: list[float] = []
    interval = 1.0 / rate_per_s if rate_per_s else 0.0
    start = time.monotonic()
    with Scraper(url) as scraper:
        for i in range(n):
            if interval:
                wait = start + i * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            latencies.append(scraper.get()[1])
    return latencies


def count_samples(exposition: str) -> int:
    """Sample lines in a text exposition (every non-empty line that is not a comment)."""
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


# Resources ------------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds the process has used so far (not its children)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def rss_bytes(process: psutil.Process) -> int:
    """Resident set size now."""
    return int(process.memory_info().rss)


def peak_rss_bytes(process: psutil.Process) -> int:
    """The kernel's resident high-water mark (VmHWM); falls back to the current RSS."""
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # no /proc (not Linux): the current RSS is the best figure there is
    return rss_bytes(process)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Measurement:
    """What one target cost over a run of scrapes."""

    scrapes: int
    samples: int  # in the last scrape
    cpu_s: float  # user+sys over the whole measured interval
    latencies_s: tuple[float, ...]
    rss_bytes: int  # at the end
    peak_rss_bytes: int

    @property
    def cpu_per_scrape_s(self) -> float:
        return self.cpu_s / self.scrapes if self.scrapes else math.nan

    @property
    def cpu_per_sample_s(self) -> float:
        return self.cpu_per_scrape_s / self.samples if self.samples else math.nan

    @property
    def p50_s(self) -> float:
        return percentile(self.latencies_s, 50)

    @property
    def p99_s(self) -> float:
        return percentile(self.latencies_s, 99)


def measure_side_by_side(
    targets: Mapping[str, Started],
    scrapes: int = 300,
    *,
    warmup: int = 5,
    rate_per_s: float | None = None,
    max_seconds: float = 300.0,
) -> dict[str, Measurement]:
    """Scrape every target ``scrapes`` times, interleaved (a, b, a, b, ...).

    Each target's CPU time is read before and after the run, so CPU per scrape
    includes whatever the process does between scrapes (that is its real cost).
    ``warmup`` scrapes each come first and are not counted. The run stops early after
    ``max_seconds``; the counts then say how many scrapes were measured.
    """
    names = list(targets)
    scrapers = {name: Scraper(targets[name].url) for name in names}
    try:
        for _ in range(warmup):
            for name in names:
                scrapers[name].get()
        latencies: dict[str, list[float]] = {name: [] for name in names}
        last_body: dict[str, str] = dict.fromkeys(names, "")
        cpu_before = {name: cpu_seconds(targets[name].process) for name in names}
        interval = 1.0 / rate_per_s if rate_per_s else 0.0
        start = time.monotonic()
        for i in range(scrapes):
            if time.monotonic() - start > max_seconds:
                break
            if interval:
                wait = start + i * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            for name in names:
                body, elapsed = scrapers[name].get()
                latencies[name].append(elapsed)
                last_body[name] = body
        out: dict[str, Measurement] = {}
        for name in names:
            proc = targets[name].process
            out[name] = Measurement(
                scrapes=len(latencies[name]),
                samples=count_samples(last_body[name]),
                cpu_s=cpu_seconds(proc) - cpu_before[name],
                latencies_s=tuple(latencies[name]),
                rss_bytes=rss_bytes(proc),
                peak_rss_bytes=peak_rss_bytes(proc),
            )
        return out
    finally:
        for scraper in scrapers.values():
            scraper.close()


# Reporting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a side-by-side table.

    ``fmt`` formats both values (e.g. ``"{:.2f} ms"``); ``scale`` multiplies them first
    (``1e3`` for seconds shown as ms). ``aim`` is a predicate on (ours, reference) with
    ``aim_text`` describing it, e.g. ``lambda o, r: o <= 1.5 * r`` and ``"<= 1.5x"``.
    """

    label: str
    ours: float
    reference: float | None
    fmt: str = "{:.3g}"
    scale: float = 1.0
    aim: Callable[[float, float | None], bool] | None = None
    aim_text: str = ""


def ratio(ours: float, reference: float | None) -> float:
    """ours / reference, NaN where the reference is missing or zero."""
    if reference is None or reference == 0 or math.isnan(reference):
        return math.nan
    return ours / reference


def _cell(fmt: str, value: float | None, scale: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value * scale)


def table(rows: Sequence[Row], ours_name: str = "ours", reference_name: str = "reference") -> str:
    """A Markdown table: measure, ours, reference, ratio ours/reference, aim, met."""
    with_aims = any(row.aim is not None for row in rows)
    head = ["measure", ours_name, reference_name, f"ratio {ours_name}/{reference_name}"]
    if with_aims:
        head += ["aim", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        r = ratio(row.ours, row.reference)
        cells = [
            row.label,
            _cell(row.fmt, row.ours, row.scale),
            _cell(row.fmt, row.reference, row.scale),
            "n/a" if math.isnan(r) else f"{r:.2f}",
        ]
        if with_aims:
            if row.aim is None:
                cells += ["", ""]
            else:
                cells += [row.aim_text, "yes" if row.aim(row.ours, row.reference) else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def measurement_rows(ours: Measurement, reference: Measurement) -> list[Row]:
    """The standard rows for two :class:`Measurement`s (no aims; add your own rows)."""
    return [
        Row("samples per scrape", ours.samples, reference.samples, "{:.0f}"),
        Row("scrapes measured", ours.scrapes, reference.scrapes, "{:.0f}"),
        Row("CPU per scrape", ours.cpu_per_scrape_s, reference.cpu_per_scrape_s, "{:.2f} ms", 1e3),
        Row("CPU per sample", ours.cpu_per_sample_s, reference.cpu_per_sample_s, "{:.2f} µs", 1e6),
        Row("p50 scrape latency", ours.p50_s, reference.p50_s, "{:.2f} ms", 1e3),
        Row("p99 scrape latency", ours.p99_s, reference.p99_s, "{:.2f} ms", 1e3),
        Row("RSS at end", ours.rss_bytes, reference.rss_bytes, "{:.1f} MB", 1e-6),
        Row("peak RSS", ours.peak_rss_bytes, reference.peak_rss_bytes, "{:.1f} MB", 1e-6),
    ]


def machine_summary() -> str:
    """Cores, CPU model, Python version and OS kind: no host name, no path."""
    import platform

    model = platform.processor() or "unknown CPU"
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo,
    ):
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count() or 0
    return (
        f"{cores} cores, {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )
