"""An area split across several dashboards: placement of panels, uids, the links that rules,
runbooks and dashboards carry, and the validation of the declared keys."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint
from generator.catalogue import load
from generator.model import (
    AlertTest,
    Area,
    Catalogue,
    Level,
    Panel,
    Receiver,
    Route,
    RoutingPolicy,
    Runbook,
    Settings,
    Severity,
    SeverityPolicy,
    Team,
    Threshold,
    dashboard_uid,
    dashboard_url,
)
from generator.model import TestSeries as Series
from generator.render import grafana, rules, runbooks
from generator.validate import problems

SEL = 'job=~"$job",instance=~"$instance"'
SETTINGS = Settings(
    runbook_base_url="https://runbooks.example/rb", dashboard_base_url="http://grafana.example/d"
)
DASHBOARDS = "grafana/dashboards"


def _threshold(name: str, metric: str, dashboard: str = "") -> Threshold:
    series = (Series(f'{metric}{{instance="h:9101",job="system"}}', "9x10"),)
    test = AlertTest(firing=series, quiet=series, labels=(("instance", "h:9101"),), value=9)
    return Threshold(
        name=name,
        signal=metric,
        op=">",
        levels=(Level(Severity.WARNING, 5, 300, 3600, test),),
        team=Team.OPS,
        summary=f"{name} on {{{{ $labels.instance }}}}",
        description="The value is {{ $value }}.",
        runbook=Runbook(
            meaning="Something is high.",
            impact="Things slow down.",
            diagnosis=(f"Look: `{metric}`",),
            mitigation=("Lower it.",),
            escalation="Page the ops lead after 30 minutes.",
        ),
        panel=Panel(
            title=f"{name} panel",
            expr=f"{metric}{{{SEL}}}",
            unit="short",
            description=f"The signal of {name}.",
            dashboard=dashboard,
        ),
    )


def _extra(title: str, metric: str, dashboard: str = "") -> Panel:
    return Panel(
        title=title,
        expr=f"{metric}{{{SEL}}}",
        unit="short",
        description=f"{title}, beside the alerts.",
        dashboard=dashboard,
    )


def split_catalogue() -> Catalogue:
    """``host`` splits across main, ``disks`` and ``network``; ``plain`` keeps one dashboard."""
    host = Area(
        name="host",
        title="Host",
        description="Hosts, split by subsystem.",
        recording_rules=(),
        thresholds=(
            _threshold("HostLoadHigh", "promfleet_system_load1"),
            _threshold("HostDiskBusy", "promfleet_system_load5", "disks"),
            _threshold("HostNetworkBusy", "promfleet_system_load15", "network"),
            _threshold("HostThreadsHigh", "promfleet_system_threads", "disks"),
        ),
        panels=(
            _extra("Boot time", "promfleet_system_boot_time_seconds"),
            _extra("Open files", "promfleet_system_filefd_allocated", "network"),
        ),
        dashboards=(("disks", "Disks"), ("network", "Network")),
    )
    plain = Area(
        name="plain",
        title="Plain",
        description="One dashboard, as before.",
        recording_rules=(),
        thresholds=(_threshold("PlainHigh", "promfleet_system_filefd_maximum"),),
    )
    routing = RoutingPolicy(
        receivers=(Receiver("ops-pager", "webhook", (("url", "http://127.0.0.1:1/"),)),),
        routes=(Route(Team.OPS, Severity.WARNING, ("ops-pager",)),),
        severities=(SeverityPolicy(Severity.WARNING, 0, 60),),
        default_receiver="ops-pager",
        deadmans_switch_receiver="ops-pager",
        # Its alerts' test series carry no job label; the real policy's equal has it.
        inhibit_equal=("alertname", "instance"),
    )
    return Catalogue(areas=(host, plain), routing=routing)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return split_catalogue()


@pytest.fixture(scope="module")
def dashboards(catalogue: Catalogue) -> dict[str, Any]:
    out = grafana.render(catalogue, SETTINGS)
    return {
        path.removeprefix(f"{DASHBOARDS}/"): json.loads(text)
        for path, text in out.items()
        if path.startswith(DASHBOARDS)
    }


def _titles(dashboard: dict[str, Any]) -> list[str]:
    return [p["title"] for p in dashboard["panels"]]


def _link_urls(dashboard: dict[str, Any]) -> list[str]:
    return [link["url"] for link in dashboard["links"]]


def test_the_split_catalogue_is_valid() -> None:
    found = problems(split_catalogue(), None)
    # The small routing policy (no watchdog, no info digest) is not what this file tests.
    assert [p for p in found if not p.startswith("routing")] == []


def test_a_split_area_yields_one_dashboard_per_key_with_the_uid_promfleet_area_key(
    dashboards: dict[str, Any],
) -> None:
    assert sorted(dashboards) == [
        "alerts.json",
        "host-disks.json",
        "host-network.json",
        "host.json",
        "plain.json",
    ]
    assert {name: d["uid"] for name, d in dashboards.items()} == {
        "alerts.json": "promfleet-alerts",
        "host-disks.json": "promfleet-host-disks",
        "host-network.json": "promfleet-host-network",
        "host.json": "promfleet-host",
        "plain.json": "promfleet-plain",
    }
    assert dashboards["host-disks.json"]["title"] == "promfleet / Host / Disks"
    assert dashboards["host.json"]["title"] == "promfleet / Host"
    assert dashboards["host-network.json"]["tags"] == ["promfleet", "host", "network"]


def test_each_dashboard_holds_exactly_the_panels_placed_on_it_alerts_first(
    dashboards: dict[str, Any],
) -> None:
    assert _titles(dashboards["host.json"]) == ["HostLoadHigh panel", "Boot time"]
    assert _titles(dashboards["host-disks.json"]) == ["HostDiskBusy panel", "HostThreadsHigh panel"]
    assert _titles(dashboards["host-network.json"]) == ["HostNetworkBusy panel", "Open files"]
    for name in ("host.json", "host-disks.json", "host-network.json"):
        panels = dashboards[name]["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1)), name
    busy = dashboards["host-disks.json"]["panels"][0]
    assert busy["links"][0]["url"] == "https://runbooks.example/rb/HostDiskBusy.md"
    assert [s["value"] for s in busy["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        None,
        math.nextafter(5, math.inf),  # ``> 5``: 5 itself stays green
    ]


def test_split_dashboards_link_the_overview_and_each_other(dashboards: dict[str, Any]) -> None:
    base = "http://grafana.example/d/"
    assert _link_urls(dashboards["host-disks.json"]) == [
        f"{base}promfleet-alerts",
        f"{base}promfleet-host",
        f"{base}promfleet-host-network",
    ]
    assert _link_urls(dashboards["plain.json"]) == [f"{base}promfleet-alerts"]
    assert _link_urls(dashboards["alerts.json"]) == [
        f"{base}promfleet-host",
        f"{base}promfleet-host-disks",
        f"{base}promfleet-host-network",
        f"{base}promfleet-plain",
    ]
    assert [link["title"] for link in dashboards["alerts.json"]["links"]][:3] == [
        "Host",
        "Host / Disks",
        "Host / Network",
    ]


def test_split_dashboards_are_lint_clean_and_schema_valid(dashboards: dict[str, Any]) -> None:
    assert lint.lint_dashboards(dashboards, lint.load_schema()) == {}


def test_each_alerts_dashboard_url_names_the_dashboard_holding_its_panel(
    catalogue: Catalogue, dashboards: dict[str, Any]
) -> None:
    by_uid = {d["uid"]: d for d in dashboards.values()}
    text = rules.render(catalogue, SETTINGS)["rules/host.rules.yml"]
    alerts = [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]
    urls = {r["alert"]: r["annotations"]["dashboard_url"] for r in alerts}
    # The test series carry only ``instance``: only that variable is selected.
    query = "?var-instance={{ $labels.instance }}"
    assert urls == {
        "HostLoadHigh": f"http://grafana.example/d/promfleet-host{query}",
        "HostDiskBusy": f"http://grafana.example/d/promfleet-host-disks{query}",
        "HostNetworkBusy": f"http://grafana.example/d/promfleet-host-network{query}",
        "HostThreadsHigh": f"http://grafana.example/d/promfleet-host-disks{query}",
    }
    for alert, url in urls.items():
        uid = url.split("?", 1)[0].rsplit("/", 1)[1]
        assert f"{alert} panel" in _titles(by_uid[uid]), alert


def test_runbooks_link_the_dashboard_holding_their_panel_by_its_title(
    catalogue: Catalogue,
) -> None:
    out = runbooks.render(catalogue, SETTINGS)
    busy = out["runbooks/HostNetworkBusy.md"]
    url = dashboard_url(SETTINGS, "host", "network")
    assert f"| Dashboard | [promfleet-host-network]({url}) |" in busy
    assert f"on [Host / Network]({url})" in busy
    load_text = out["runbooks/HostLoadHigh.md"]
    assert f"on [Host]({dashboard_url(SETTINGS, 'host')})" in load_text


def _tree(root: Path, catalogue: Catalogue) -> None:
    files = {
        **grafana.render(catalogue, SETTINGS),
        **runbooks.render(catalogue, SETTINGS),
        **rules.render(catalogue, SETTINGS),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_link_to_the_new_uids_resolves_and_a_missing_one_is_named(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    _tree(tmp_path, catalogue)
    names = [t.name for _, t in catalogue.thresholds()]
    assert lint.check_links(tmp_path, SETTINGS, names).problems == ()
    (tmp_path / DASHBOARDS / "host-network.json").unlink()
    report = lint.check_links(tmp_path, SETTINGS, names)
    missing = [p for p in report.problems if "names no dashboard uid 'promfleet-host-network'" in p]
    where = {p.split(":", 1)[0] for p in missing}
    # the rule annotation, the runbook, the overview and the two sibling dashboards
    assert "rules" in where
    assert "runbooks/HostNetworkBusy.md" in where
    assert {f"{DASHBOARDS}/alerts.json", f"{DASHBOARDS}/host.json"} <= where


def test_dashboard_links_may_select_variables_but_only_ones_the_dashboard_has(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    _tree(tmp_path, catalogue)
    rule_file = tmp_path / "rules" / "host.rules.yml"
    text = rule_file.read_text(encoding="utf-8")
    selected = "promfleet-host-disks?var-instance={{ $labels.instance }}"
    assert selected in text  # the generated links select the alert's instance, and resolve
    assert lint.check_links(tmp_path, SETTINGS).problems == ()
    rule_file.write_text(
        text.replace(selected, "promfleet-host-disks?var-node={{ $labels.instance }}&panel=2"),
        encoding="utf-8",
    )
    problems = lint.check_links(tmp_path, SETTINGS).problems
    assert any("sets var-node, but dashboard 'promfleet-host-disks' has no variable" in p
               for p in problems), problems  # fmt: skip
    assert any("has an unknown parameter 'panel'" in p for p in problems), problems


def test_an_unsplit_area_keeps_its_single_dashboard_uid_and_links() -> None:
    area = split_catalogue().areas[1]
    assert area.dashboard_keys() == ("",)
    assert dashboard_uid(area.name) == "promfleet-plain"
    dashboard = grafana.area_dashboard(area, SETTINGS)
    assert dashboard["uid"] == "promfleet-plain"
    assert dashboard["title"] == "promfleet / Plain"


# Validation ------------------------------------------------------------------------------


def _with(area: Area) -> str:
    real = split_catalogue()
    return "\n".join(problems(dataclasses.replace(real, areas=(area, real.areas[1])), None))


def _host(**changes: Any) -> Area:
    return dataclasses.replace(split_catalogue().areas[0], **changes)


def _moved(threshold: Threshold, dashboard: str) -> Threshold:
    return dataclasses.replace(
        threshold, panel=dataclasses.replace(threshold.panel, dashboard=dashboard)
    )


def test_a_panel_naming_an_undeclared_dashboard_is_refused() -> None:
    host = _host()
    text = _with(_host(thresholds=(*host.thresholds[:3], _moved(host.thresholds[3], "disk"))))
    assert "alert HostThreadsHigh panel: panel names dashboard 'disk'" in text
    assert "does not declare" in text
    extra = _with(_host(panels=(_extra("Stray", "promfleet_system_threads", "cpu"),)))
    assert "panel 'Stray': panel names dashboard 'cpu'" in extra


def test_a_uid_over_40_characters_is_refused() -> None:
    host = _host()
    key = "a-very-long-dashboard-key-name"
    text = _with(
        _host(
            thresholds=(*host.thresholds[:3], _moved(host.thresholds[3], key)),
            dashboards=(*host.dashboards, (key, "Long")),
        )
    )
    assert f"dashboard uid 'promfleet-host-{key}' is longer than 40 characters" in text
    assert len(f"promfleet-host-{key}") == 45


def test_duplicate_bad_and_empty_dashboard_keys_are_each_named() -> None:
    host = _host()
    text = _with(
        _host(
            dashboards=(*host.dashboards, ("disks", "Disks again"), ("Bad Key", "Bad"), ("x", ""))
        )
    )
    assert "dashboard 'disks' declared 2 times" in text
    assert "dashboard key 'Bad Key' must be lowercase words joined by '-'" in text
    assert "dashboard 'x' needs a title" in text
    assert "dashboard 'x' holds no panel" in text


def test_a_split_area_whose_main_dashboard_holds_nothing_is_refused() -> None:
    host = _host()
    text = _with(
        _host(
            thresholds=(_moved(host.thresholds[0], "disks"), *host.thresholds[1:]),
            panels=(_extra("Boot time", "promfleet_system_boot_time_seconds", "network"),),
        )
    )
    assert "the main dashboard holds no panel" in text


def test_the_real_catalogue_passes_the_dashboard_checks_with_its_split_application_area() -> None:
    real = load()
    assert problems(real, None) == []
    (application,) = [a for a in real.areas if a.name == "application"]
    assert application.dashboard_keys() == ("", "jobs", "integrations", "business", "status")
