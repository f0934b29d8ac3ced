"""Golden checks of the real dashboards: the committed grafana/ output of the real catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint
from generator.catalogue import load
from generator.model import Catalogue, dashboard_uid

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load()


@pytest.fixture(scope="module")
def dashboards() -> dict[str, Any]:
    found, broken = lint.read_dashboards(DASHBOARDS)
    assert not broken, broken
    return found


def test_there_is_one_dashboard_per_area_and_the_overview(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    expected = {f"{area.name}.json" for area in catalogue.areas} | {"alerts.json"}
    assert set(dashboards) == expected
    for name, dashboard in dashboards.items():
        assert dashboard["uid"] == dashboard_uid(name.removesuffix(".json"))


def test_the_committed_dashboards_are_lint_clean_and_schema_valid(
    dashboards: dict[str, Any],
) -> None:
    report = lint.lint_dashboards(dashboards, lint.load_schema())
    assert report == {}, json.dumps(report, indent=2)


def test_every_alert_has_a_panel_whose_thresholds_are_its_level_values(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    for area in catalogue.areas:
        panels = dashboards[f"{area.name}.json"]["panels"]
        for threshold in area.thresholds:
            matching = [
                p
                for p in panels
                if p["title"] == threshold.panel.title
                and p["targets"][0]["expr"] == threshold.panel.expr
                and f"Alert {threshold.name}:" in p["description"]
            ]
            assert len(matching) == 1, f"{threshold.name}: no single panel on {area.name}.json"
            defaults = matching[0]["fieldConfig"]["defaults"]
            steps = defaults["thresholds"]["steps"]
            assert steps[0]["value"] is None
            drawn = {step["value"] for step in steps[1:]}
            assert drawn == {level.value for level in threshold.levels}, threshold.name
            assert defaults["custom"]["thresholdsStyle"]["mode"] in ("line", "dashed")
            colours = {step["color"] for step in steps}
            severities = {level.severity.value for level in threshold.levels}
            if "critical" in severities:
                assert "red" in colours, threshold.name
            if "warning" in severities:
                assert "orange" in colours, threshold.name


def test_the_area_dashboards_carry_the_areas_extra_panels(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    for area in catalogue.areas:
        titles = [p["title"] for p in dashboards[f"{area.name}.json"]["panels"]]
        for panel in area.panels:
            assert panel.title in titles, f"{area.name}: {panel.title}"


def test_provisioning_points_grafana_at_the_dashboards_and_the_fixed_datasource() -> None:
    datasources = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text(encoding="utf-8")
    )
    assert [d["uid"] for d in datasources["datasources"]] == ["promfleet-prometheus"]
    providers = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/promfleet.yaml").read_text(encoding="utf-8")
    )
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/dashboards")
