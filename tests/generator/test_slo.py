"""SLOs as code: the catalogue's SLO entries, their validation, and what is generated from
them (rules, promtool tests that can fail, routing, dashboards, runbooks).

The generated promtool tests themselves are run by ``tests/generator/test_rules.py`` with
every other generated test; here they are run against rules broken on purpose (a factor
moved, the guard, the short window or the absent alert removed) to prove they catch it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.__main__ import main
from generator.catalogue import load
from generator.catalogue.application._slos import APP_AVAILABILITY, PROBE_AVAILABILITY
from generator.lint import lint_dashboard
from generator.model import (
    BURN_TIERS,
    SLO,
    Area,
    Catalogue,
    ErrorRatioSLI,
    Settings,
)
from generator.render import _slo, runbooks, slo_dashboards, slo_rules, slo_runbooks, slo_tests
from generator.render.alertmanager import inhibit_rules
from generator.render.prometheus import rule_files_for
from generator.settings import SettingsError, load_settings
from generator.validate import CatalogueError, known_metrics_from_exporters, problems, validate

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


def with_slo(slo: SLO, catalogue: Catalogue | None = None) -> Catalogue:
    """The real catalogue with the application area's first SLO replaced by ``slo``."""
    catalogue = catalogue or load()
    areas = []
    for area in catalogue.areas:
        if area.name == "application":
            area = dataclasses.replace(area, slos=(slo, *area.slos[1:]))
        areas.append(area)
    return dataclasses.replace(catalogue, areas=tuple(areas))


def slo_problems(slo: SLO, settings: Settings | None = None) -> list[str]:
    return [
        p
        for p in problems(with_slo(slo), known_metrics_from_exporters(), settings)
        if p.startswith(f"slo {slo.slo}:")
    ]


def application(catalogue: Catalogue) -> Area:
    return next(a for a in catalogue.areas if a.name == "application")


# -- the model -------------------------------------------------------------------------


def test_the_workbook_factors_come_from_a_30_day_period() -> None:
    factors = [tier.factor(30 * 86400) for tier in BURN_TIERS]
    assert factors == pytest.approx([14.4, 6, 3, 1])


def test_each_factor_is_derived_from_the_period_not_written_for_30_days() -> None:
    slo = dataclasses.replace(APP_AVAILABILITY, period_seconds=7 * 86400)
    plans = _slo.tier_plans(slo, Settings())
    assert [p.factor for p in plans] == pytest.approx([0.02 * 168, 0.05 * 28, 0.1 * 7, 0.1 * 7 / 3])
    page = next(r for r in _slo.alerting_rules(application(load()), slo, Settings())
                if r["labels"] and dict(r["labels"]).get("slo_window") == "1h")
    assert "> 0.00336\n" in page["expr"]  # 3.36 x the 0.1 % budget


def test_the_real_catalogue_has_the_seeds_slos_and_validates() -> None:
    catalogue = validate(load())
    slos = {slo.slo: slo for area in catalogue.areas for slo in area.slos}
    assert set(slos) == {"app-availability", "app-latency", "probe-availability",
                         "alert-notifications"}
    assert slos["probe-availability"].by == ("job", "target")


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize("objective", [0, 100, 100.5, -1])
def test_an_objective_outside_0_100_is_refused(objective: float) -> None:
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, objective_percent=objective))
    assert any("outside (0, 100)" in p for p in found), found


def test_an_sli_metric_no_exporter_declares_is_refused() -> None:
    sli = ErrorRatioSLI(bad='promfleet_app_http_failures_total{job="app"}',
                        total='promfleet_app_http_requests_total{job="app"}')
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, sli=sli))
    assert found == [
        "slo app-availability: SLI bad metric promfleet_app_http_failures_total is not "
        "declared by any exporter or listed as external by area application"
    ]


def test_a_recording_rule_is_no_sli() -> None:
    sli = ErrorRatioSLI(bad='instance:promfleet_app_http_errors:ratio_rate5m{job="app"}',
                        total='promfleet_app_http_requests_total{job="app"}')
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, sli=sli))
    assert any("instance:promfleet_app_http_errors:ratio_rate5m is not declared" in p
               for p in found), found


def test_a_period_shorter_than_the_longest_window_is_refused() -> None:
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, period_seconds=2 * 86400))
    assert any("period 172800 s is shorter than its longest window (259200 s)" in p
               for p in found), found
    # Turning the 3-day tier off makes a 2-day period fine.
    ok = dataclasses.replace(APP_AVAILABILITY, period_seconds=2 * 86400,
                             disabled_tiers=("ticket-3d",))
    assert slo_problems(ok) == []


def test_any_period_is_accepted_that_holds_the_windows() -> None:
    for days in (7, 28, 90):
        slo = dataclasses.replace(APP_AVAILABILITY, period_seconds=days * 86400)
        assert slo_problems(slo) == []


def test_a_tier_that_could_never_fire_and_an_unknown_tier_are_refused() -> None:
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, objective_percent=90,
                                             disabled_tiers=("page-2h",)))
    assert any("tier page-1h: it fires above a bad share of 1.44, which can never be" in p
               for p in found), found
    assert any("disabled tier 'page-2h' is not one of its tiers" in p for p in found), found


def test_a_selector_without_job_and_a_superseded_alert_that_does_not_exist_are_refused() -> None:
    runbook = dataclasses.replace(APP_AVAILABILITY.runbook,
                                  supersedes=(("AppNoSuchAlert", "kept: why"),
                                              ("AppHighErrorRate", "because")))
    sli = ErrorRatioSLI(bad='promfleet_app_http_requests_total{status="5xx"}',
                        total='promfleet_app_http_requests_total{job="app"}')
    found = slo_problems(dataclasses.replace(APP_AVAILABILITY, runbook=runbook, sli=sli))
    assert any("needs a job=" in p for p in found), found
    assert any("supersedes AppNoSuchAlert, which is no alert" in p for p in found), found
    assert any("supersedes AppHighErrorRate: say 'kept: why' or 'retired: why'" in p
               for p in found), found


def test_validate_raises_naming_every_slo_problem() -> None:
    bad = dataclasses.replace(APP_AVAILABILITY, objective_percent=100, period_seconds=3600)
    with pytest.raises(CatalogueError) as err:
        validate(with_slo(bad))
    text = str(err.value)
    assert "slo app-availability: objective 100 % is outside (0, 100)" in text
    assert "slo app-availability: period 3600 s is shorter than its longest window" in text


def test_a_bad_window_divisor_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="slo_window_divisor: expected a whole number"):
        load_settings(pairs=["slo_window_divisor=0"])
    # Compressed so far that the short window spans under four scrapes: refused.
    settings = load_settings(pairs=["slo_window_divisor=600"])
    assert any("spans under 4 scrape intervals" in p for p in slo_problems(APP_AVAILABILITY,
                                                                            settings))


# -- rules -----------------------------------------------------------------------------


def _rules(slo: SLO, settings: Settings | None = None) -> list[dict[str, Any]]:
    area = application(load())
    return _slo.rule_group(area, slo, settings or Settings())["rules"]


def test_each_window_ratio_is_recorded_once_and_read_by_the_burn_rates_and_alerts() -> None:
    rules = _rules(APP_AVAILABILITY)
    records = [r["record"] for r in rules if "record" in r]
    assert len(records) == len(set(records))
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"slo:sli_error:ratio_rate{window}" in records
    # The raw counters are read by windows up to 6h only: the long windows' and the
    # short windows' own rates, and a short window's ratio in one rule.
    raw = [r["record"] for r in rules if "record" in r and "promfleet_app" in r["expr"]]
    assert sorted(raw) == sorted([
        "slo:sli_events:rate1h", "slo:sli_bad:rate1h", "slo:sli_events:rate6h",
        "slo:sli_bad:rate6h", "slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m",
        "slo:sli_error:ratio_rate2h"])
    assert all(re.match(r"^slo:sli_(events|bad|error):(rate|ratio_rate)(5m|30m|1h|2h|6h)$", r)
               for r in raw), raw
    long_window = next(r for r in rules if r.get("record") == "slo:sli_bad:rate3d")
    assert long_window["expr"] == (
        'avg_over_time(slo:sli_bad:hourly_rate1h{slo="app-availability"}[3d])'
    )
    # The hourly samples come from a group evaluated once an hour.
    hourly = _slo.hourly_group(APP_AVAILABILITY, Settings())
    assert hourly["interval"] == "1h"
    assert [r["expr"] for r in hourly["rules"]] == [
        'slo:sli_events:rate1h{slo="app-availability"}',
        'slo:sli_bad:rate1h{slo="app-availability"}',
    ]
    alerts = [r for r in rules if "alert" in r]
    assert all("promfleet_app" not in r["expr"] for r in alerts if "slo_tier" in dict(r["labels"]))


def test_a_tier_turned_off_has_no_alert_and_its_windows_are_not_recorded() -> None:
    slo = dataclasses.replace(APP_AVAILABILITY, disabled_tiers=("ticket-3d", "ticket-1d"))
    rules = _rules(slo)
    windows = {dict(r["labels"]).get("slo_window") for r in rules if "alert" in r}
    assert windows == {"1h", "6h", None}  # None: the absent alert
    records = {r["record"] for r in rules if "record" in r}
    assert "slo:sli_error:ratio_rate3d" not in records
    assert "slo:sli_error:ratio_rate2h" not in records


def test_the_tier_alert_carries_its_tier_label_and_a_minimum_traffic_guard() -> None:
    page = next(r for r in _rules(APP_AVAILABILITY) if "alert" in r)
    labels = dict(page["labels"])
    assert labels["slo_tier"] == "page" and labels["severity"] == "critical"
    assert labels["slo_window"] == "1h" and labels["slo"] == "app-availability"
    # 5 bad events at 14.4 x 0.1 %: 347 requests in the hour.
    assert page["expr"].endswith('slo:sli_events:rate1h{slo="app-availability"} >= 0.0964506')


def test_the_settings_compress_the_ranges_and_keep_the_names() -> None:
    settings = load_settings(pairs=["slo_window_divisor=60", "scrape_interval=1s"])
    rules = {r.get("record"): r for r in _rules(APP_AVAILABILITY, settings)}
    assert "[5s]" in rules["slo:sli_error:ratio_rate5m"]["expr"]
    assert "[1h12m]" in rules["slo:sli_bad:rate3d"]["expr"]
    assert "[12h]" in rules["slo:sli_error:ratio_period"]["expr"]
    assert _slo.hourly_group(APP_AVAILABILITY, settings)["interval"] == "1m"


def test_every_slo_rule_file_is_loaded_by_prometheus() -> None:
    catalogue = load()
    files = rule_files_for(catalogue, "/rules")
    for area in catalogue.areas:
        for slo in area.slos:
            assert f"/rules/slo-{slo.slo}.rules.yml" in files
    rendered = slo_rules.render(catalogue, Settings())
    assert {f"/{path}" for path in rendered} <= set(files)


# -- generated promtool tests, broken rules ----------------------------------------------


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    assert main(["--out", str(root)]) == 0
    return root


def _only_tier(out: Path, tmp: Path, slo: str, tier: str) -> Path:
    """A copy of the generated rules whose test file keeps one tier's five groups."""
    shutil.copytree(out / "rules", tmp / "rules")
    path = tmp / "rules" / "tests" / f"slo-{slo}.test.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["tests"] = [t for t in doc["tests"] if f" {tier}: " in t["name"]]
    assert len(doc["tests"]) == 5
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _break(tmp: Path, slo: str, old: str, new: str) -> None:
    path = tmp / "rules" / f"slo-{slo}.rules.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    changed = 0
    for rule in doc["groups"][0]["rules"]:
        if old in rule["expr"]:
            rule["expr"] = rule["expr"].replace(old, new)
            changed += 1
    assert changed, f"{old!r} not found"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def _promtool_test(tmp: Path, test: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", str(test.relative_to(tmp))], cwd=tmp,
                          capture_output=True, text=True, timeout=300, check=False)


@needs_promtool
def test_one_tiers_generated_tests_pass_on_the_generated_rules(out: Path, tmp_path: Path) -> None:
    test = _only_tier(out, tmp_path, "app-availability", "page-1h")
    result = _promtool_test(tmp_path, test)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize(
    ("slo", "tier", "old", "new", "failing"),
    [
        # The page factor raised: a burn at the real factor no longer fires it.
        ("app-availability", "page-1h", "> 0.0144\n", "> 0.016\n", "a burn at 1.05x"),
        # The factor lowered: a burn just under it fires.
        ("app-availability", "page-1h", "> 0.0144\n", "> 0.013\n", "a burn at 0.95x"),
        # No minimum-traffic guard: a handful of requests pages.
        ("app-availability", "page-1h", '>= 0.0964506', ">= 0", "too little traffic"),
        # No short window: the alert stays firing long after the burn stopped.
        ("app-availability", "page-1h",
         '\nand slo:sli_error:ratio_rate5m{slo="app-availability"} > 0.0144', "",
         "the alert resolves"),
        # The absent alert that never fires.
        ("probe-availability", "ticket-3d", 'absent(promfleet_probe_success{job="probe"})',
         'absent(promfleet_probe_success{job="probe"}) > 1', "no SLI series"),
    ],
)
def test_a_broken_rule_makes_the_generated_tests_fail(
    out: Path, tmp_path: Path, slo: str, tier: str, old: str, new: str, failing: str
) -> None:
    test = _only_tier(out, tmp_path, slo, tier)
    _break(tmp_path, slo, old, new)
    result = _promtool_test(tmp_path, test)
    assert result.returncode != 0, result.stdout
    doc = yaml.safe_load(test.read_text(encoding="utf-8"))
    names = [t["name"] for t in doc["tests"] if failing in t["name"]]
    assert names, failing


def test_every_tier_of_every_slo_has_its_five_generated_groups() -> None:
    catalogue = load()
    rendered = slo_tests.render(catalogue, Settings())
    for area in catalogue.areas:
        for slo in area.slos:
            doc = yaml.safe_load(rendered[f"rules/tests/slo-{slo.slo}.test.yml"])
            names = [t["name"] for t in doc["tests"]]
            for tier in slo.enabled_tiers:
                mine = [n for n in names if f"{slo.burn_alert} {tier.name}: " in n]
                assert len(mine) == 5, mine
                assert any("fires it" in n for n in mine)
                assert any("just" not in n and "stays silent" in n for n in mine)
                assert any("resolves" in n for n in mine)
                assert any("too little traffic" in n for n in mine)
                assert any(slo.absent_alert in n for n in mine)


# -- routing, dashboards, runbooks -----------------------------------------------------


def test_a_page_tier_inhibits_the_ticket_tiers_of_its_own_slo_only() -> None:
    rules = inhibit_rules(load())
    rule = next(r for r in rules if r["source"] == ('slo_tier="page"',))
    assert rule["target"] == ('slo_tier="ticket"',)
    assert rule["equal"] == ("slo", "job", "target")


def test_the_dashboard_draws_the_objective_and_every_tiers_factor() -> None:
    catalogue = load()
    area = application(catalogue)
    dashboard = slo_dashboards.area_dashboard(area, Settings())
    assert lint_dashboard(dashboard) == []
    assert dashboard["uid"] == "promfleet-application-slo"
    panels = {p["title"]: p for p in dashboard["panels"]}
    burn = panels["App availability: burn rate per window"]
    steps = [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, 1, 3, 6, 14.4]
    assert len(burn["targets"]) == 7
    sli = panels["App availability (99.9 % over 30d): SLI over 30d"]
    assert sli["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.999
    assert sli["targets"][0]["expr"] == (
        '1 - slo:sli_error:ratio_period{slo="app-availability",job=~"$job",instance=~"$instance"}'
    )
    assert any(t == f"{PROBE_AVAILABILITY.title}: error budget left over 30d" for t in panels)
    rendered = slo_dashboards.render(catalogue, Settings())
    assert json.loads(rendered["grafana/dashboards/application-slo.json"]) == dashboard


def test_the_burn_runbook_says_how_long_the_budget_lasts_at_each_tier() -> None:
    catalogue = load()
    area = application(catalogue)
    text = slo_runbooks.burn_runbook(area, APP_AVAILABILITY, Settings())
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation", "## Escalation"):
        assert section in text
    # 30 days at 14.4x: 2 days 2 hours; at 6x: 5 days; at 3x: 10 days; at 1x: 30 days.
    for line, gone in (("page-1h", "2d2h"), ("page-6h", "5d"), ("ticket-1d", "10d"),
                       ("ticket-3d", "30d")):
        row = next(r for r in text.splitlines() if r.startswith(f"| {line} "))
        assert row.endswith(f"| {gone} |"), row
    assert "[AppHighErrorRate](AppHighErrorRate.md): kept:" in text
    rendered = slo_runbooks.render(catalogue, Settings())
    for a in catalogue.areas:
        for slo in a.slos:
            assert f"runbooks/{slo.burn_alert}.md" in rendered
            assert f"runbooks/{slo.absent_alert}.md" in rendered


def test_a_static_alert_an_slo_overlaps_names_that_slo_and_the_decision_in_its_runbook() -> None:
    catalogue = load()
    pages = runbooks.render(catalogue, Settings())
    overlapped: dict[str, list[tuple[SLO, str]]] = {}
    for area in catalogue.areas:
        for slo in area.slos:
            for alert, decision in slo.runbook.supersedes:
                overlapped.setdefault(alert, []).append((slo, decision))
    assert overlapped, "the seeds' SLOs overlap some static alerts"
    for _, threshold in catalogue.thresholds():
        text = pages[f"runbooks/{threshold.name}.md"]
        if threshold.name not in overlapped:
            assert "## SLOs that overlap this alert" not in text, threshold.name
            continue
        section = text.split("## SLOs that overlap this alert", 1)[1].split("\n## ", 1)[0]
        flat = " ".join(section.split())
        for slo, decision in overlapped[threshold.name]:
            assert f"SLO `{slo.slo}`" in flat
            assert f"[{slo.burn_alert}]({slo.burn_alert}.md)" in flat
            assert " ".join(decision.split()) in flat
