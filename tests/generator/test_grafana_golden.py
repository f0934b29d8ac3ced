"""Golden checks of the real dashboards: the committed grafana/ output of the real catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint
from generator.catalogue import load
from generator.model import Area, Catalogue, dashboard_uid

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


def _file(area: Area, key: str) -> str:
    return f"{area.name}-{key}.json" if key else f"{area.name}.json"


def test_there_is_one_dashboard_per_area_and_declared_key_and_the_overview(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    expected = {"alerts.json": dashboard_uid("alerts")}
    for area in catalogue.areas:
        for key in area.dashboard_keys():
            expected[_file(area, key)] = dashboard_uid(area.name, key)
    assert {name: d["uid"] for name, d in dashboards.items()} == expected


def test_the_application_area_is_split_into_requests_jobs_and_integrations(
    dashboards: dict[str, Any],
) -> None:
    def titles(name: str) -> set[str]:
        return {p["title"] for p in dashboards[name]["panels"]}

    assert {"Request rate", "HTTP error ratio", "p99 response time", "Requests in flight"} <= (
        titles("application.json")
    )
    assert {"Queue depth", "Job runs by outcome", "Workflow failure ratio"} <= titles(
        "application-jobs.json"
    )
    assert {"External API quota used", "Delivery failure ratio", "TLS certificate time left"} <= (
        titles("application-integrations.json")
    )


def test_the_committed_dashboards_are_lint_clean_and_schema_valid(
    dashboards: dict[str, Any],
) -> None:
    report = lint.lint_dashboards(dashboards, lint.load_schema())
    assert report == {}, json.dumps(report, indent=2)


def test_every_alert_has_a_panel_whose_thresholds_are_its_level_values(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    for area in catalogue.areas:
        for threshold in area.thresholds:
            panels = dashboards[_file(area, threshold.panel.dashboard)]["panels"]
            matching = [
                p
                for p in panels
                if p["title"] == threshold.panel.title
                and p["targets"][0]["expr"] == threshold.panel.expr
                and f"Alert {threshold.name}:" in p["description"]
            ]
            assert len(matching) == 1, f"{threshold.name}: no single panel on its dashboard"
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
        for panel in area.panels:
            titles = [p["title"] for p in dashboards[_file(area, panel.dashboard)]["panels"]]
            assert panel.title in titles, f"{area.name}: {panel.title}"


def test_every_committed_alert_links_the_dashboard_that_draws_its_panel(
    dashboards: dict[str, Any],
) -> None:
    by_uid = {d["uid"]: d for d in dashboards.values()}
    checked = 0
    for name, notes in lint.rule_alerts(ROOT / "rules").items():
        urls = {value for key, value in notes if key == "dashboard_url"}
        assert len(urls) == 1, f"{name}: {urls}"
        uid = urls.pop().rstrip("/").rsplit("/", 1)[1]
        assert uid in by_uid, f"{name}: {uid}"
        described = [p for p in by_uid[uid]["panels"] if f"Alert {name}:" in p["description"]]
        assert len(described) == 1, f"{name}: its panel is not on {uid}"
        checked += 1
    assert checked > 0


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
