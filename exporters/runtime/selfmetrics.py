"""The runtime's own metric families: per-collector scrape outcome and the process metrics.

Every exporter namespace ``NS`` publishes, besides its domain ``METRICS``::

    # TYPE NS_scrape_collector_success gauge
    NS_scrape_collector_success{collector="cpu"} 1.0
    # TYPE NS_scrape_collector_duration_seconds gauge
    NS_scrape_collector_duration_seconds{collector="cpu"} 0.0021

plus the ``process_*`` families of prometheus-client's ProcessCollector (CPU, RSS, fds, start
time), made by :mod:`exporters.runtime.process`.
"""

from __future__ import annotations

from exporters.spec import MetricNamespace, MetricSpec

PROCESS_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    MetricSpec("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    MetricSpec(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
    MetricSpec(
        "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."
    ),
    MetricSpec("process_open_fds", "gauge", "Number of open file descriptors."),
    MetricSpec("process_max_fds", "gauge", "Maximum number of open file descriptors."),
)


def collector_labels(multi_target: bool = False) -> tuple[str, ...]:
    """Label names of the two scrape_collector families."""
    return ("collector", "target") if multi_target else ("collector",)


def scrape_metrics(namespace: str, multi_target: bool = False) -> tuple[MetricSpec, ...]:
    """The per-collector families for one namespace (served on /metrics and /probe)."""
    _m = MetricNamespace(namespace, collector_labels(multi_target))
    return (
        _m(
            "scrape_collector_success",
            "gauge",
            "Whether the collector finished within the scrape deadline without error (1) "
            "or not (0).",
        ),
        _m(
            "scrape_collector_duration_seconds",
            "gauge",
            "Seconds the collector ran in this scrape, including a failed or cut-off run.",
        ),
    )


def runtime_metrics(namespace: str, multi_target: bool = False) -> tuple[MetricSpec, ...]:
    """Every family the runtime adds to an exporter's /metrics for ``namespace``."""
    return (*scrape_metrics(namespace, multi_target), *PROCESS_METRICS)
