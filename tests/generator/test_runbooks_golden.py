"""Golden checks of the real runbooks: every alert's page, its five sections, its links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import lint
from generator.catalogue import load
from generator.model import Catalogue
from generator.render.runbooks import SECTIONS
from generator.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load()


def _sections(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        out[heading.strip()] = body.strip()
    return out


def test_every_alert_has_a_runbook_with_five_sections_of_text(catalogue: Catalogue) -> None:
    for _, threshold in catalogue.thresholds():
        path = ROOT / "runbooks" / f"{threshold.name}.md"
        assert path.is_file(), f"{path.name} is missing"
        text = path.read_text(encoding="utf-8")
        assert f"\n# {threshold.name}\n" in text
        found = _sections(text)
        for name in SECTIONS:
            assert found.get(name), f"{path.name}: section {name} is empty or missing"
        assert "```promql" in found["Diagnosis"], f"{path.name}: no PromQL to run"
        for level in threshold.levels:
            assert f"| {level.severity.value} | {threshold.op} " in text, path.name


def test_the_index_lists_every_runbook(catalogue: Catalogue) -> None:
    index = (ROOT / "runbooks" / "README.md").read_text(encoding="utf-8")
    for _, threshold in catalogue.thresholds():
        assert f"[{threshold.name}]({threshold.name}.md)" in index


def test_every_link_in_the_runbooks_and_rule_annotations_resolves(catalogue: Catalogue) -> None:
    names = [t.name for _, t in catalogue.thresholds()]
    report = lint.check_links(ROOT, load_settings(), names)
    assert report.problems == (), "\n".join(report.problems)
    assert report.checked > len(names)


def test_the_lint_command_passes_on_the_repository() -> None:
    assert lint.main([]) == 0
