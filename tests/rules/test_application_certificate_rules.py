"""The certificate expiry alert as the rules evaluate it, with promtool, from the probe's series.

Written by hand (not from the catalogue entry): a certificate under 14 days warns, under
3 days or expired pages, and the page does not turn into "resolved" when the series
stops arriving (the endpoint stops answering); one target in trouble fires for itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT

RULES = REPO_ROOT / "rules" / "application.rules.yml"
METRIC = "promfleet_probe_tls_certificate_expiry_timestamp_seconds"
DAY = 86400


def expiry(target: str, values: str) -> dict[str, str]:
    return {
        "series": f'{METRIC}{{instance="probe-1:9115",job="probe",target="{target}"}}',
        "values": values,
    }


def firing(target: str, *severities: str) -> list[dict[str, Any]]:
    return [
        {
            "labels": (
                'ALERTS{alertname="AppTLSCertificateExpiring",category="system-outage",alertstate="firing",'
                f'instance="probe-1:9115",job="probe",severity="{severity}",'
                f'target="{target}",team="ops"}}'
            ),
            "value": 1,
        }
        for severity in severities
    ]


def alerts_at(eval_time: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "expr": 'ALERTS{alertname="AppTLSCertificateExpiring",alertstate="firing"}',
        "eval_time": eval_time,
        "exp_samples": samples,
    }


def run_promtool(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    test_file = tmp_path / "certificate.test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests},
            sort_keys=False,
        )
    )
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_under_fourteen_days_warns_and_under_three_days_pages(tmp_path: Path) -> None:
    run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    expiry("ten-days", f"{10 * DAY}+0x40"),
                    expiry("two-days", f"{2 * DAY}+0x40"),
                    expiry("ninety-days", f"{90 * DAY}+0x40"),
                ],
                "promql_expr_test": [
                    # 7 minutes: the critical's 5-minute for has passed, the warning's 10 not.
                    alerts_at("7m", firing("two-days", "critical")),
                    alerts_at(
                        "13m",
                        firing("ten-days", "warning") + firing("two-days", "critical", "warning"),
                    ),
                ],
            }
        ],
    )


def test_an_expired_certificate_pages_and_stays_firing_when_its_series_stops(
    tmp_path: Path,
) -> None:
    run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    # Expired an hour before t=0; the probe reports it for 20 minutes, then
                    # the endpoint stops answering and the series is gone.
                    expiry("expired", f"{-3600}+0x20"),
                    expiry("fine", f"{90 * DAY}+0x80"),
                ],
                "promql_expr_test": [
                    alerts_at("7m", firing("expired", "critical")),
                    # 10 minutes after the last sample (stale after 5): still firing.
                    alerts_at("30m", firing("expired", "critical", "warning")),
                    # keep_firing_for (30m) has run out: only then resolved.
                    alerts_at("60m", []),
                ],
            }
        ],
    )
