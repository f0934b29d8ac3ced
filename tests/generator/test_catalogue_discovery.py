"""Area packages gathered from their parts: every alert defined is collected exactly once,
in the documented order, and whatever would be dropped or doubled is refused loudly."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import pkgutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator.catalogue import CatalogueLoadError, area_modules, load
from generator.catalogue._gather import check_module_area, gather, read_part, read_parts
from generator.model import Area, Threshold

AREA_PACKAGES = ("generator.catalogue.application", "generator.catalogue.training")
# Areas of one module, gathered by gather_module(__name__, ...) on their last line.
AREA_MODULES = (
    "generator.catalogue.database",
    "generator.catalogue.meta",
    "generator.catalogue.security",
    "generator.catalogue.system",
)

# What a fake area's parts share: a small alert, rule and panel (functions, so nothing
# of the catalogue is defined here at module level).
COMMON = """
from generator.model import (
    AlertTest, Level, Panel, RecordingRule, Runbook, Severity, Team, TestSeries, Threshold,
)


def panel(title):
    return Panel(title=title, expr="up", unit="short", description="Up.")


def rule(record):
    return RecordingRule(record, "up")


def alert(name):
    series = (TestSeries('up{instance="h:1",job="j"}', "0x10"),)
    test = AlertTest(firing=series, quiet=series, labels=(("instance", "h:1"),), value=0)
    return Threshold(
        name=name,
        signal="up",
        op="==",
        levels=(Level(Severity.WARNING, 0, 300, 3600, test),),
        team=Team.OPS,
        summary="down",
        description="down",
        runbook=Runbook("m", "i", ("`up`",), ("fix",), "e"),
        panel=panel(name),
    )
"""

_counter = itertools.count()

MakeArea = Callable[..., str]


@pytest.fixture
def fake_area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeArea]:
    """Writes an area package with the given modules (name -> source) and returns its name;
    ``_common`` (the helpers above) is always there."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(**modules: str) -> str:
        package = f"fake_area_{next(_counter)}"
        root = tmp_path / package
        root.mkdir()
        (root / "__init__.py").write_text("")
        (root / "_common.py").write_text(COMMON)
        for name, source in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source))
        made.append(package)
        return package

    yield make
    for name in [m for m in sys.modules if m.split(".")[0] in made]:
        del sys.modules[name]


def _gather(package: str, parts: tuple[str, ...]) -> Area:
    return gather(package, parts=parts, title="Fake", description="A fake area.")


def _defined_thresholds(name: str) -> list[Threshold]:
    """Every Threshold bound at module level in area module ``name``, or anywhere in it when
    it is a package, by identity."""
    module = importlib.import_module(name)
    modules = [module]
    if hasattr(module, "__path__"):
        modules += [
            importlib.import_module(f"{name}.{info.name}")
            for info in pkgutil.iter_modules(module.__path__)
        ]
    found: dict[int, Threshold] = {}
    for each in modules:
        for value in vars(each).values():
            if isinstance(value, Threshold):
                found[id(value)] = value
    return list(found.values())


# -- the real catalogue --------------------------------------------------------------------


def test_the_split_areas_are_packages() -> None:
    for package in AREA_PACKAGES:
        assert hasattr(importlib.import_module(package), "__path__"), package


@pytest.mark.parametrize("name", area_modules())
def test_every_alert_an_area_defines_is_in_its_area_exactly_once(name: str) -> None:
    # Gathered areas are checked by construction (and single-module areas again by
    # load()); this holds every area to the rule from outside, whatever its form.
    package = f"generator.catalogue.{name}"
    area = importlib.import_module(package).AREA
    defined = _defined_thresholds(package)
    assert defined, f"{package} defines no alert"
    assert sorted(t.name for t in area.thresholds) == sorted(t.name for t in defined)
    assert {id(t) for t in area.thresholds} == {id(t) for t in defined}
    assert len({t.name for t in area.thresholds}) == len(area.thresholds)


def test_every_area_is_a_package_or_a_gathered_module() -> None:
    packages = {p.rpartition(".")[2] for p in AREA_PACKAGES}
    modules = {m.rpartition(".")[2] for m in AREA_MODULES}
    assert set(area_modules()) == packages | modules
    assert not packages & modules


@pytest.mark.parametrize("name", AREA_MODULES)
def test_a_single_module_area_is_what_the_module_defines_in_definition_order(
    name: str,
) -> None:
    module = importlib.import_module(name)
    assert not hasattr(module, "__path__"), name
    part = read_part(module)
    area = module.AREA
    assert [id(t) for t in area.thresholds] == [id(t) for t in part.thresholds]
    assert [id(r) for r in area.recording_rules] == [id(r) for r in part.recording_rules]
    assert [id(p) for p in area.panels] == [id(p) for p in part.panels]
    assert area.name == name.rpartition(".")[2]
    check_module_area(module, area)


def test_the_single_module_areas_render_in_the_order_they_always_had() -> None:
    # Definition order is rendering order: moving a definition reorders the rule file,
    # the promtool tests, the dashboard and the runbooks (the golden files say so too).
    order = {a.name: [t.name for t in a.thresholds] for a in load().areas}
    assert order["system"] == [
        "SystemCPUHigh", "SystemMemoryHigh", "SystemDiskSpaceHigh",
        "SystemFilesystemFillingUp", "SystemFilesystemDeviceError", "SystemInodesHigh",
        "SystemInodesFillingUp", "SystemFileDescriptorsHigh", "SystemSwapHigh",
        "SystemLoadHigh", "SystemOOMKill", "SystemClockNotSynchronising",
        "SystemClockSkewed", "SystemNetworkErrors", "SystemDiskIOSaturated",
    ]  # fmt: skip
    assert order["meta"] == [
        "PromfleetTargetDown", "PromfleetScrapeJobAbsent", "PromfleetCollectorFailing",
        "PrometheusRuleEvaluationFailures", "PrometheusMissingRuleEvaluations",
        "PrometheusBadConfig", "PrometheusErrorSendingAlertsToSomeAlertmanagers",
        "PrometheusErrorSendingAlertsToAnyAlertmanager", "PrometheusNotificationsDropped",
        "PrometheusNotificationQueueRunningFull", "PrometheusNotConnectedToAlertmanagers",
        "AlertmanagerFailedReload", "AlertmanagerClusterMembersMissing",
        "AlertmanagerNotificationsFailing", "Watchdog",
    ]  # fmt: skip


def test_no_alert_name_appears_twice_in_the_whole_catalogue() -> None:
    names = [t.name for _, t in load().thresholds()]
    assert len(names) == len(set(names))


def test_the_real_application_area_refuses_a_parts_list_that_leaves_a_part_out() -> None:
    package = "generator.catalogue.application"
    with pytest.raises(CatalogueLoadError, match="probes, status not among its parts"):
        read_parts(package, ("service", "jobs", "integrations"))
    with pytest.raises(CatalogueLoadError, match="names a module twice"):
        read_parts(package, ("service", "jobs", "integrations", "probes", "status", "jobs"))


def test_the_application_parts_follow_its_dashboards() -> None:
    parts = read_parts(
        "generator.catalogue.application",
        ("service", "jobs", "integrations", "business", "probes", "status"),
    )
    dashboards = {
        p.module.rpartition(".")[2]: {t.panel.dashboard for t in p.thresholds} for p in parts
    }
    assert dashboards == {
        "service": {""},
        "jobs": {"jobs"},
        "integrations": {"integrations"},
        "business": {"business"},
        "probes": {"", "integrations"},  # the certificate's panel sits with the integrations
        "status": {"status"},
    }


# -- the order -----------------------------------------------------------------------------


def test_parts_are_gathered_in_the_order_named_and_alerts_in_definition_order(
    fake_area: MakeArea,
) -> None:
    package = fake_area(
        zeta=_part(
            "B = alert('Zeta2')\nA = alert('Zeta1')\n"
            "RECORDING_RULES = (rule('z:r:one'), rule('z:r:two'))\n"
            "PANELS = (panel('z panel'),)\n"
        ),
        alpha=_part("A = alert('Alpha1')\nRECORDING_RULES = (rule('a:r:one'),)\n"),
    )
    area = _gather(package, ("zeta", "alpha"))
    assert area.name == package
    assert [t.name for t in area.thresholds] == ["Zeta2", "Zeta1", "Alpha1"]
    assert [r.record for r in area.recording_rules] == ["z:r:one", "z:r:two", "a:r:one"]
    assert [p.title for p in area.panels] == ["z panel"]


def _part(body: str) -> str:
    """A part module's source: the helpers imported from its package's ``_common``."""
    return "from ._common import alert, panel, rule\n" + body


# -- what would be dropped or doubled is refused ---------------------------------------------


def test_a_module_the_parts_do_not_name_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\n"), two=_part("A = alert('Two')\n"))
    with pytest.raises(CatalogueLoadError, match="two not among its parts, so its alerts"):
        _gather(package, ("one",))


def test_a_part_with_no_module_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\n"))
    with pytest.raises(CatalogueLoadError, match="parts names no module for two"):
        _gather(package, ("one", "two"))


def test_an_alert_bound_to_two_variables_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nOLD_NAME = A\n"))
    with pytest.raises(
        CatalogueLoadError, match="alert One is collected twice, as A and as OLD_NAME"
    ):
        _gather(package, ("one",))


def test_two_alerts_with_one_name_in_a_part_are_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nB = alert('One')\n"))
    with pytest.raises(CatalogueLoadError, match="collected twice"):
        _gather(package, ("one",))


def test_an_alert_imported_into_a_second_part_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(
        one=_part("A = alert('One')\n"),
        two=_part("from .one import A\nB = alert('Two')\n"),
    )
    with pytest.raises(
        CatalogueLoadError, match=r"alert One is collected from both .*one and .*two"
    ):
        _gather(package, ("one", "two"))


def test_an_alert_kept_only_in_a_collection_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nMORE = (alert('Hidden'),)\n"))
    with pytest.raises(
        CatalogueLoadError, match=r"one\.MORE holds a Threshold that is not collected"
    ):
        _gather(package, ("one",))


def test_a_recording_rule_or_panel_outside_its_tuple_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nLOOSE = rule('x:y:z')\n"))
    with pytest.raises(CatalogueLoadError, match="put it in RECORDING_RULES"):
        _gather(package, ("one",))
    package = fake_area(two=_part("A = alert('Two')\nEXTRA = panel('loose')\n"))
    with pytest.raises(CatalogueLoadError, match="put it in PANELS"):
        _gather(package, ("two",))


def test_a_panel_an_alert_uses_may_be_bound_at_module_level(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nA_PANEL = A.panel\n"))
    assert [t.name for t in _gather(package, ("one",)).thresholds] == ["One"]


def test_an_alert_in_a_shared_module_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(
        one=_part("A = alert('One')\n"),
        _shared="from ._common import alert\nSTRAY = alert('Stray')\n",
    )
    with pytest.raises(CatalogueLoadError, match=r"_shared\.STRAY holds a Threshold, but a module"):
        _gather(package, ("one",))


def test_an_empty_part_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\n"), two="LIMIT = 3\n")
    with pytest.raises(CatalogueLoadError, match="defines no alert, recording rule or panel"):
        _gather(package, ("one", "two"))


def test_recording_rules_and_panels_must_be_tuples_of_their_kind(fake_area: MakeArea) -> None:
    package = fake_area(one=_part("A = alert('One')\nRECORDING_RULES = [rule('a:b:c')]\n"))
    with pytest.raises(
        CatalogueLoadError, match="RECORDING_RULES must be a tuple of RecordingRule"
    ):
        _gather(package, ("one",))


# -- single-module areas: gather_module ------------------------------------------------------

GATHER_MODULE = (
    "from generator.catalogue._gather import gather_module\n"
    "from ._common import alert, panel, rule\n"
)
AREA_LINE = "AREA = gather_module(__name__, title='Fake', description='A fake area.')\n"


def _import(package: str, name: str) -> Area:
    return importlib.import_module(f"{package}.{name}").AREA


def test_a_single_module_area_gathers_its_own_definitions_in_order(fake_area: MakeArea) -> None:
    package = fake_area(
        single=GATHER_MODULE
        + "B = alert('Second')\nA = alert('First')\n"
        + "RECORDING_RULES = (rule('s:r:one'),)\nPANELS = (panel('extra'),)\n"
        + AREA_LINE
    )
    area = _import(package, "single")
    assert area.name == "single"
    assert [t.name for t in area.thresholds] == ["Second", "First"]
    assert [r.record for r in area.recording_rules] == ["s:r:one"]
    assert [p.title for p in area.panels] == ["extra"]
    check_module_area(importlib.import_module(f"{package}.single"), area)


def test_a_single_module_alert_bound_twice_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(single=GATHER_MODULE + "A = alert('One')\nALIAS = A\n" + AREA_LINE)
    with pytest.raises(CatalogueLoadError, match="alert One is collected twice, as A and as ALIAS"):
        _import(package, "single")


def test_a_single_module_alert_kept_in_a_collection_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(
        single=GATHER_MODULE + "A = alert('One')\nMORE = [alert('Hidden')]\n" + AREA_LINE
    )
    with pytest.raises(CatalogueLoadError, match=r"single\.MORE holds a Threshold that is not"):
        _import(package, "single")


def test_a_single_module_alert_defined_below_area_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(
        single=GATHER_MODULE + "A = alert('One')\n" + AREA_LINE + "LATE = alert('Late')\n"
    )
    area = _import(package, "single")  # gathered before LATE existed
    with pytest.raises(CatalogueLoadError, match=r"every alert .*missing: Late"):
        check_module_area(importlib.import_module(f"{package}.single"), area)


def test_a_hand_written_area_that_leaves_an_alert_out_is_refused(fake_area: MakeArea) -> None:
    package = fake_area(
        single="from generator.model import Area\nfrom ._common import alert\n"
        "A = alert('One')\nB = alert('Two')\n"
        "AREA = Area(name='single', title='F', description='F.',\n"
        "    recording_rules=(), thresholds=(A,))\n"
    )
    with pytest.raises(CatalogueLoadError, match="missing: Two"):
        check_module_area(importlib.import_module(f"{package}.single"), _import(package, "single"))


def test_a_single_module_area_with_its_alerts_out_of_order_is_refused(
    fake_area: MakeArea,
) -> None:
    package = fake_area(
        single="from generator.model import Area\nfrom ._common import alert\n"
        "A = alert('One')\nB = alert('Two')\n"
        "AREA = Area(name='single', title='F', description='F.',\n"
        "    recording_rules=(), thresholds=(B, A))\n"
    )
    with pytest.raises(CatalogueLoadError, match=r"in definition order \(missing: none\)"):
        check_module_area(importlib.import_module(f"{package}.single"), _import(package, "single"))


def test_load_refuses_a_real_area_module_whose_area_misses_an_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    system = importlib.import_module("generator.catalogue.system")
    area = system.AREA
    monkeypatch.setattr(
        system, "AREA", dataclasses.replace(area, thresholds=area.thresholds[:-1])
    )
    with pytest.raises(CatalogueLoadError, match=r"generator\.catalogue\.system: its AREA"):
        load()
