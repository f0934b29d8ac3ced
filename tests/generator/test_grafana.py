"""Dashboards: the renderer on a small catalogue, the linter on bad dashboards, the real output."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from generator import lint
from generator.model import Settings
from generator.render import grafana
from tests.generator.catalogues import small_catalogue

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = Settings(
    runbook_base_url="https://runbooks.example/rb", dashboard_base_url="http://grafana.example/d"
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    out = grafana.render(small_catalogue(), SETTINGS)
    return {path: json.loads(text) for path, text in out.items() if path.endswith(".json")}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return lint.load_schema()


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["title"] == title)


def test_one_dashboard_per_area_plus_the_alerts_overview(rendered: dict[str, Any]) -> None:
    assert sorted(rendered) == [
        "grafana/dashboards/alerts.json",
        "grafana/dashboards/database.json",
        "grafana/dashboards/system.json",
    ]
    assert rendered["grafana/dashboards/system.json"]["uid"] == "promfleet-system"
    assert rendered["grafana/dashboards/alerts.json"]["uid"] == "promfleet-alerts"


def test_rendered_dashboards_are_lint_clean_and_schema_valid(
    rendered: dict[str, Any], schema: dict[str, Any]
) -> None:
    assert lint.lint_dashboards(rendered, schema) == {}


def test_an_upper_threshold_is_drawn_green_then_orange_then_red(rendered: dict[str, Any]) -> None:
    # ``> 1.5`` does not fire at 1.5: Grafana colours from a step's value up (>=), so the
    # step sits on the smallest value above the level.
    panel = _panel(rendered["grafana/dashboards/system.json"], "Load per CPU")
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["thresholds"] == {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "orange", "value": math.nextafter(1.5, math.inf)},
            {"color": "red", "value": math.nextafter(3, math.inf)},
        ],
    }
    assert defaults["custom"]["thresholdsStyle"]["mode"] in ("line", "dashed")


def test_a_lower_threshold_is_red_below_critical_and_green_above_warning(
    rendered: dict[str, Any],
) -> None:
    panel = _panel(rendered["grafana/dashboards/system.json"], "Free space")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [
        {"color": "red", "value": None},
        {"color": "orange", "value": 0.05},
        {"color": "green", "value": 0.2},
    ]


def test_alert_panels_link_their_runbook_and_describe_every_level(rendered: dict[str, Any]) -> None:
    panel = _panel(rendered["grafana/dashboards/system.json"], "Load per CPU")
    assert [link["url"] for link in panel["links"]] == [
        "https://runbooks.example/rb/HostLoadHigh.md"
    ]
    assert "warning when > 1.5 for 5m" in panel["description"]
    assert "critical when > 3 for 10m" in panel["description"]


def test_extra_panels_follow_the_alert_panels_without_thresholds(rendered: dict[str, Any]) -> None:
    dashboard = rendered["grafana/dashboards/system.json"]
    assert [p["title"] for p in dashboard["panels"]] == [
        "Load per CPU",
        "Free space",
        "Network received",
    ]
    extra = dashboard["panels"][2]
    assert extra["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None}
    ]


def test_the_alerts_overview_counts_firing_alerts_by_severity_and_team_and_lists_them(
    rendered: dict[str, Any],
) -> None:
    dashboard = rendered["grafana/dashboards/alerts.json"]
    exprs = {p["title"]: p["targets"][0]["expr"] for p in dashboard["panels"]}
    assert 'alertstate="firing"' in exprs["Firing alerts by severity"]
    assert exprs["Firing alerts by severity"].startswith("count by (severity)")
    assert exprs["Firing alerts by team"].startswith("count by (team)")
    table = _panel(dashboard, "Firing alerts")
    assert table["type"] == "table" and table["targets"][0]["format"] == "table"
    assert [link["url"] for link in dashboard["links"]] == [
        "http://grafana.example/d/promfleet-system",
        "http://grafana.example/d/promfleet-database",
    ]


def test_dashboards_follow_the_grafana_conventions(rendered: dict[str, Any]) -> None:
    for dashboard in rendered.values():
        assert dashboard["schemaVersion"] == 39
        assert dashboard["editable"] is False
        assert "id" not in dashboard and "rows" not in dashboard
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert names == ["datasource", "job", "instance"]
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["type"] in ("timeseries", "stat", "gauge", "table")


def test_provisioning_names_the_fixed_datasource_uid_and_an_overridable_url() -> None:
    import yaml

    out = grafana.render(small_catalogue(), SETTINGS)
    datasource = yaml.safe_load(out["grafana/provisioning/datasources/prometheus.yaml"])
    (entry,) = datasource["datasources"]
    assert entry["uid"] == "promfleet-prometheus"
    assert entry["url"] == "${PROMFLEET_PROMETHEUS_URL}"
    provider = yaml.safe_load(out["grafana/provisioning/dashboards/promfleet.yaml"])
    (prov,) = provider["providers"]
    assert prov["type"] == "file"
    assert prov["options"]["path"].endswith("/dashboards")


def test_rendering_twice_gives_the_same_bytes() -> None:
    assert grafana.render(small_catalogue(), SETTINGS) == grafana.render(
        small_catalogue(), SETTINGS
    )


# The linter on deliberately bad dashboards: every rule is able to fail -----------------

GOOD_EXPR = 'rate(x_total{job=~"$job",instance=~"$instance"}[$__rate_interval])'


def _set_expr(expr: str) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d["panels"][0]["targets"][0]["expr"] = expr

    return mutate


def _drop_var(name: str) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != name]

    return mutate


def _var(name: str, key: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        next(v for v in d["templating"]["list"] if v["name"] == name)[key] = value

    return mutate


def _panel_set(key: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d["panels"][0][key] = value

    return mutate


def _defaults_set(key: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d["panels"][0]["fieldConfig"]["defaults"][key] = value

    return mutate


def _top_set(key: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d[key] = value

    return mutate


def _duplicate_panel_id(d: dict[str, Any]) -> None:
    d["panels"][1]["id"] = d["panels"][0]["id"]


def _target_without_refid(d: dict[str, Any]) -> None:
    del d["panels"][0]["targets"][0]["refId"]


BAD_DASHBOARDS = [
    ("template-datasource-rule", _drop_var("datasource")),
    ("template-job-rule", _drop_var("job")),
    ("template-instance-rule", _drop_var("instance")),
    ("template-job-rule", _var("job", "datasource", {"type": "prometheus", "uid": "fixed"})),
    ("template-instance-rule", _var("instance", "allValue", None)),
    ("template-label-promql-rule", _var("instance", "query", "label_values(up{job=~, instance)")),
    ("panel-datasource-rule", _panel_set("datasource", {"type": "prometheus", "uid": "abc"})),
    ("panel-title-description-rule", _panel_set("description", "")),
    ("panel-title-description-rule", _panel_set("title", " ")),
    ("panel-units-rule", _defaults_set("unit", "percentage")),
    ("panel-no-targets-rule", _panel_set("targets", [])),
    ("panel-type-rule", _panel_set("type", "graph")),
    ("panel-type-rule", _panel_set("type", "row")),
    ("panel-grid-rule", _panel_set("gridPos", {"h": 8, "w": 12, "x": 18, "y": 0})),
    (
        "panel-thresholds-rule",
        _defaults_set("thresholds", {"mode": "absolute", "steps": [{"color": "red", "value": 3}]}),
    ),
    (
        "panel-thresholds-rule",
        _defaults_set(
            "thresholds",
            {
                "mode": "absolute",
                "steps": [
                    {"color": "g", "value": None},
                    {"color": "r", "value": 3},
                    {"color": "o", "value": 1},
                ],
            },
        ),
    ),
    ("panel-id-rule", _duplicate_panel_id),
    ("target-refid-rule", _target_without_refid),
    ("target-promql-rule", _set_expr("sum(rate(x_total[5m]")),
    ("target-promql-rule", _set_expr("")),
    ("target-rate-interval-rule", _set_expr(GOOD_EXPR.replace("$__rate_interval", "5m"))),
    (
        "target-rate-interval-rule",
        _set_expr(GOOD_EXPR.replace("rate(", "irate(").replace("$__rate_interval", "1m")),
    ),
    ("target-job-rule", _set_expr(GOOD_EXPR.replace('job=~"$job",', ""))),
    ("target-job-rule", _set_expr(GOOD_EXPR.replace('job=~"$job"', 'job="system"'))),
    ("target-instance-rule", _set_expr(GOOD_EXPR.replace(',instance=~"$instance"', ""))),
    ("target-counter-agg-rule", _set_expr('x_total{job=~"$job",instance=~"$instance"}')),
    (
        "target-counter-agg-rule",
        _set_expr('sum_over_time(x_total{job=~"$job",instance=~"$instance"}[$__rate_interval])'),
    ),
    ("dashboard-id-rule", _top_set("id", 7)),
    ("dashboard-rows-rule", _top_set("rows", [])),
    ("dashboard-schema-version-rule", _top_set("schemaVersion", 27)),
    ("uneditable-rule", _top_set("editable", True)),
    ("dashboard-refresh-rule", _top_set("refresh", 30)),
    ("dashboard-uid-rule", _top_set("uid", "x" * 41)),
    ("dashboard-title-rule", _top_set("title", "")),
    ("dashboard-panels-rule", _top_set("panels", [])),
    ("schema", _panel_set("colour", "red")),
]


@pytest.mark.parametrize(
    ("rule", "mutate"), BAD_DASHBOARDS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_DASHBOARDS)]
)
def test_the_linter_rejects_a_dashboard_that_breaks_a_rule(
    rendered: dict[str, Any], schema: dict[str, Any], rule: str, mutate: Any
) -> None:
    bad = copy.deepcopy(rendered["grafana/dashboards/system.json"])
    mutate(bad)
    report = lint.lint_dashboards({"bad.json": bad}, schema)
    assert any(problem.startswith(f"{rule}:") for problem in report.get("bad.json", [])), report


def test_duplicate_uids_and_titles_are_refused(rendered: dict[str, Any]) -> None:
    first = rendered["grafana/dashboards/system.json"]
    report = lint.lint_dashboards({"a.json": first, "b.json": copy.deepcopy(first)})
    assert any(p.startswith("duplicate-uid-rule:") for p in report["b.json"])
    assert any(p.startswith("duplicate-title-rule:") for p in report["b.json"])
    assert "a.json" not in report


@pytest.mark.parametrize(
    "expr",
    [
        GOOD_EXPR,
        GOOD_EXPR.replace("$__rate_interval", "${__rate_interval}"),
        f"sum by (instance) (increase({GOOD_EXPR[5:-1]}))",
        "histogram_quantile(0.99, sum by (le) "
        '(rate(h_bucket{job=~"$job",instance=~"$instance"}[$__rate_interval])))',
        'up{job=~"$job",instance=~"$instance"} == 0',
    ],
)
def test_the_linter_accepts_well_formed_queries(expr: str) -> None:
    assert lint.lint_query(expr) == []


def test_variables_outside_strings_do_not_hide_a_parse_error() -> None:
    assert lint.lint_query('rate(x_total{job=~"$job",instance=~"$instance"}[$window])')
