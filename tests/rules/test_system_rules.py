"""System-area rules beyond the generated cases, run in promtool: a full read-only
filesystem stays silent, while the same filesystem mounted read-write pages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.catalogue import load
from generator.catalogue.system import ROOT_FS
from generator.model import Settings
from generator.render.rules import render as render_rules
from generator.testseries import series

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


def filesystem(readonly: int) -> list[dict[str, str]]:
    """A 99 % full root filesystem (space and inodes), filling by 50 MB a minute."""
    return [
        {"series": s.series, "values": s.values}
        for s in (
            series("promfleet_system_filesystem_size_bytes", ROOT_FS, "100000000000+0x90"),
            series("promfleet_system_filesystem_avail_bytes", ROOT_FS, "9000000000-50000000x90"),
            series("promfleet_system_filesystem_files", ROOT_FS, "1000000+0x90"),
            series("promfleet_system_filesystem_files_free", ROOT_FS, "10000+0x90"),
            series("promfleet_system_filesystem_readonly", ROOT_FS, f"{readonly}+0x90"),
        )
    ]


ALERTS = ("SystemDiskSpaceHigh", "SystemInodesHigh", "SystemFilesystemFillingUp")


def run(tmp_path: Path, readonly: int) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    rules = render_rules(load(), Settings())["rules/system.rules.yml"]
    (tmp_path / "system.rules.yml").write_text(rules, encoding="utf-8")
    # What fires at 1h30m: on a writable filesystem each of the three (the filling-up alert
    # at both levels: 91 % full and full in 3 hours), on a read-only one none.
    tests = {
        "rule_files": ["system.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": filesystem(readonly),
                "promql_expr_test": [
                    {
                        "expr": (
                            "count(count by (alertname) "
                            f'(ALERTS{{alertstate="firing",alertname="{name}"}})) or vector(0)'
                        ),
                        "eval_time": "1h30m",
                        "exp_samples": [{"labels": "{}", "value": 0 if readonly else 1}],
                    }
                    for name in ALERTS
                ],
            }
        ],
    }
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    return subprocess.run(
        [PROMTOOL, "test", "rules", "t.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_full_read_only_filesystem_does_not_page(tmp_path: Path) -> None:
    result = run(tmp_path, readonly=1)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_filesystem_mounted_read_write_fires_all_three_alerts(tmp_path: Path) -> None:
    result = run(tmp_path, readonly=0)
    assert result.returncode == 0, result.stdout + result.stderr
