"""The training rules on edges the generated promtool tests do not reach.

The generated test fires ``TrainingConceptDrift`` from one case. These feed promtool the
other ways a drift monitor's record can look: a count that grows while Prometheus
watches (``increase()`` sees it), a monitor first scraped with a count already above zero
(``increase()`` never counts a first sample; its last-detection time must), and old
detections that must stay quiet, with or without a last-detection time.
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

RULES = REPO_ROOT / "rules" / "training.rules.yml"
LABELS = 'instance="trainer-1:9108",job="training",model="resnet50",type="concept"'
COUNT = f"promfleet_training_drift_detections_total{{{LABELS}}}"
LAST = f"promfleet_training_drift_last_detection_timestamp_seconds{{{LABELS}}}"
FIRING = {
    "instance": "trainer-1:9108",
    "job": "training",
    "model": "resnet50",
    "type": "concept",
    "severity": "warning",
    "team": "engineering",
}


def expected_annotations() -> dict[str, str]:
    """The alert's annotations as generated, with its labels filled in (no $value used)."""
    doc = yaml.safe_load(RULES.read_text())
    rule = next(
        r
        for group in doc["groups"]
        for r in group["rules"]
        if r.get("alert") == "TrainingConceptDrift"
    )
    annotations: dict[str, str] = {}
    for name, text in rule["annotations"].items():
        assert "$value" not in text, "fill $value in here when the alert starts using it"
        for label, value in FIRING.items():
            text = text.replace(f"{{{{ $labels.{label} }}}}", value)
        annotations[name] = text
    return annotations


def drift_alerts(tmp_path: Path, series: dict[str, str], fires: bool) -> str:
    """promtool's output when the drift alert is expected (or not) 10 minutes in."""
    (tmp_path / "training.rules.yml").write_bytes(RULES.read_bytes())
    test: dict[str, Any] = {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": "TrainingConceptDrift",
                "exp_alerts": (
                    [{"exp_labels": FIRING, "exp_annotations": expected_annotations()}]
                    if fires
                    else []
                ),
            }
        ],
    }
    spec = {"rule_files": ["training.rules.yml"], "evaluation_interval": "1m", "tests": [test]}
    (tmp_path / "drift.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "drift.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr if result.returncode else ""


def test_a_detection_count_that_grows_while_watched_fires_without_a_detection_time(
    tmp_path: Path,
) -> None:
    assert drift_alerts(tmp_path, {COUNT: "0x5 1x20"}, fires=True) == ""


def test_a_monitor_first_seen_with_a_recent_detection_fires(tmp_path: Path) -> None:
    # Detected at t=0 (its count is 1 from the first scrape): increase() sees 0.
    assert drift_alerts(tmp_path, {COUNT: "1x20", LAST: "0x20"}, fires=True) == ""


def test_a_monitor_whose_last_detection_is_over_15_minutes_old_stays_quiet(tmp_path: Path) -> None:
    assert drift_alerts(tmp_path, {COUNT: "5x20", LAST: "-960x20"}, fires=False) == ""


def test_an_old_count_without_a_detection_time_stays_quiet(tmp_path: Path) -> None:
    assert drift_alerts(tmp_path, {COUNT: "5x20"}, fires=False) == ""
