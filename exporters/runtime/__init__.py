"""The shared exporter runtime: configuration, HTTP server, deadlines, self-metrics, web config.

Importing this package is cheap (the generator imports :func:`runtime_metrics`); the
server lives in :mod:`exporters.runtime.server` and is imported only to serve.
"""

from exporters.runtime.selfmetrics import PROCESS_METRICS, runtime_metrics, scrape_metrics

__all__ = ["PROCESS_METRICS", "runtime_metrics", "scrape_metrics"]
