"""Which exporters and metric sources exist: found by discovery, as renderers are.

Every module of the ``exporters`` package is imported (:func:`discover`): one that
defines ``EXPORTER`` (an :class:`ExporterDef`) is an exporter, one that defines only
``METRICS`` is a metric-only source (``app``, the instrumentation library of the demo
service), and one that defines neither is shared code (the runtime, ``spec``, ...). A
module that cannot be imported stops discovery with :class:`BrokenSource`, naming the
module and its import error: a broken exporter is never skipped. The generator calls
:func:`all_metric_specs` to learn every declared metric; the runtime calls
:func:`load_exporter` to serve one (importing that module only).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from exporters.runtime.selfmetrics import runtime_metrics
from exporters.spec import ExporterDef, MetricSpec


class ExporterNotFound(LookupError):
    """The name is not a known exporter (no such module, or it defines no EXPORTER)."""


class BrokenSource(ImportError):
    """A module of the exporters package that cannot be imported, or whose declarations
    are of the wrong type; the message names the module and the cause."""


@dataclass(frozen=True)
class Sources:
    """What :func:`discover` found, each by name. The order they are read in (the metrics
    reference, the rules' job lists, the scrape jobs) is the service table's job order,
    ``topology.job_order``: one table places every service."""

    exporters: tuple[str, ...]
    metric_only: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.exporters, *self.metric_only)


def _import(path: str) -> ModuleType:
    """Import ``path``; an import error inside it is re-raised naming the module."""
    try:
        return importlib.import_module(path)
    except (ImportError, SyntaxError) as err:
        raise BrokenSource(f"{path} cannot be imported: {type(err).__name__}: {err}") from err


def _kind(module: ModuleType) -> str:
    """``exporter``, ``metrics`` (metric-only) or ``""`` (not a source); wrong types raise."""
    exporter = getattr(module, "EXPORTER", None)
    metrics = getattr(module, "METRICS", None)
    if exporter is not None:
        if not isinstance(exporter, ExporterDef):
            raise BrokenSource(f"{module.__name__}.EXPORTER is not an ExporterDef")
        return "exporter"
    if metrics is not None:
        if not isinstance(metrics, tuple) or not all(isinstance(m, MetricSpec) for m in metrics):
            raise BrokenSource(f"{module.__name__}.METRICS is not a tuple of MetricSpec")
        return "metrics"
    return ""


@cache
def discover(package: str = "exporters") -> Sources:
    """Every source module of ``package`` (its direct modules and subpackages)."""
    root = importlib.import_module(package)
    found: dict[str, list[str]] = {"exporter": [], "metrics": []}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        kind = _kind(_import(f"{package}.{info.name}"))
        if kind:
            found[kind].append(info.name)
    return Sources(tuple(found["exporter"]), tuple(found["metrics"]))


def __getattr__(name: str) -> tuple[str, ...]:
    """``EXPORTERS``, ``METRIC_ONLY_SOURCES`` and ``SOURCES``, discovered on first use (so
    that serving one exporter does not import every other)."""
    if name == "EXPORTERS":
        return discover().exporters
    if name == "METRIC_ONLY_SOURCES":
        return discover().metric_only
    if name == "SOURCES":
        return discover().all
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def module_name(name: str) -> str:
    """The module path for a source name; a dotted name is taken as a module path as is.

    The dotted form lets the runtime serve an exporter that lives outside this package
    (the runtime's own tests serve fixture exporters that way).
    """
    return name if "." in name else f"exporters.{name}"


def load_exporter(name: str) -> ExporterDef:
    """The :class:`ExporterDef` of exporter ``name`` (or a dotted module path)."""
    path = module_name(name)
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name is None or not (path == err.name or path.startswith(err.name + ".")):
            raise BrokenSource(f"{path} cannot be imported: {type(err).__name__}: {err}") from err
        known = "" if "." in name else f"; known: {', '.join(discover().exporters)}"
        raise ExporterNotFound(
            f"unknown exporter {name!r}: module {path} does not exist{known}") from err
    except (ImportError, SyntaxError) as err:
        raise BrokenSource(f"{path} cannot be imported: {type(err).__name__}: {err}") from err
    kind = _kind(module)
    if kind != "exporter":
        what = "a metric-only source" if kind else "not an exporter"
        raise ExporterNotFound(f"{name!r} is {what}: module {path} defines no EXPORTER")
    exporter: ExporterDef = module.EXPORTER
    return exporter


def exporter_specs(exporter: ExporterDef) -> tuple[MetricSpec, ...]:
    """Everything a served exporter can publish on /metrics: domain plus runtime families."""
    return (*exporter.metrics, *runtime_metrics(exporter.namespace, exporter.multi_target))


def all_metric_specs(package: str = "exporters") -> dict[str, tuple[MetricSpec, ...]]:
    """{source name: every spec it declares}, runtime families included for exporters,
    exporters first, each kind by name; a source that cannot be imported raises
    :class:`BrokenSource`."""
    sources = discover(package)
    out: dict[str, tuple[MetricSpec, ...]] = {}
    for name in sources.exporters:
        out[name] = exporter_specs(importlib.import_module(f"{package}.{name}").EXPORTER)
    for name in sources.metric_only:
        out[name] = importlib.import_module(f"{package}.{name}").METRICS
    return out
