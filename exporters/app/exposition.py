"""Rendering ``/metrics`` for an instrumented service, in one process or several.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before prometheus-client is imported, as its
multi-process mode requires), every worker writes its values to files there and any
worker's ``/metrics`` merges them all; without it, the given registry is rendered.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, multiprocess, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared directory when multi-process mode is on, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or None


class WithoutCreated:
    """``registry`` without the ``*_created`` series (Prometheus ignores them in this format).

    Left in, each would be a gauge family of its own in the text format, doubling the
    series count of every counter and histogram for nothing.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            if any(sample.name.endswith("_created") for sample in metric.samples):
                metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


def exposition_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """What ``/metrics`` renders: a merging registry in multi-process mode, else ``registry``."""
    path = multiprocess_dir()
    if path is None:
        filtered = CollectorRegistry()
        filtered.register(WithoutCreated(registry))
        return filtered
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
    return merged


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of every worker's metrics (or of ``registry`` alone)."""
    return generate_latest(exposition_registry(registry))


def serve(
    registry: CollectorRegistry, port: int, addr: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on a port of its own, in a daemon thread; returns the server."""
    return start_http_server(port, addr=addr, registry=exposition_registry(registry))


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished worker's live gauges (call from the worker at exit, or its parent)."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            pid if pid is not None else os.getpid(), path
        )
