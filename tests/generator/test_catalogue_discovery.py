"""Area packages gathered from their parts: every alert defined is collected exactly once,
in the documented order, and whatever would be dropped or doubled is refused loudly."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator.catalogue import CatalogueLoadError, area_modules, load
from generator.catalogue._gather import gather, read_parts
from generator.model import Area, Threshold

AREA_PACKAGES = ("generator.catalogue.application", "generator.catalogue.training")

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
    # Gathered areas are checked by construction; the areas still listed by hand in their
    # AREA = Area(...) are held to the same rule here, so a forgotten entry fails loudly.
    package = f"generator.catalogue.{name}"
    area = importlib.import_module(package).AREA
    defined = _defined_thresholds(package)
    assert defined, f"{package} defines no alert"
    assert sorted(t.name for t in area.thresholds) == sorted(t.name for t in defined)
    assert {id(t) for t in area.thresholds} == {id(t) for t in defined}
    assert len({t.name for t in area.thresholds}) == len(area.thresholds)


def test_no_alert_name_appears_twice_in_the_whole_catalogue() -> None:
    names = [t.name for _, t in load().thresholds()]
    assert len(names) == len(set(names))


def test_the_real_application_area_refuses_a_parts_list_that_leaves_a_part_out() -> None:
    package = "generator.catalogue.application"
    with pytest.raises(CatalogueLoadError, match="probes not among its parts"):
        read_parts(package, ("service", "jobs", "integrations"))
    with pytest.raises(CatalogueLoadError, match="names a module twice"):
        read_parts(package, ("service", "jobs", "integrations", "probes", "jobs"))


def test_the_application_parts_follow_its_dashboards() -> None:
    parts = read_parts(
        "generator.catalogue.application", ("service", "jobs", "integrations", "probes")
    )
    dashboards = {
        p.module.rpartition(".")[2]: {t.panel.dashboard for t in p.thresholds} for p in parts
    }
    assert dashboards == {
        "service": {""},
        "jobs": {"jobs"},
        "integrations": {"integrations"},
        "probes": {"", "integrations"},  # the certificate's panel sits with the integrations
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
