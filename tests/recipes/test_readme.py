"""The README's recipes and the tests that follow them stay paired, and the files the
recipes send a reader to exist and hold what the recipe says they hold."""

from __future__ import annotations

import re

from exporters import registry
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


def test_the_collector_recipe_names_the_files_where_each_exporter_declares_metrics() -> None:
    recipe = section("How to add a collector")
    named = set(re.findall(r"`(exporters/[a-z_/<>]+\.py)`", recipe))
    single = {p for p in named if "<name>" not in p}
    for path in single:
        assert re.search(r"^METRICS\b", (REPO_ROOT / path).read_text(), flags=re.MULTILINE), (
            f"{path} is named as where METRICS lives, but does not define it"
        )
    for name in registry.EXPORTERS:
        candidates = [
            REPO_ROOT / "exporters" / f"{name}.py",
            REPO_ROOT / "exporters" / name / "metrics.py",
            REPO_ROOT / "exporters" / name / "__init__.py",
        ]
        homes = [
            path.relative_to(REPO_ROOT).as_posix()
            for path in candidates
            if path.is_file() and re.search(r"^METRICS\b", path.read_text(), flags=re.MULTILINE)
        ]
        assert homes, f"exporter {name}: no module defines METRICS"
        generic = homes[0].replace(f"/{name}", "/<name>", 1)
        assert homes[0] in single or generic in named, (
            f"the collector recipe does not say that {name}'s METRICS are in {homes[0]}"
        )
        assert f"`{name}`" in recipe, f"the collector recipe does not name exporter {name}"
