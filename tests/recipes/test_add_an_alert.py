"""README "How to add an alert", followed: a new area module with one threshold, rendered
into its rule, its promtool test and its runbook; an undeclared metric is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.recipes.support import generator_copy, run_generator

AREA = '''\
"""Recipe area: one alert, added as the README says."""

from __future__ import annotations

from generator.catalogue._gather import gather_module
from generator.model import AlertTest, Level, Panel, Runbook, Severity, Team, Threshold
from generator.model import TestSeries
from generator.testseries import gauge

HOST = (("instance", "host-1:9101"), ("job", "system"))


def _threads(count: float) -> tuple[TestSeries, ...]:
    return (gauge("SIGNAL", HOST, count),)


THREADS_HIGH = Threshold(
    name="RecipeThreadsHigh",
    signal="SIGNAL",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            20000,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_threads(25000), quiet=_threads(100), labels=HOST, value=25000),
        ),
    ),
    team=Team.OPS,
    summary="{{ $labels.instance }} runs {{ $value }} threads",
    description="{{ $labels.instance }} has run more than 20000 threads for 5 minutes.",
    runbook=Runbook(
        meaning="Something on the host creates threads without bound.",
        impact="At the kernel's limit, no process can start another thread.",
        diagnosis=('How many: `SIGNAL{instance="<instance>"}`',),
        mitigation=("Restart the process that leaks threads.",),
        escalation="Ask the owning team when a restart does not help.",
    ),
    panel=Panel(
        title="Threads",
        expr='SIGNAL{job=~"$job",instance=~"$instance"}',
        unit="short",
        description="Threads of all processes.",
    ),
)

AREA = gather_module(
    __name__,
    title="Recipes",
    description="The README's recipe for an alert, followed.",
)
'''


def add_area(tmp_path: Path, signal: str) -> None:
    """Step 1: a new area is a new module in generator/catalogue/ ending with
    ``AREA = gather_module(__name__, ...)``."""
    catalogue = generator_copy(tmp_path) / "catalogue"
    (catalogue / "recipes.py").write_text(AREA.replace("SIGNAL", signal))


def test_a_threshold_in_a_new_area_module_becomes_a_rule_a_promtool_test_and_a_runbook(
    tmp_path: Path,
) -> None:
    add_area(tmp_path, "promfleet_system_threads")
    out = tmp_path / "out"
    result = run_generator(tmp_path, "--out", str(out))  # step 5: make rules
    assert result.returncode == 0, result.stderr

    rules = yaml.safe_load((out / "rules" / "recipes.rules.yml").read_text())
    [rule] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert")]
    assert rule["alert"] == "RecipeThreadsHigh"
    assert rule["expr"].startswith("promfleet_system_threads > 20000")
    assert rule["for"] == "5m"
    assert rule["labels"] == {"severity": "warning", "team": "ops"}
    assert rule["annotations"]["runbook_url"].endswith("RecipeThreadsHigh.md")

    runbook = (out / "runbooks" / "RecipeThreadsHigh.md").read_text()
    for section in ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"):
        assert section in runbook
    assert "Something on the host creates threads without bound." in runbook

    test_file = out / "rules" / "tests" / "recipes.test.yml"
    assert "RecipeThreadsHigh" in test_file.read_text()
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (.ci/setup): the generated test is not run")
    run = subprocess.run(
        [promtool, "test", "rules", "rules/tests/recipes.test.yml"],
        cwd=out, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_threshold_on_a_metric_nobody_declares_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    add_area(tmp_path, "promfleet_system_threads_nobody_declares")
    out = tmp_path / "out"
    result = run_generator(tmp_path, "--out", str(out))  # step 4, enforced by validation
    assert result.returncode != 0
    assert "promfleet_system_threads_nobody_declares" in result.stderr + result.stdout
    assert not (out / "rules").exists()
