"""Dashboards that tell the truth: the threshold steps each comparison renders, and the
checker (generator.panel_truth) fed each kind of defect, on a catalogue made for it."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from generator import lint, panel_truth
from generator.model import (
    AlertTest,
    Area,
    Catalogue,
    Comparison,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Settings,
    Severity,
    Team,
    Threshold,
)
from generator.model import TestSeries as Series
from generator.render import grafana
from tests.generator.catalogues import small_catalogue

SEL = 'job=~"$job",instance=~"$instance"'
SETTINGS = Settings(
    runbook_base_url="https://runbooks.example/rb", dashboard_base_url="http://grafana.example/d"
)
LABELS = (("instance", "h:9101"), ("job", "demo"))


def _level(severity: Severity, value: float) -> Level:
    series = (Series('demo_up{instance="h:9101",job="demo"}', "0x10"),)
    test = AlertTest(firing=series, quiet=series, labels=LABELS, value=value)
    return Level(severity, value, 300, 3600, test)


def _alert(
    name: str,
    signal: str,
    op: Comparison,
    levels: tuple[tuple[Severity, float], ...],
    panel_expr: str,
    unit: str = "short",
    kind: str = "timeseries",
    **panel: Any,
) -> Threshold:
    return Threshold(
        name=name,
        signal=signal,
        op=op,
        levels=tuple(_level(severity, value) for severity, value in levels),
        team=Team.OPS,
        summary=f"{name} on {{{{ $labels.instance }}}}",
        description="The value is {{ $value }}.",
        runbook=Runbook("Meaning.", "Impact.", ("Look.",), ("Fix.",), "Escalate."),
        panel=Panel(
            title=f"{name} panel",
            expr=panel_expr,
            unit=unit,
            description="A panel.",
            kind=kind,  # type: ignore[arg-type]
            **panel,
        ),
    )


WARN = ((Severity.WARNING, 0.0),)
CRIT = ((Severity.CRITICAL, 0.0),)


def truth_catalogue() -> Catalogue:
    """One alert of each shape the real catalogue has, each with an honest panel."""
    area = Area(
        name="demo",
        title="Demo",
        description="Alerts of every shape.",
        recording_rules=(
            RecordingRule(
                "instance_table:demo_dead_tuples:ratio",
                "demo_dead_tuples / (demo_dead_tuples + demo_live_tuples)",
            ),
            RecordingRule(
                "instance:demo_deadlocks:increase5m", "increase(demo_deadlocks_total[5m])"
            ),
        ),
        thresholds=(
            _alert("DemoDown", "demo_up", "==", CRIT, f"demo_up{{{SEL}}}", kind="stat"),
            _alert(
                "DemoDeadlocks",
                "instance:demo_deadlocks:increase5m",
                ">",
                WARN,
                f"instance:demo_deadlocks:increase5m{{{SEL}}}",
            ),
            _alert(
                "DemoDeadTuples",
                "instance_table:demo_dead_tuples:ratio",
                ">",
                ((Severity.WARNING, 0.2),),
                f"instance_table:demo_dead_tuples:ratio{{{SEL}}}",
                unit="percentunit",
            ),
            _alert(
                "DemoSaveFailing",
                "demo_last_save_ok",
                "==",
                WARN,
                f"time() - demo_last_save_timestamp_seconds{{{SEL}}}",
                unit="s",
                alert_thresholds=False,
            ),
            _alert(
                "DemoSlow",
                "histogram_quantile(0.99, sum by (instance, job, le) "
                "(rate(demo_duration_seconds_bucket[5m])))",
                ">=",
                ((Severity.WARNING, 1.0), (Severity.CRITICAL, 2.5)),
                "histogram_quantile(0.99, sum by (instance, job, le) "
                f"(rate(demo_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                unit="s",
            ),
            _alert(
                "DemoFreeLow",
                "demo_free_ratio",
                "<=",
                ((Severity.WARNING, 0.2), (Severity.CRITICAL, 0.05)),
                f"demo_free_ratio{{{SEL}}}",
                unit="percentunit",
                kind="gauge",
            ),
            _alert("Watchdog", "vector(1)", "==", ((Severity.INFO, 1.0),), f"demo_up{{{SEL}}}"),
        ),
    )
    return dataclasses.replace(small_catalogue(), areas=(area,))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return truth_catalogue()


@pytest.fixture
def dashboard(catalogue: Catalogue) -> dict[str, Any]:
    text = grafana.render(catalogue, SETTINGS)["grafana/dashboards/demo.json"]
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _panel(dashboard: dict[str, Any], alert: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["title"] == f"{alert} panel")


def _steps(dashboard: dict[str, Any], alert: str) -> list[tuple[float | None, str]]:
    steps = _panel(dashboard, alert)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in steps]


# What the renderer draws ----------------------------------------------------------------


def test_an_up_like_alert_at_zero_colours_only_zero(dashboard: dict[str, Any]) -> None:
    panel = _panel(dashboard, "DemoDown")
    assert panel_truth.color_of(panel, 1) == "green"
    assert panel_truth.color_of(panel, 0) == "red"
    assert _steps(dashboard, "DemoDown") == [
        (None, "green"),
        (0, "red"),
        (math.nextafter(0, math.inf), "green"),
    ]


def test_an_alert_above_zero_leaves_zero_green_and_colours_anything_above(
    dashboard: dict[str, Any],
) -> None:
    panel = _panel(dashboard, "DemoDeadlocks")
    assert panel_truth.color_of(panel, 0) == "green"
    assert panel_truth.color_of(panel, 1) == "orange"
    assert panel_truth.color_of(panel, 0.01) == "orange"


def test_an_at_or_above_alert_colours_each_level_from_its_value(dashboard: dict[str, Any]) -> None:
    assert _steps(dashboard, "DemoSlow") == [(None, "green"), (1, "orange"), (2.5, "red")]


def test_an_at_or_below_alert_keeps_the_level_itself_in_its_colour(
    dashboard: dict[str, Any],
) -> None:
    panel = _panel(dashboard, "DemoFreeLow")
    assert panel_truth.color_of(panel, 0.05) == "red"
    assert panel_truth.color_of(panel, 0.1) == "orange"
    assert panel_truth.color_of(panel, 0.2) == "orange"
    assert panel_truth.color_of(panel, 0.21) == "green"


def test_a_panel_showing_context_draws_no_alert_thresholds(dashboard: dict[str, Any]) -> None:
    panel = _panel(dashboard, "DemoSaveFailing")
    assert _steps(dashboard, "DemoSaveFailing") == [(None, "green")]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "off"}


def test_annotations_leave_out_the_watchdog(dashboard: dict[str, Any]) -> None:
    (annotation,) = dashboard["annotations"]["list"]
    assert annotation["expr"] == (
        'ALERTS{alertstate="firing",alertname!~"Watchdog",job=~"$job",instance=~"$instance"}'
    )


# The checker ----------------------------------------------------------------------------


def test_the_honest_dashboard_passes(catalogue: Catalogue, dashboard: dict[str, Any]) -> None:
    assert panel_truth.check_dashboard(dashboard, catalogue) == []


def _set_steps(dashboard: dict[str, Any], alert: str, steps: list[tuple[Any, str]]) -> None:
    defaults = _panel(dashboard, alert)["fieldConfig"]["defaults"]
    defaults["thresholds"]["steps"] = [{"value": v, "color": c} for v, c in steps]


@pytest.mark.parametrize(
    ("alert", "steps", "healthy"),
    [
        # Steps green, then red at 0: 1 (up) is red.
        ("DemoDown", [(None, "green"), (0, "red")], "1"),
        # A step at 0 for ``> 0``: the healthy 0 is orange.
        ("DemoDeadlocks", [(None, "green"), (0, "orange")], "0"),
        # A ``<=`` alert drawn as ``<``: 0.2 fires yet is green; 0.2 just above is fine.
        ("DemoFreeLow", [(None, "orange"), (0.0, "green")], "0.2"),
    ],
)
def test_a_healthy_value_coloured_as_failing_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any], alert: str, steps: Any, healthy: str
) -> None:
    _set_steps(dashboard, alert, steps)
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert found, "the defect went unnoticed"
    assert all(f"panel '{alert} panel'" in p for p in found), found
    if alert != "DemoFreeLow":
        assert any(f"healthy value {healthy} is coloured" in p for p in found), found


def test_orange_at_any_value_is_named(catalogue: Catalogue, dashboard: dict[str, Any]) -> None:
    # "Redis last RDB save age is orange at any age": the base step itself fails.
    _set_steps(dashboard, "DemoDeadlocks", [(None, "orange")])
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert any("panel-healthy-color-rule" in p and "healthy value 0" in p for p in found), found


def test_a_level_not_coloured_where_it_fires_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    _set_steps(dashboard, "DemoSlow", [(None, "green"), (1, "orange"), (3, "red")])
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert found == [
        "panel-healthy-color-rule: panel 'DemoSlow panel' (alert DemoSlow >=): 2.5, where "
        "the critical fires, is coloured orange"
    ]


def test_a_ratio_threshold_on_a_count_panel_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    # The dead-tuples defect: the alert's 0.2 ratio drawn on absolute tuple counts.
    panel = _panel(dashboard, "DemoDeadTuples")
    panel["targets"][0]["expr"] = f"demo_dead_tuples{{{SEL}}}"
    panel["fieldConfig"]["defaults"]["unit"] = "short"
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert any("thresholds in ratio on a panel that shows count" in p for p in found), found
    assert any("does not show what it measures (demo_live_tuples)" in p for p in found), found


def test_a_ratio_threshold_on_a_bytes_panel_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    _panel(dashboard, "DemoDeadTuples")["fieldConfig"]["defaults"]["unit"] = "bytes"
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert found == [
        "panel-threshold-unit-rule: panel 'DemoDeadTuples panel' (alert DemoDeadTuples): "
        "thresholds in ratio on a panel in 'bytes' (bytes)"
    ]


def test_a_ratio_threshold_on_a_percent_panel_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    # percent is 0 to 100, the alert's ratio 0 to 1: 0.2 would read as 0.2 %.
    _panel(dashboard, "DemoDeadTuples")["fieldConfig"]["defaults"]["unit"] = "percent"
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert any("thresholds in ratio on a panel in 'percent'" in p for p in found), found


def test_a_flag_threshold_on_an_age_panel_is_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    # The RDB defect: a failed-save flag's 0 drawn on the save age in seconds.
    _set_steps(dashboard, "DemoSaveFailing", [(None, "green"), (0, "orange")])
    found = panel_truth.check_dashboard(dashboard, catalogue)
    assert any("thresholds in count on a panel in 's' (seconds)" in p for p in found), found
    assert any("does not show what it measures (demo_last_save_ok)" in p for p in found), found


def test_a_latency_quantile_is_in_seconds_whatever_rate_it_went_through(
    catalogue: Catalogue,
) -> None:
    signals = panel_truth.Signals.of(catalogue)
    assert signals.kind(catalogue.areas[0].thresholds[4].signal) == "seconds"
    assert signals.kind("rate(demo_requests_total[5m])") == "per_second"
    assert signals.kind("instance:demo_deadlocks:increase5m") == "count"
    assert signals.kind("time() - demo_last_save_timestamp_seconds") == "seconds"
    assert signals.kind("demo_a_seconds / demo_b_seconds") == "ratio"
    assert signals.kind("rate(demo_cpu_seconds_total[5m])") == "ratio"


def test_annotations_that_draw_the_watchdog_are_named(
    catalogue: Catalogue, dashboard: dict[str, Any]
) -> None:
    broken = copy.deepcopy(dashboard)
    broken["annotations"]["list"][0]["expr"] = (
        'ALERTS{alertstate="firing",job=~"$job",instance=~"$instance"}'
    )
    found = panel_truth.check_dashboard(broken, catalogue)
    assert found == [
        "annotation-always-firing-rule: annotation 'Firing alerts' draws Watchdog, which "
        "fires all the time by design"
    ]
    broken["annotations"]["list"][0]["expr"] = 'ALERTS{alertstate="firing",alertname!="Watchdog"}'
    assert panel_truth.check_dashboard(broken, catalogue) == []


def test_lint_main_fails_on_a_dashboard_that_does_not_tell_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    for sub in ("grafana/dashboards", "rules", "runbooks"):
        (tmp_path / sub).mkdir(parents=True)
    for source in (root / "grafana/dashboards").glob("*.json"):
        (tmp_path / "grafana/dashboards" / source.name).write_bytes(source.read_bytes())
    for source in (root / "rules").glob("*.rules.yml"):
        (tmp_path / "rules" / source.name).write_bytes(source.read_bytes())
    for source in (root / "runbooks").glob("*.md"):
        (tmp_path / "runbooks" / source.name).write_bytes(source.read_bytes())
    assert lint.main(["--root", str(tmp_path)]) == 0
    path = tmp_path / "grafana/dashboards/database.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    panel = next(p for p in data["panels"] if p["title"] == "PostgreSQL up")
    panel["fieldConfig"]["defaults"]["thresholds"]["steps"] = [
        {"color": "green", "value": None},
        {"color": "red", "value": 0},
    ]
    path.write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert lint.main(["--root", str(tmp_path)]) == 1
    assert "panel-healthy-color-rule: panel 'PostgreSQL up'" in capsys.readouterr().out
