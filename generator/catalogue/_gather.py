"""How an area is put together from its modules: found, not listed alert by alert.

An area that is one module ends with ``AREA = gather_module(__name__, title=..., ...)``,
which reads that module as a single part, by the rules below (a module-level
``Threshold`` is an alert, ``RECORDING_RULES`` and ``PANELS`` are tuples); since it runs
on the module's last line, :func:`check_module_area` re-reads the finished module and
refuses an alert, rule or panel defined after it.

An area whose alerts fill several dashboards is a package, ``generator/catalogue/<area>/``,
whose ``__init__`` is ``AREA = gather(__name__, parts=(...), title=..., ...)``. Each part
is a module of that package that reads as a table of alerts:

- every module-level :class:`~generator.model.Threshold` is one of the area's alerts,
  whatever its variable is called;
- ``RECORDING_RULES`` (a tuple of :class:`~generator.model.RecordingRule`), when present,
  holds the recording rules its alerts use;
- ``PANELS`` (a tuple of :class:`~generator.model.Panel`), when present, holds the panels
  shown beside the alerts' own.

The order is deterministic, and it is the order of the rule file, the promtool tests and
the dashboards: parts in the order ``parts`` names them; inside a part, alerts in the
order the module defines them (the order its names are first assigned), recording rules
and panels in their tuple's order. Modules whose name starts with ``_`` (``_common``)
hold what several parts share and may define no alert, rule or panel.

Nothing is dropped or counted twice without a word: :func:`gather` raises
:class:`CatalogueLoadError` for a module of the package that ``parts`` does not name (or
a name with no module), a part that defines nothing, an alert, rule or panel kept in a
module-level collection or a ``_`` module where it would not be collected, and an alert
name collected twice (bound to two variables, or imported into a second part).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from generator.model import SLO, Area, Panel, RecordingRule, Threshold

RULES_NAME = "RECORDING_RULES"
PANELS_NAME = "PANELS"

T = TypeVar("T")


class CatalogueLoadError(ValueError):
    """A catalogue module or area package that does not follow the convention."""


@dataclass(frozen=True)
class Part:
    """What one part module contributes to its area, in rendering order."""

    module: str
    recording_rules: tuple[RecordingRule, ...]
    thresholds: tuple[Threshold, ...]
    panels: tuple[Panel, ...]


def _tuple_of(module: ModuleType, name: str, kind: type[T]) -> tuple[T, ...]:
    value = getattr(module, name, ())
    if not isinstance(value, tuple) or not all(isinstance(item, kind) for item in value):
        raise CatalogueLoadError(f"{module.__name__}.{name} must be a tuple of {kind.__name__}")
    return value


def _catalogue_items(value: object) -> Iterator[object]:
    """``value`` itself, or the items of a module-level tuple, list or set."""
    if isinstance(value, tuple | list | set | frozenset):
        yield from value
    else:
        yield value


def read_part(module: ModuleType) -> Part:
    """The alerts, recording rules and panels of one part module, in rendering order."""
    thresholds: list[Threshold] = []
    bound: dict[str, str] = {}  # alert name -> the variable that holds it
    for variable, value in vars(module).items():
        if isinstance(value, Threshold):
            if value.name in bound:
                raise CatalogueLoadError(
                    f"{module.__name__}: alert {value.name} is collected twice, as "
                    f"{bound[value.name]} and as {variable}; define it once"
                )
            bound[value.name] = variable
            thresholds.append(value)
    part = Part(
        module=module.__name__,
        recording_rules=_tuple_of(module, RULES_NAME, RecordingRule),
        thresholds=tuple(thresholds),
        panels=_tuple_of(module, PANELS_NAME, Panel),
    )
    collected = {id(item) for item in (*part.thresholds, *part.recording_rules, *part.panels)} | {
        id(t.panel) for t in part.thresholds
    }
    for variable, value in vars(module).items():
        if variable in (RULES_NAME, PANELS_NAME):
            continue
        for item in _catalogue_items(value):
            if isinstance(item, Threshold | RecordingRule | Panel) and id(item) not in collected:
                where = (
                    "RECORDING_RULES"
                    if isinstance(item, RecordingRule)
                    else ("PANELS" if isinstance(item, Panel) else "a module-level variable")
                )
                raise CatalogueLoadError(
                    f"{module.__name__}.{variable} holds a {type(item).__name__} that is not "
                    f"collected (it would be dropped): put it in {where}"
                )
    if not (part.thresholds or part.recording_rules or part.panels):
        raise CatalogueLoadError(
            f"{module.__name__} defines no alert, recording rule or panel: an empty part "
            "is probably a mistake"
        )
    return part


def _refuse_private_items(module: ModuleType) -> None:
    for variable, value in vars(module).items():
        for item in _catalogue_items(value):
            if isinstance(item, Threshold | RecordingRule | Panel):
                raise CatalogueLoadError(
                    f"{module.__name__}.{variable} holds a {type(item).__name__}, but a "
                    "module whose name starts with _ is no part and is not collected: "
                    "move it into a part"
                )


def read_parts(package: str, parts: tuple[str, ...]) -> tuple[Part, ...]:
    """The parts of area package ``package`` in the order ``parts`` names them, checked
    against the package's modules and against each other."""
    module = importlib.import_module(package)
    found = {info.name for info in pkgutil.iter_modules(module.__path__)}
    public = {name for name in found if not name.startswith("_")}
    if len(set(parts)) != len(parts):
        raise CatalogueLoadError(f"{package}: parts names a module twice: {parts}")
    if missing := [name for name in parts if name not in public]:
        raise CatalogueLoadError(f"{package}: parts names no module for {', '.join(missing)}")
    if unlisted := sorted(public - set(parts)):
        raise CatalogueLoadError(
            f"{package}: {', '.join(unlisted)} not among its parts, so its alerts would be "
            "dropped: add it to parts where it belongs in the rule file"
        )
    for name in sorted(found - public):
        _refuse_private_items(importlib.import_module(f"{package}.{name}"))
    read = tuple(read_part(importlib.import_module(f"{package}.{name}")) for name in parts)
    owner: dict[str, str] = {}
    for part in read:
        for threshold in part.thresholds:
            if threshold.name in owner:
                raise CatalogueLoadError(
                    f"alert {threshold.name} is collected from both {owner[threshold.name]} "
                    f"and {part.module}: a part's alert is defined there and imported nowhere"
                )
            owner[threshold.name] = part.module
    return read


def gather(
    package: str,
    *,
    parts: tuple[str, ...],
    title: str,
    description: str,
    dashboards: tuple[tuple[str, str], ...] = (),
    external_metrics: tuple[str, ...] = (),
    slos: tuple[SLO, ...] = (),
) -> Area:
    """The area of package ``package`` (named after it), its alerts, recording rules and
    panels gathered from ``parts`` in that order."""
    read = read_parts(package, parts)
    return Area(
        name=package.rpartition(".")[2],
        title=title,
        description=description,
        recording_rules=tuple(rule for part in read for rule in part.recording_rules),
        thresholds=tuple(threshold for part in read for threshold in part.thresholds),
        panels=tuple(panel for part in read for panel in part.panels),
        external_metrics=external_metrics,
        dashboards=dashboards,
        slos=slos,
    )


def gather_module(
    module: str,
    *,
    title: str,
    description: str,
    dashboards: tuple[tuple[str, str], ...] = (),
    external_metrics: tuple[str, ...] = (),
    slos: tuple[SLO, ...] = (),
) -> Area:
    """The area of single module ``module`` (named after it), read as one part: its
    module-level alerts in definition order, its ``RECORDING_RULES`` and ``PANELS``.

    Called as ``AREA = gather_module(__name__, ...)`` on the module's last line: it reads
    what the module has defined so far, so an alert defined below it would be missed;
    :func:`check_module_area` (run by :func:`generator.catalogue.load`) refuses that."""
    part = read_part(sys.modules[module])
    return Area(
        name=module.rpartition(".")[2],
        title=title,
        description=description,
        recording_rules=part.recording_rules,
        thresholds=part.thresholds,
        panels=part.panels,
        external_metrics=external_metrics,
        dashboards=dashboards,
        slos=slos,
    )


def check_module_area(module: ModuleType, area: Area) -> None:
    """Refuses an area module whose ``AREA`` does not hold, in order, exactly what the
    whole module defines: an alert, rule or panel defined after ``AREA`` was gathered (or
    left out of an ``AREA = Area(...)`` written by hand) would be dropped."""
    part = read_part(module)
    for kind, defined, collected in (
        ("alert", part.thresholds, area.thresholds),
        ("recording rule", part.recording_rules, area.recording_rules),
        ("panel", part.panels, area.panels),
    ):
        if [id(item) for item in defined] != [id(item) for item in collected]:
            missing = [item for item in defined if all(item is not c for c in collected)]
            raise CatalogueLoadError(
                f"{module.__name__}: its AREA does not hold every {kind} the module defines, "
                f"in definition order (missing: {', '.join(map(_label, missing)) or 'none'}): "
                "define them above AREA = gather_module(__name__, ...)"
            )


def _label(item: object) -> str:
    for attribute in ("name", "record", "title"):
        if isinstance(value := getattr(item, attribute, None), str):
            return value
    return repr(item)
