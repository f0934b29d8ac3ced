"""HTTP request metrics kept in plain Python on the event loop, rendered at scrape time.

The middlewares record on the event loop thread, one request at a time, so a lock per
value (what prometheus-client's objects take) buys nothing there and costs most of the
per-request budget. Used in single-process mode; with ``PROMETHEUS_MULTIPROC_DIR`` the
values must live in the shared files, and prometheus-client's objects are used instead.
A scrape copies each series' cells before reading them, so a histogram's buckets, sum
and count always agree with each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from exporters.spec import MetricSpec


class InFlight:
    """Requests in progress: a plain integer (``inc``/``dec`` mirror a Gauge's)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class HttpStats:
    """A collector for the request counter, the duration histogram and in-flight."""

    def __init__(
        self,
        requests: MetricSpec,
        duration: MetricSpec,
        in_flight: MetricSpec,
        buckets: Sequence[float],
    ) -> None:
        self._specs = (requests, duration, in_flight)
        self.bounds: tuple[float, ...] = (*sorted(buckets), float("inf"))
        self._les = tuple(floatToGoString(b) for b in self.bounds)  # type: ignore[no-untyped-call]
        self.in_flight = InFlight()
        self._requests: dict[tuple[str, ...], list[int]] = {}
        # (method, route) -> one count per bound, then the sum of observations
        self._durations: dict[tuple[str, ...], list[float]] = {}

    def cells(
        self, method: str, route: str, status: str, tenant: str
    ) -> tuple[list[int], list[float]]:
        """The (counter cell, histogram cells) one label combination writes to."""
        request = self._requests.setdefault((method, route, status, tenant), [0])
        duration = self._durations.setdefault((method, route), [0.0] * (len(self.bounds) + 1))
        return request, duration

    def collect(self) -> Iterator[Metric]:
        requests_spec, duration_spec, in_flight_spec = self._specs
        requests = CounterMetricFamily(
            requests_spec.name.removesuffix("_total"),
            requests_spec.help,
            labels=list(requests_spec.labels),
        )
        for key, cell in list(self._requests.items()):
            requests.add_metric(list(key), cell[0])
        yield requests
        duration = HistogramMetricFamily(
            duration_spec.name, duration_spec.help, labels=list(duration_spec.labels)
        )
        for key, cells in list(self._durations.items()):
            snapshot = list(cells)
            cumulative = 0.0
            buckets = []
            for le, count in zip(self._les, snapshot, strict=False):
                cumulative += count
                buckets.append((le, cumulative))
            duration.add_metric(list(key), buckets, snapshot[-1])
        yield duration
        gauge = GaugeMetricFamily(in_flight_spec.name, in_flight_spec.help)
        gauge.add_metric([], self.in_flight.value)
        yield gauge
