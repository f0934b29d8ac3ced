"""The threshold catalogue: one module per area, each exposing ``AREA: Area``.

:func:`load` discovers every module in this package (adding an area is adding a file)
and pairs the areas, sorted by name, with the routing policy of ``generator.routing``.
No area lists its alerts by hand: they are collected by discovery
(:mod:`generator.catalogue._gather`), so adding an alert is defining a module-level
``Threshold`` in one file: there is no list to keep in step with it.

- An area whose alerts fill one dashboard is one module (``system``, ``database``,
  ``meta``, ``security``) that ends with ``AREA = gather_module(__name__, title=...,
  ...)``: its module-level ``Threshold`` objects in the order the module defines them,
  its ``RECORDING_RULES`` and ``PANELS`` tuples. The module is the table of alerts its one
  dashboard shows, read top to bottom; split into parts, such an area would only scatter
  the helpers its alerts share (series builders, label sets, recording-rule names) and
  the imports other code relies on (``from generator.catalogue.system import CPU_HIGH``).
  An alert defined below the ``AREA`` line would be missed: :func:`load` re-reads the
  whole module and refuses an ``AREA`` that does not hold, in order, every alert, rule
  and panel it defines.
- An area whose alerts fill several dashboards is a package instead (``application/``,
  ``training/``): one module per part, each a table of alerts, gathered by
  :func:`generator.catalogue._gather.gather` in the order its ``parts`` names them.

The alerting policy every entry follows (and how it is enforced)
-----------------------------------------------------------------

1. **Severity is urgency.** A critical alert is a symptom that needs a human now (it
   pages); a warning is worked within the hour; info is a daily digest. Demote what is
   not worth waking for. (Review; routing in ``generator.routing`` delivers by severity.)
2. **Every level holds its condition for a while** (``Level.for_seconds > 0``), unless
   one occurrence is itself the incident: then the threshold says why in
   ``Threshold.single_event`` (one sentence). The validator refuses a level with
   ``for_seconds == 0`` and no ``single_event``, and a ``single_event`` on an alert
   whose levels all have a ``for`` (contradictory). The dead man's switch (the routing
   policy's ``watchdog_alert``) is exempt: it fires from the first evaluation by design.
   A level without a ``for`` may count over at most 15 minutes of a counter (through the
   recording rules it uses): an hour-window count with ``for: 0s`` stays firing an hour
   after one short burst.
3. **A ratio alert has a minimum-traffic guard** in ``Threshold.guard``, so low
   traffic cannot page (``and on (instance, job) <requests per second> > 0.1``). The
   validator finds ratios after looking through the recording rules a signal uses: a
   division whose both sides contain ``rate()``/``increase()``/``irate()``, or a
   ``histogram_quantile`` over rated buckets. Such a signal needs a guard that is joined
   with ``and`` and measures traffic (uses a rate, or a recording rule made from one).
   A plain rate or count needs no guard: its threshold is itself a traffic floor. A
   ratio whose denominator is a counter of time that always advances (CPU seconds) says
   why in ``Threshold.no_traffic_guard`` instead; the validator refuses that reason on a
   signal that is no ratio of rates.
4. **One log line is one event in one category**: no event is counted twice across
   alerts. Which counters a log line increments is the exporter's business, so the
   security exporter's tests enforce it (a line counted in two categories is a test
   failure there); the catalogue cannot see it.
5. **An alert on a series that can vanish does not resolve when it vanishes** (a failed
   probe, a mount that errors, an expired certificate, a dead exporter): set
   ``Threshold.keep_firing_seconds`` (rendered as ``keep_firing_for``: the alert stays
   firing that long after its condition stops holding, including because the series
   vanished), or write an expression that stays true (``or absent(...)``-style), or
   make the exporter keep publishing the fact. The validator checks that
   ``keep_firing_seconds`` is whole seconds in 0..21600 (longer hides a resolution for
   most of a shift); which alerts need it is reviewed, not inferred. For the dead
   exporter the renderer applies it to every alert at once: an alert fed by exporter
   series (``inhibited_by_target_down``) keeps firing for the target-down alert's
   ``for`` plus four evaluation intervals (4m by default), so the target-down page fires,
   and through Alertmanager's inhibition mutes it, before evidence that stopped arriving
   could read as "resolved". A larger ``keep_firing_seconds`` wins.
6. **Every range selector spans at least four scrape intervals** (``[1m]`` at the
   default 15 s), so one missed scrape leaves enough samples, and no hour-window counter
   alert with ``for: 0s`` stays firing an hour after a short burst. The validator checks
   every range and subquery of recording and alerting rules against the settings'
   ``scrape_interval``; ``python -m generator.rulelint`` checks the generated files.
7. **Alerts carry ``instance`` and ``job``** (routing groups and inhibition match on
   them): ``generator.rulelint`` reports an aggregation or a ``on (...)`` match that
   drops one, or a label of the routing policy's ``group_by``/``inhibit_equal``, unless
   the rule sets it as a static label; the validator requires the inhibition labels in
   each level's test labels.
8. **Every page reaches a person, and then the management tier.** Every critical route
   of ``generator.routing`` (including the fallback for a team no route knows, or none)
   names a receiver that rings a phone (PagerDuty, Opsgenie, Pushover) and a second,
   different integration; every receiver is told when an alert resolves, or says why
   not. An alert with a critical level names its ``Threshold.category`` (business-process
   failure, SLA violation, security incident, system outage): the ``category`` label
   management reads when the alert, unacknowledged for the policy's escalation delay
   (or ``Threshold.escalation_delay_seconds``), escalates to it. An info level's
   cooldown is the digest's period. (Validator.)

``python -m generator.rulelint`` also runs pint's other offline checks on the generated
rules (rate on a gauge, a raw counter, an alert without a comparison, annotation labels
the expression cannot produce, ``absent()`` with a short ``for``, a sum of ratios,
duplicates). Hand-written promtool tests in ``tests/rules/<area>.behaviour.test.yml``
check what the generated tests cannot: guards staying silent, an alert resolving,
one target of several in trouble.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

from generator.catalogue._gather import CatalogueLoadError, check_module_area
from generator.model import Area, Catalogue, RoutingPolicy
from generator.routing import POLICY

__all__ = ["CatalogueLoadError", "area_modules", "load"]


def area_modules() -> tuple[str, ...]:
    """Names of the catalogue modules, sorted."""
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    )


def load(routing: RoutingPolicy = POLICY) -> Catalogue:
    """Every area in this package, sorted by name, with ``routing``."""
    areas: list[Area] = []
    packages = {m.name for m in pkgutil.iter_modules(__path__) if m.ispkg}
    for name in area_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        area = getattr(module, "AREA", None)
        if not isinstance(area, Area):
            raise CatalogueLoadError(f"{module.__name__} must define AREA: Area")
        if name not in packages:
            check_module_area(module, area)
        source = f"generator/catalogue/{name}/" if name in packages else (
            f"generator/catalogue/{name}.py"
        )
        areas.append(dataclasses.replace(area, source=area.source or source))
    return Catalogue(areas=tuple(sorted(areas, key=lambda a: a.name)), routing=routing)
