"""The application rules on the edges the generated promtool tests do not reach.

The generated tests fire each alert from a mix of outcomes. These feed promtool series
where one outcome never happened at all (a job whose every run failed, a workflow that
never completed): the series of the missing outcome does not exist, and the ratio and
the alert expression must still see 100 % failure rather than nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")

RULES = REPO_ROOT / "rules" / "application.rules.yml"
APP = 'instance="app-1:8080",job="app"'


def alert_expr(name: str) -> str:
    """The expression of alert ``name`` as generated."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return str(rule["expr"])
    raise AssertionError(f"no alert {name} in {RULES.name}")


def promtool_expr_test(
    tmp_path: Path, series: str, values: str, eval_time: str, checks: list[tuple[str, str, float]]
) -> subprocess.CompletedProcess[str]:
    """Run promtool over the generated rules; ``checks`` are (expr, output labels, value)."""
    (tmp_path / "application.rules.yml").write_bytes(RULES.read_bytes())
    test: dict[str, Any] = {
        "interval": "1m",
        "input_series": [{"series": series, "values": values}],
        "promql_expr_test": [
            {"expr": expr, "eval_time": eval_time, "exp_samples": [{"labels": labels, "value": v}]}
            for expr, labels, v in checks
        ],
    }
    spec = {"rule_files": ["application.rules.yml"], "evaluation_interval": "1m", "tests": [test]}
    (tmp_path / "edges.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "test", "rules", "edges.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_job_whose_every_run_failed_has_a_success_ratio_of_zero_and_alerts(
    tmp_path: Path,
) -> None:
    ratio = "instance_job_name:promfleet_app_job_runs:success_ratio_rate1h"
    out = f'{{{APP},job_name="report"}}'
    result = promtool_expr_test(
        tmp_path,
        f'promfleet_app_job_runs_total{{{APP},job_name="report",outcome="failure"}}',
        "0+2x90",
        "70m",
        [(ratio, ratio + out, 0), (alert_expr("AppJobSuccessRateLow"), ratio + out, 0)],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_workflow_that_never_completed_has_a_failure_ratio_of_one_and_alerts(
    tmp_path: Path,
) -> None:
    ratio = "instance_workflow:promfleet_app_workflows:failure_ratio_rate5m"
    out = f'{{{APP},workflow="checkout"}}'
    result = promtool_expr_test(
        tmp_path,
        f'promfleet_app_workflows_failed_total{{{APP},tenant="",workflow="checkout"}}',
        "0+12x30",  # 0.2 a second: above the alert's minimum of finished workflows
        "20m",
        [(ratio, ratio + out, 1), (alert_expr("AppWorkflowFailureRate"), ratio + out, 1)],
    )
    assert result.returncode == 0, result.stdout + result.stderr
