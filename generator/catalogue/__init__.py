"""The threshold catalogue: one module per area, each exposing ``AREA: Area``.

:func:`load` discovers every module in this package (adding an area is adding a file)
and pairs the areas, sorted by name, with the routing policy of ``generator.routing``.
"""

from __future__ import annotations

import importlib
import pkgutil

from generator.model import Area, Catalogue, RoutingPolicy
from generator.routing import POLICY


class CatalogueLoadError(ValueError):
    """A catalogue module that does not expose ``AREA: Area``."""


def area_modules() -> tuple[str, ...]:
    """Names of the catalogue modules, sorted."""
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    )


def load(routing: RoutingPolicy = POLICY) -> Catalogue:
    """Every area in this package, sorted by name, with ``routing``."""
    areas: list[Area] = []
    for name in area_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        area = getattr(module, "AREA", None)
        if not isinstance(area, Area):
            raise CatalogueLoadError(f"{module.__name__} must define AREA: Area")
        areas.append(area)
    return Catalogue(areas=tuple(sorted(areas, key=lambda a: a.name)), routing=routing)
