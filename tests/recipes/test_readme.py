"""The README's recipes and the tests that follow them stay paired, and the files the
recipes send a reader to exist and hold what the recipe says they hold."""

from __future__ import annotations

import re

from exporters import registry
from exporters.spec import metrics_of
from tests.helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    start = README.index(f"## {heading}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else len(README)]


def test_every_how_to_section_has_a_test_that_follows_it() -> None:
    headings = re.findall(r"^## How to add (an? [a-z ]+)$", README, flags=re.MULTILINE)
    assert sorted(headings) == ["a collector", "an alert", "an exporter", "an output format"]
    for heading in headings:
        test = REPO_ROOT / "tests" / "recipes" / f"test_add_{heading.replace(' ', '_')}.py"
        assert test.is_file(), f"README 'How to add {heading}' has no {test.name}"


def defines(path: str, name: str) -> bool:
    """Whether the file at ``path`` assigns ``name`` at module level."""
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    return re.search(rf"^{name}\b", text, flags=re.MULTILINE) is not None


def test_the_collector_recipe_names_where_each_exporter_declares_collectors_and_metrics() -> (
    None
):
    recipe = section("How to add a collector")
    declare = recipe[recipe.index("\n1. ") : recipe.index("\n2. ")]  # the step that says where
    named = set(re.findall(r"`(exporters/[a-z_/<>]+\.py)`", declare))
    single = {p for p in named if "<name>" not in p}
    for name in registry.discover().exporters:
        exporter = registry.load_exporter(name)
        candidates = [f"exporters/{name}.py", f"exporters/{name}/metrics.py",
                      f"exporters/{name}/__init__.py"]
        homes = [p for p in candidates if (REPO_ROOT / p).is_file() and defines(p, "METRICS")]
        assert homes, f"exporter {name}: no module defines METRICS"
        home = homes[0]
        assert home in single or home.replace(f"/{name}", "/<name>", 1) in named, (
            f"the collector recipe does not say that {name}'s METRICS are in {home}"
        )
        assert f"`{name}`" in declare, f"the collector recipe does not name exporter {name}"
        if exporter.collectors:
            assert defines(home, "COLLECTORS"), (
                f"the recipe sends a reader to {home} for {name}'s COLLECTORS, "
                "which it does not define"
            )
        else:
            assert f"`{name}` declares no collectors" in declare, (
                f"exporter {name} declares no collectors and the recipe does not say so"
            )
    for path in single:
        assert defines(path, "METRICS"), f"{path} is named for METRICS but does not define it"


def test_the_exporters_the_collector_recipe_calls_unions_are_unions() -> None:
    declare = section("How to add a collector")
    union = declare[declare.index("the union of the\n"):]
    named = re.findall(r"`([a-z]+)`", union[: union.index(")")])
    assert named, "the collector recipe names no exporter whose METRICS is a union"
    for name in named:
        exporter = registry.load_exporter(name)
        assert exporter.collectors, f"{name} has no collectors"
        assert metrics_of(*(c.metrics for c in exporter.collectors)) == exporter.metrics, (
            f"the collector recipe says {name}'s METRICS is its collectors' union; it is not"
        )


def test_the_exporter_recipe_points_at_what_exists() -> None:
    recipe = section("How to add an exporter")
    for path in re.findall(r"`((?:exporters|topology)/[a-z_/]*(?:\.py)?)`", recipe):
        assert (REPO_ROOT / path).exists(), f"the exporter recipe names {path}, which is gone"
    assert not hasattr(registry, "READING_ORDER") and "READING_ORDER" not in recipe
    assert defines("topology/__init__.py", "def _named") and "`_named()`" in recipe
