"""Which exporters and metric sources exist, and where their modules are.

``system, postgres, redis, probe, security, training`` are exporters (a module with
``EXPORTER`` and ``METRICS``); ``app`` is a metric-only source (the instrumented demo
service, ``METRICS`` only). The generator calls :func:`all_metric_specs` to learn every
declared metric; the runtime calls :func:`load_exporter` to serve one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType

from exporters.runtime.selfmetrics import runtime_metrics
from exporters.spec import ExporterDef, MetricSpec

EXPORTERS: tuple[str, ...] = ("system", "postgres", "redis", "probe", "security", "training")
METRIC_ONLY_SOURCES: tuple[str, ...] = ("app",)
SOURCES: tuple[str, ...] = (*EXPORTERS, *METRIC_ONLY_SOURCES)

_log = logging.getLogger("promfleet.registry")


class ExporterNotFound(LookupError):
    """The name is not a known exporter, or its module is not written (yet)."""


def module_name(name: str) -> str:
    """The module path for a source name; a dotted name is taken as a module path as is.

    The dotted form lets the runtime serve an exporter that lives outside this package
    (the runtime's own tests serve fixture exporters that way).
    """
    if "." in name:
        return name
    if name not in SOURCES:
        known = ", ".join(SOURCES)
        raise ExporterNotFound(f"unknown exporter {name!r}; known: {known}")
    return f"exporters.{name}"


def _import(name: str) -> ModuleType:
    path = module_name(name)
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        # Only the module itself missing means "not written yet"; a missing dependency
        # inside a written module is a real error and propagates.
        if err.name is not None and (path == err.name or path.startswith(err.name + ".")):
            raise ExporterNotFound(
                f"exporter {name!r} is not available: module {path} does not exist"
            ) from err
        raise


def load_exporter(name: str) -> ExporterDef:
    """The :class:`ExporterDef` of exporter ``name`` (or a dotted module path)."""
    if name in METRIC_ONLY_SOURCES:
        raise ExporterNotFound(f"{name!r} is a metric-only source, not an exporter")
    module = _import(name)
    exporter = getattr(module, "EXPORTER", None)
    if not isinstance(exporter, ExporterDef):
        raise ExporterNotFound(f"module {module.__name__} defines no EXPORTER (ExporterDef)")
    return exporter


def load_metrics(name: str) -> tuple[MetricSpec, ...]:
    """The domain ``METRICS`` declared by source ``name``."""
    module = _import(name)
    metrics = getattr(module, "METRICS", None)
    if not isinstance(metrics, tuple) or not all(isinstance(m, MetricSpec) for m in metrics):
        raise ExporterNotFound(f"module {module.__name__} defines no METRICS tuple of MetricSpec")
    return metrics


def exporter_specs(exporter: ExporterDef) -> tuple[MetricSpec, ...]:
    """Everything a served exporter can publish on /metrics: domain plus runtime families."""
    return (*exporter.metrics, *runtime_metrics(exporter.namespace, exporter.multi_target))


def _warn_missing(name: str, reason: str) -> None:
    _log.warning("metric source skipped: %s (%s)", name, reason)


def all_metric_specs(
    on_missing: Callable[[str, str], None] = _warn_missing,
) -> dict[str, tuple[MetricSpec, ...]]:
    """{source name: every spec it declares}, runtime families included for exporters.

    A source whose module does not exist yet is skipped and ``on_missing(name, reason)``
    is called (by default a warning naming it).
    """
    out: dict[str, tuple[MetricSpec, ...]] = {}
    for name in SOURCES:
        try:
            if name in EXPORTERS:
                out[name] = exporter_specs(load_exporter(name))
            else:
                out[name] = load_metrics(name)
        except ExporterNotFound as err:
            on_missing(name, str(err))
    return out
