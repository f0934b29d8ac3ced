"""Golden checks of the real dashboards: the committed grafana/ output of the real catalogue."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint, panel_truth
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
        if area.slos:  # the SLO dashboard of an area with SLOs
            expected[_file(area, "slo")] = dashboard_uid(area.name, "slo")
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


def test_every_alert_has_a_panel_whose_thresholds_colour_exactly_where_it_fires(
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
            if not threshold.panel.alert_thresholds:
                assert steps == [{"color": "green", "value": None}], threshold.name
                continue
            # Each step sits on a level's value or just above it (where ``>`` starts).
            near = {v for lv in threshold.levels for v in (lv.value, _above(lv.value))}
            assert {step["value"] for step in steps[1:]} <= near, threshold.name
            assert defaults["custom"]["thresholdsStyle"]["mode"] in ("line", "dashed")
            for level in threshold.levels:
                fires_at = _above(level.value) if threshold.op == ">" else level.value
                fires_at = _below(level.value) if threshold.op == "<" else fires_at
                expected = {"warning": "orange", "critical": "red", "info": "blue"}
                assert _colour(steps, fires_at) == expected[level.severity.value], threshold.name
            assert panel_truth.check_colors(matching[0], threshold) == [], threshold.name


def _above(value: float) -> float:
    return math.nextafter(value, math.inf)


def _below(value: float) -> float:
    return math.nextafter(value, -math.inf)


def _colour(steps: list[dict[str, Any]], value: float) -> str:
    return [s["color"] for s in steps if s["value"] is None or value >= s["value"]][-1]


def test_the_committed_dashboards_tell_the_truth_about_their_alerts(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    report = panel_truth.check_dashboards(dashboards, catalogue)
    assert report == {}, json.dumps(report, indent=2)


def test_the_six_up_like_panels_are_green_when_up_and_red_or_orange_when_down(
    dashboards: dict[str, Any],
) -> None:
    titles = {
        "PostgreSQL up", "Redis up", "Redis replica link", "Targets up", "Collector success",
        "Status sources up",
    }  # fmt: skip
    panels = [p for d in dashboards.values() for p in d["panels"] if p["title"] in titles]
    assert {p["title"] for p in panels} == titles
    for panel in panels:
        assert panel_truth.color_of(panel, 1) == "green", panel["title"]
        assert panel_truth.color_of(panel, 0) in ("orange", "red"), panel["title"]


def test_no_dashboard_draws_the_watchdog_as_an_annotation(dashboards: dict[str, Any]) -> None:
    for name, dashboard in dashboards.items():
        (annotation,) = dashboard["annotations"]["list"]
        assert 'alertname!~"Watchdog"' in annotation["expr"], name


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
    # An alert whose instance is a static rule label (about Prometheus itself) has no
    # $labels.instance to select: its link selects the job alone.
    static_instance = {
        t.name for _, t in load().thresholds() if "instance" in dict(t.static_labels)
    }
    # An SLO's alerts name the service in a static instance label.
    static_instance |= {
        name
        for area in load().areas
        for slo in area.slos
        for name in (slo.burn_alert, slo.absent_alert)
    }
    checked = 0
    for name, notes in lint.rule_alerts(ROOT / "rules").items():
        urls = {value for key, value in notes if key == "dashboard_url"}
        assert len(urls) == 1, f"{name}: {urls}"
        url = urls.pop()
        selects = "?var-job={{ $labels.job }}" + (
            "" if name in static_instance else "&var-instance={{ $labels.instance }}"
        )
        assert url.endswith(selects) or name == "Watchdog", (
            f"{name}: {url} does not select the alert's job and instance"
        )
        uid = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
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
