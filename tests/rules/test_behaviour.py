"""Runs ``promtool test rules`` on every hand-written ``tests/rules/*.test.yml``.

These tests do not come from the catalogue entry they check: guards staying silent, an
alert resolving, one target of several in trouble. Each file is one test case, failing
with promtool's own report. A file names its rules relative to itself
(``rule_files: [../../rules/<area>.rules.yml]``), the generated files in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


def behaviour_files() -> list[Path]:
    return sorted(HERE.glob("*.test.yml"))


def test_the_folder_holds_behaviour_tests() -> None:
    assert behaviour_files(), f"no *.test.yml in {HERE.name}/: the behaviour tests are missing"


def run_promtool(path: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@needs_promtool
@pytest.mark.parametrize("path", behaviour_files(), ids=lambda p: p.name)
def test_promtool_behaviour_tests_pass(path: Path) -> None:
    result = run_promtool(path)
    assert result.returncode == 0, (
        f"promtool test rules {path.name}:\n{result.stdout}{result.stderr}"
    )


@needs_promtool
def test_a_wrong_expectation_makes_the_runner_fail(tmp_path: Path) -> None:
    """The runner reads promtool's verdict: a behaviour file that expects the wrong
    target to page fails."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "x.rules.yml").write_text(
        "groups:\n"
        "  - name: x\n"
        "    rules:\n"
        "      - alert: Down\n"
        "        expr: up == 0\n"
        "        for: 1m\n"
    )
    wrong = tmp_path / "tests" / "rules" / "x.behaviour.test.yml"
    wrong.parent.mkdir(parents=True)
    wrong.write_text(
        "rule_files: [../../rules/x.rules.yml]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        "      - series: 'up{instance=\"a\"}'\n"
        "        values: '1x10'\n"
        "      - series: 'up{instance=\"b\"}'\n"
        "        values: '0x10'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 5m30s\n"
        "        alertname: Down\n"
        "        exp_alerts:\n"
        "          - exp_labels: {instance: a}\n"
    )
    result = run_promtool(wrong)
    assert result.returncode != 0
    assert 'instance="b"' in result.stdout + result.stderr
