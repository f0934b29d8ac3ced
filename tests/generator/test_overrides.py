"""A team's overrides laid over the catalogue (``--overrides FILE``, ``--set alert...``):
every output follows, per-target thresholds split the targets exactly (promtool proves
it, and that the proof can fail), and a bad override is refused by file and line with
nothing written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint
from generator.__main__ import main
from generator.catalogue import load
from generator.overrides import (
    OverrideError,
    aggregated_away,
    overlay,
    read_overrides,
    with_matchers,
)
from tests.helpers import REPO_ROOT

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


def readme_example() -> str:
    """The first YAML block of the README's "Make it yours" section."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Make it yours", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found, "the README's Make it yours section has no YAML example"
    return found.group(1)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("overridden")
    file = root / "ours.yml"
    file.write_text(readme_example(), encoding="utf-8")
    out = root / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 0
    return out


def rules_of(out: Path, area: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((out / "rules" / f"{area}.rules.yml").read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


def test_no_overrides_leave_the_catalogue_as_it_is() -> None:
    catalogue = load()
    assert overlay(catalogue, None, []) is catalogue
    assert main(["--check"]) == 0  # the committed files are generated without overrides


def test_the_readme_example_changes_what_it_says(example: Path) -> None:
    system = rules_of(example, "system")
    cpu = [rule for rule in system if rule.get("alert") == "SystemCPUHigh"]
    assert len(cpu) == 2  # the catalogue's warning for the rest, one for the batch hosts
    for rule in cpu:
        assert rule["labels"]["team"] == "engineering"
        assert rule["labels"]["service"] == "fleet"
        assert rule["labels"]["env"] == "prod"
        assert rule["annotations"]["playbook"] == "https://wiki.example/oncall"
    assert 'instance!~"batch1:9100|batch2:9100"' in cpu[0]["expr"]
    assert cpu[0]["expr"].endswith(" > 0.9") and "> 0.97)" in cpu[1]["expr"]
    assert ") unless (" in cpu[1]["expr"]
    disk = [r for r in system if r.get("alert") == "SystemDiskSpaceHigh"
            and r["labels"]["severity"] == "critical"]
    assert len(disk) == 1 and "> 0.93 " in disk[0]["expr"] and disk[0]["for"] == "10m"
    assert 'mountpoint!~"/boot.*|/snap/.*"' in disk[0]["expr"]
    assert "mountpoint" not in cpu[0]["expr"]
    other = next(r for r in rules_of(example, "database") if "alert" in r)
    assert other["labels"]["env"] == "prod" and "service" not in other["labels"]


def test_the_runbook_names_the_per_target_thresholds(example: Path) -> None:
    runbook = (example / "runbooks/SystemCPUHigh.md").read_text(encoding="utf-8")
    assert '- `instance=~"batch1:9100|batch2:9100"`: warning > 0.97 (97%) for 10m' in runbook
    assert "| warning | > 0.9 (90%) | 10m |" in runbook
    assert "Per-target" not in (REPO_ROOT / "runbooks/SystemCPUHigh.md").read_text()


def test_a_disabled_alert_and_area_disappear_from_every_output(example: Path) -> None:
    assert not (example / "rules" / "training.rules.yml").exists()
    assert not (example / "rules" / "tests" / "training.test.yml").exists()
    assert not list((example / "grafana").rglob("training*.json"))
    assert not (example / "runbooks" / "SystemSwapHigh.md").exists()
    training = {p.stem for p in (REPO_ROOT / "runbooks").glob("Training*.md")}
    assert training, "the catalogue's training area has runbooks to leave out"
    assert not any((example / "runbooks" / f"{name}.md").exists() for name in training)
    for path in ("rules/system.rules.yml", "rules/tests/system.test.yml",
                 "alertmanager/routing-tests.yml", "runbooks/README.md",
                 "grafana/dashboards/system.json", "grafana/dashboards/alerts.json"):
        text = (example / path).read_text(encoding="utf-8")
        assert "SystemSwapHigh" not in text, path
        assert not any(name in text for name in training), path
    # and they were there before
    assert "SystemSwapHigh" in (REPO_ROOT / "alertmanager/routing-tests.yml").read_text()


def test_an_overridden_threshold_is_drawn_on_its_panel(example: Path) -> None:
    dashboard = json.loads((example / "grafana/dashboards/system.json").read_text())
    panel = next(p for p in dashboard["panels"] if p.get("title") == "Filesystem utilisation")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    values = [step["value"] for step in steps if step["value"] is not None]
    assert any(abs(v - 0.93) < 1e-6 for v in values), values
    assert not any(abs(v - 0.9) < 1e-6 for v in values), values


def test_a_per_target_threshold_is_drawn_as_its_own_dashed_line_on_the_panel(
    example: Path,
) -> None:
    dashboard = json.loads((example / "grafana/dashboards/system.json").read_text())
    panel = next(p for p in dashboard["panels"] if p.get("title") == "CPU utilisation")
    # The catalogue's value still colours every other target...
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert abs(next(step["value"] for step in steps if step["value"] is not None) - 0.9) < 1e-9
    # ...and the batch hosts' own value is a line of its own, in the warning colour.
    matched = 'instance=~"batch1:9100|batch2:9100"'
    lines = [t for t in panel["targets"] if t["refId"] != "A"]
    assert [(t["expr"], t["legendFormat"]) for t in lines] == [
        ("vector(0.97)", f"warning threshold for {{{matched}}}")]
    override = panel["fieldConfig"]["overrides"][0]
    assert override["matcher"] == {"id": "byNames", "options": {
        "mode": "include", "names": [lines[0]["legendFormat"]]}}
    properties = {p["id"]: p["value"] for p in override["properties"]}
    assert properties["color"] == {"fixedColor": "orange", "mode": "fixed"}
    assert properties["custom.lineStyle"]["fill"] == "dash"
    assert panel["fieldConfig"]["defaults"]["custom"]["fillOpacity"] == 0
    assert f"For {{{matched}}}: warning when > 0.97 for" in panel["description"]
    assert lint.lint_dashboards({"system.json": dashboard}, lint.load_schema()) == {}
    # Without the override the panel has its one query.
    shipped = json.loads((REPO_ROOT / "grafana/dashboards/system.json").read_text())
    plain = next(p for p in shipped["panels"] if p.get("title") == "CPU utilisation")
    assert [t["refId"] for t in plain["targets"]] == ["A"]
    assert plain["fieldConfig"]["overrides"] == []


@needs_promtool
def test_promtool_accepts_the_overridden_rules_and_their_tests_pass(example: Path) -> None:
    files = sorted(p.name for p in (example / "rules").glob("*.rules.yml"))
    done = promtool("check", "rules", *files, cwd=example / "rules")
    assert done.returncode == 0, done.stdout + done.stderr
    tests = sorted(str(p.relative_to(example / "rules"))
                   for p in (example / "rules" / "tests").glob("*.test.yml"))
    done = promtool("test", "rules", *tests, cwd=example / "rules")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_generated_tests_put_a_target_between_the_two_thresholds(example: Path) -> None:
    tests = yaml.safe_load((example / "rules/tests/system.test.yml").read_text())["tests"]
    split = [t for t in tests if t["name"].startswith("SystemCPUHigh warning firing series: "
                                                      "target override 1")]
    assert len(split) == 1
    instances = {re.search(r'instance="([^"]+)"', s["series"]).group(1)  # type: ignore[union-attr]
                 for s in split[0]["input_series"]}
    assert instances == {"batch1:9100", "host-1:9101"}
    fired = [a["exp_labels"]["instance"] for a in split[0]["alert_rule_test"][0]["exp_alerts"]]
    # 95 % busy: over the catalogue's 90 %, under the batch hosts' 97 %
    assert fired == ["host-1:9101"]


@needs_promtool
def test_the_split_tests_fail_when_the_default_rule_does_not_exclude_the_targets(
    example: Path, tmp_path: Path
) -> None:
    """The generated test can fail: a default rule that still watches the batch hosts
    alerts them at 95 % too, and promtool says so."""
    shutil.copytree(example / "rules", tmp_path / "rules")
    file = tmp_path / "rules" / "system.rules.yml"
    text = file.read_text(encoding="utf-8")
    excluded = 'ratio{instance!~\\"batch1:9100|batch2:9100\\"} > 0.9"'
    assert text.count(excluded) == 1  # the default rule
    broken = text.replace(excluded, 'ratio > 0.9"')
    assert broken != text
    file.write_text(broken, encoding="utf-8")
    done = promtool("test", "rules", "tests/system.test.yml", cwd=tmp_path / "rules")
    assert done.returncode != 0
    assert "SystemCPUHigh" in done.stdout + done.stderr


@needs_promtool
def test_a_lower_threshold_for_some_targets_fires_them_alone(tmp_path: Path) -> None:
    """Loosened for the catalogue's own test target: the firing series still fire under the
    override, and the quiet series (their value unknown) are no longer promised silent."""
    file = tmp_path / "ours.yml"
    file.write_text(
        "alerts:\n  SystemCPUHigh:\n    targets:\n"
        "      - match: {instance: \"=host-1:9101\"}\n"
        "        levels: {warning: {threshold: 0.5}}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 0
    tests = yaml.safe_load((out / "rules/tests/system.test.yml").read_text())["tests"]
    names = [t["name"] for t in tests if t["name"].startswith("SystemCPUHigh warning")]
    assert not any("quiet" in name or "silent below" in name for name in names), names
    fires = next(t for t in tests if t["name"].startswith("SystemCPUHigh warning: silent"))
    assert fires["alert_rule_test"][-1]["exp_alerts"]
    done = promtool("test", "rules", "tests/system.test.yml", cwd=out / "rules")
    assert done.returncode == 0, done.stdout + done.stderr


def test_set_pairs_lay_single_values_over_the_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--out", str(out),
                 "--set", "alert.SystemCPUHigh.warning.threshold=0.92",
                 "--set", "alert.SystemCPUHigh.warning.for=15m",
                 "--set", "alert.SystemCPUHigh.label.tier=gold",
                 "--set", "area.training.enabled=false",
                 "--set", "annotation.owner=fleet-team",
                 "--set", "scrape_interval=15s"]) == 0
    cpu = next(r for r in rules_of(out, "system") if r.get("alert") == "SystemCPUHigh")
    assert cpu["expr"].endswith("> 0.92") and cpu["for"] == "15m"
    assert cpu["labels"]["tier"] == "gold" and cpu["annotations"]["owner"] == "fleet-team"
    assert not (out / "rules" / "training.rules.yml").exists()
    runbook = (out / "runbooks" / "SystemCPUHigh.md").read_text(encoding="utf-8")
    assert "0.92" in runbook or "92" in runbook


@needs_promtool
def test_a_level_moved_to_another_severity_repeats_as_that_severity_allows(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert main(["--out", str(out), "--set", "alert.SystemCPUHigh.warning.severity=info",
                 "--set", "alert.PostgresConnectionsHigh.critical.severity=warning",
                 "--set", "alert.PostgresConnectionsHigh.warning.severity=info"]) == 0
    cpu = next(r for r in rules_of(out, "system") if r.get("alert") == "SystemCPUHigh")
    assert cpu["labels"]["severity"] == "info"
    routing = (out / "alertmanager/routing-tests.yml").read_text(encoding="utf-8")
    assert "SystemCPUHigh" in routing
    done = promtool("test", "rules", "tests/system.test.yml", "tests/database.test.yml",
                    cwd=out / "rules")
    assert done.returncode == 0, done.stdout + done.stderr


def test_matchers_are_added_to_every_selector_of_the_tree() -> None:
    expr = ("sum by (instance) (rate(a_total[5m])) / on (instance) "
            "(b{job=\"x\"} + max_over_time(c[10m:1m]))")
    out = with_matchers(expr, [("instance", "!~", "h1|h2")])
    assert out.count('instance!~"h1|h2"') == 3
    assert 'b{job="x",instance!~"h1|h2"}' in out


BAD = [
    ("alerts:\n\tSystemCPUHigh: {}\n", ":2", "not YAML: found character '\\t'"),
    # A count of the job's Alertmanagers: a per-instance split would change every count.
    ("alerts:\n  AlertmanagerClusterMembersMissing:\n    targets:\n"
     "      - match: {instance: am-2:9093}\n        levels: {warning: {threshold: 1}}\n",
     ":4", "condition aggregates 'instance' away (count by (job)"),
    ("alerts:\n  SystemCPUHig:\n    enabled: false\n", ":2",
     "unknown alert 'SystemCPUHig' (did you mean SystemCPUHigh"),
    ("areas:\n  nosuch: {enabled: false}\n", ":2", "unknown area 'nosuch'"),
    ("alerts:\n  SystemCPUHigh:\n    levels:\n      critical: {threshold: 1}\n", ":4",
     "SystemCPUHigh has no 'critical' level (it has: warning)"),
    ("alerts:\n  SystemCPUHigh:\n    levels:\n      warning:\n        threshold: high\n",
     ":5", "threshold: expected a number, got 'high'"),
    ("alerts:\n  PostgresConnectionsHigh:\n    levels:\n      warning: {threshold: 0.95}\n",
     ":3", "warning (0.95) must stay below critical (0.9)"),
    ("alerts:\n  PostgresConnectionsHigh:\n    targets:\n      - match: {instance: db1}\n"
     "        levels: {critical: {threshold: 0.7}}\n", ":5",
     "warning (0.8) must stay below critical (0.7)"),
    ("alerts:\n  SystemCPUHigh:\n    treshold: 1\n", ":3", "unknown key 'treshold'"),
    ("alerts:\n  SystemCPUHigh:\n    enabled: maybe\n", ":3", "expected true or false"),
    ("alerts:\n  SystemCPUHigh:\n    levels:\n      warning: {for: 10}\n", ":4",
     "for: expected a duration like 5m, got 10"),
    ("alerts:\n  SystemCPUHigh:\n    team: nobody\n", ":3", "team: expected one of"),
    ("alerts:\n  SystemCPUHigh:\n    levels:\n      warning: {for: 0s}\n", ":4",
     "SystemCPUHigh must hold its condition a while"),
    ("alerts:\n  SystemCPUHigh:\n    targets:\n      - match: {mountpoint: /boot}\n"
     "        levels: {warning: {threshold: 0.95}}\n", ":4",
     "SystemCPUHigh's alerts do not carry 'mountpoint'"),
    ("alerts:\n  PromfleetTargetDown: {enabled: false}\n", ":2", "cannot be turned off"),
    ("labels: {severity: low}\n", ":1", "label 'severity' is set by the generator"),
    ("alerts:\n  SystemCPUHigh:\n    labels:\n      instance: x\n", ":4",
     "label 'instance' is on SystemCPUHigh's series"),
    ("alerts:\n  SystemCPUHigh:\n    targets:\n      - match: {instance: \"(?=db)db1\"}\n"
     "        levels: {warning: {threshold: 0.95}}\n", ":4",
     "is not a value Prometheus' selectors take"),
    ("alerts:\n  SystemCPUHigh:\n    levels:\n      warning: {severity: critical}\n", ":4",
     "SystemCPUHigh cannot page"),
    ("annotations: {summary: hi}\n", ":1", "annotation 'summary' comes from the catalogue"),
    ("alerts:\n  SystemCPUHigh: {}\n  SystemCPUHigh: {}\n", ":3", "given twice"),
    ("alerts:\n  SystemCPUHigh:\n    team: !!python/name:os.system\n", ":3",
     "cannot be read"),
    ("- alerts\n", ":1", "expected a mapping"),
]


@pytest.mark.parametrize(("text", "line", "named"), BAD, ids=[b[2][:30] for b in BAD])
def test_a_bad_override_is_refused_by_file_and_line(
    tmp_path: Path, text: str, line: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "ours.yml"
    file.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 2
    err = capsys.readouterr().err
    assert f"{file}{line}" in err, err
    assert named in err, err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_bad_set_pair_is_refused_by_its_text() -> None:
    with pytest.raises(OverrideError, match=r"--set 'alert\.SystemCPUHigh\.warning\."
                                            r"threshold=x'.*expected a number"):
        overlay(load(), None, ["alert.SystemCPUHigh.warning.threshold=x"])
    with pytest.raises(OverrideError, match=r"expected alert\.NAME\.LEVEL"):
        read_overrides(None, ["alert.SystemCPUHigh=1"])


@pytest.mark.parametrize("hold", ["3m", "7m"])
def test_a_for_that_ends_where_a_test_looks_is_refused_by_its_pair(
    hold: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = f"alert.PostgresConnectionsHigh.critical.for={hold}"
    assert main(["--out", str(tmp_path / "out"), "--set", pair]) == 2
    err = capsys.readouterr().err
    assert f"--set {pair!r}: PostgresConnectionsHigh: the warning for (300s) ends exactly" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_missing_overrides_file_is_named(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yml"
    assert main(["--out", str(tmp_path / "out"), "--overrides", str(missing)]) == 2
    assert f"cannot read overrides file {missing}" in capsys.readouterr().err


# -- selectors per area, and the cluster label -----------------------------------------------


def _selectors(expr: str) -> list[Any]:
    import promql_parser

    found: list[Any] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


@needs_promtool
def test_area_selectors_reach_each_metric_that_carries_the_label(tmp_path: Path) -> None:
    file = tmp_path / "ours.yml"
    file.write_text(
        "areas:\n  system:\n    selectors:\n"
        "      mountpoint: \"!~/boot.*|/snap/.*\"\n"
        "      job: \"node\"\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 0
    seen = set()
    for rule in rules_of(out, "system"):
        for node in _selectors(rule["expr"]):
            if not node.name or ":" in node.name:
                continue  # recording rules are made from the selected series
            names = {(m.name, str(m.op), m.value) for m in node.matchers.matchers}
            assert ("job", "MatchOp.Re", "node") in names, (node.name, rule["expr"])
            has_mount = any(m.name == "mountpoint" for m in node.matchers.matchers)
            assert has_mount == ("filesystem" in node.name), node.name
            seen.add(node.name)
    assert any("cpu" in name for name in seen) and any("filesystem" in name for name in seen)
    # the generated tests moved their series to job="node", and still pass
    tests = (out / "rules/tests/system.test.yml").read_text(encoding="utf-8")
    assert 'job=\\"node\\"' in tests and 'job=\\"system\\"' not in tests
    done = promtool("test", "rules", "tests/system.test.yml", cwd=out / "rules")
    assert done.returncode == 0, done.stdout + done.stderr


def test_area_selectors_reach_panels_that_use_grafanas_interval_variables(
    tmp_path: Path,
) -> None:
    file = tmp_path / "ours.yml"
    file.write_text("areas:\n  system:\n    selectors: {device: \"!~veth.*\"}\n",
                    encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 0
    dashboard = json.loads((out / "grafana/dashboards/system.json").read_text())
    exprs = {p["title"]: p["targets"][0]["expr"] for p in dashboard["panels"]}
    traffic = exprs["Network traffic"]
    assert traffic.count('device!~"veth.*"') == 2, traffic
    assert traffic.count("[$__rate_interval]") == 2, traffic
    assert "23h59m" not in traffic and "86399" not in traffic
    assert lint.lint_dashboards({"system.json": dashboard}, lint.load_schema()) == {}
    # A panel whose metric has no device label is left exactly as it was.
    shipped = json.loads((REPO_ROOT / "grafana/dashboards/system.json").read_text())
    before = {p["title"]: p["targets"][0]["expr"] for p in shipped["panels"]}
    assert "$__rate_interval" in before["Network traffic"]
    assert exprs["OOM kills"] == before["OOM kills"]  # its metric has no device label
    assert 'device!~"veth.*"' in exprs["Disk throughput"]


def test_a_bad_area_selector_is_refused_by_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "ours.yml"
    file.write_text("areas:\n  system:\n    selectors:\n      device: \"=~(\"\n",
                    encoding="utf-8")
    assert main(["--out", str(tmp_path / "out"), "--overrides", str(file)]) == 2
    err = capsys.readouterr().err
    assert f"{file}:4: device: bad regular expression" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clustered")
    assert main(["--out", str(out), "--set", "cluster_label=cluster"]) == 0
    return out


def test_the_cluster_label_is_kept_by_every_aggregation_and_match(clustered: Path) -> None:
    import promql_parser

    counted = {"aggregations": 0, "matches": 0}

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            counted["aggregations"] += 1
            modifier = node.modifier
            assert modifier is not None, str(node)
            if modifier.type == promql_parser.AggModifierType.By:
                assert "cluster" in modifier.labels, str(node)
            else:
                assert "cluster" not in modifier.labels, str(node)
        if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            if matching is None:
                return
            counted["matches"] += 1
            if matching.type == promql_parser.LabelModifierType.Include:
                assert not matching.labels or "cluster" in matching.labels, str(node)
            else:
                assert "cluster" not in matching.labels, str(node)

    files = sorted((clustered / "rules").glob("*.rules.yml"))
    assert files
    for file in files:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                promql_parser.walk(promql_parser.parse(rule["expr"]), pre_visit=visit)
    assert counted["aggregations"] > 50 and counted["matches"] > 20, counted


@needs_promtool
def test_promtool_accepts_the_clustered_rules_and_their_tests_pass(clustered: Path) -> None:
    files = sorted(p.name for p in (clustered / "rules").glob("*.rules.yml"))
    done = promtool("check", "rules", *files, cwd=clustered / "rules")
    assert done.returncode == 0, done.stdout + done.stderr
    tests = sorted(f"tests/{p.name}" for p in (clustered / "rules/tests").glob("*.test.yml"))
    done = promtool("test", "rules", *tests, cwd=clustered / "rules")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_two_clusters_with_the_same_instance_are_not_summed_together(tmp_path: Path) -> None:
    """A rule kept per cluster answers per cluster: the same host name in two clusters,
    busy in one only, alerts in that cluster only."""
    from generator.overrides import keep_label

    written = ("sum by (instance) (rate(cpu_busy_total[5m])) / on (instance) "
               "sum by (instance) (rate(cpu_total[5m])) > 0.9")
    kept = keep_label(written, "cluster")
    assert "by (instance, cluster)" in kept and "on (instance, cluster)" in kept
    test = {
        "rule_files": ["r.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'cpu_busy_total{cluster="eu",instance="h",cpu="0"}',
                 "values": "0+59x10"},
                {"series": 'cpu_total{cluster="eu",instance="h",cpu="0"}', "values": "0+60x10"},
                {"series": 'cpu_busy_total{cluster="us",instance="h",cpu="0"}',
                 "values": "0+6x10"},
                {"series": 'cpu_total{cluster="us",instance="h",cpu="0"}', "values": "0+60x10"},
            ],
            "alert_rule_test": [{"eval_time": "8m", "alertname": "Busy", "exp_alerts": [
                {"exp_labels": {"cluster": "eu", "instance": "h"}}]}],
        }],
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    for expr, passes in ((kept, True), (written, False)):  # as written, both are summed
        rules = {"groups": [{"name": "g", "rules": [{"alert": "Busy", "expr": expr}]}]}
        (tmp_path / "r.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
        done = promtool("test", "rules", "t.yml", cwd=tmp_path)
        assert (done.returncode == 0) == passes, done.stdout + done.stderr


def test_a_bad_cluster_label_is_refused(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "out"), "--set", "cluster_label=my-cluster"]) == 2
    assert "cluster_label: 'my-cluster' is not a label name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


AMTOOL = shutil.which("amtool")


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (.ci/setup)")
def test_an_overridden_team_routes_to_that_team_in_amtool(example: Path) -> None:
    doc = yaml.safe_load((example / "alertmanager/routing-tests.yml").read_text())
    cases = [c for c in doc["tests"] if c["labels"].get("alertname") == "SystemCPUHigh"]
    assert cases and all(c["labels"]["team"] == "engineering" for c in cases)
    for case in cases:
        done = subprocess.run(
            [str(AMTOOL), "config", "routes", "test",
             f"--config.file={example / 'alertmanager/alertmanager.yml'}",
             f"--verify.receivers={','.join(case['receivers'])}",
             *(f"{k}={v}" for k, v in sorted(case["labels"].items()))],
            capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    committed = yaml.safe_load((REPO_ROOT / "alertmanager/routing-tests.yml").read_text())
    before = next(c for c in committed["tests"] if c["labels"].get("alertname") == "SystemCPUHigh")
    assert before["labels"]["team"] == "ops"


def test_alerts_of_two_clusters_never_group_or_mute_each_other(clustered: Path) -> None:
    config = yaml.safe_load((clustered / "alertmanager/alertmanager.yml").read_text())
    assert "cluster" in config["route"]["group_by"]
    assert config["inhibit_rules"]
    assert all("cluster" in rule["equal"] for rule in config["inhibit_rules"])
    if AMTOOL is not None:
        done = subprocess.run([AMTOOL, "check-config",
                               str(clustered / "alertmanager/alertmanager.yml")],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def _sweep(shift: bool) -> dict[str, Any]:
    """A per-target threshold on every alert that carries ``instance``: its own values
    (``shift`` False), or past its test value, so the target stays silent where the
    catalogue's threshold fires (single-level alerts with an ordering comparison)."""
    alerts: dict[str, Any] = {}
    for _, t in load().thresholds():
        carried = {name for level in t.levels for name, _ in level.test.labels}
        if "instance" not in carried or t.name == "Watchdog":
            continue
        if aggregated_away(t.signal, "instance"):  # refused: see the test below
            continue
        level = t.levels[0]
        value = level.value
        if shift:
            if len(t.levels) != 1 or t.op in ("==", "!="):
                continue
            test = level.test.value
            value = test + abs(test) / 2 + 1 if t.op in (">", ">=") else test - abs(test) / 2 - 1
        alerts[t.name] = {"targets": [{"match": {"instance": "override-host:9999|other:1"},
                                       "levels": {level.severity.value: {"threshold": value}}}]}
    return {"alerts": alerts}


@needs_promtool
@pytest.mark.parametrize("shift", [False, True], ids=["same-threshold", "past-the-test-value"])
def test_a_per_target_threshold_on_every_alert_splits_its_targets_exactly(
    tmp_path: Path, shift: bool
) -> None:
    """Every alert shape (aggregations, ratios of recording rules, guards joined with
    ``and``/``or on``, time-based signals): the catalogue's target and an override's
    target side by side, each alerted once by its own threshold, never twice."""
    file = tmp_path / "ours.yml"
    sweep = _sweep(shift)
    assert len(sweep["alerts"]) > (60 if shift else 90)
    file.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--overrides", str(file)]) == 0
    tests = sorted(f"tests/{p.name}" for p in (out / "rules/tests").glob("*.test.yml"))
    done = promtool("test", "rules", *tests, cwd=out / "rules")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    between = 0
    for path in tests:
        for group in yaml.safe_load((out / "rules" / path).read_text())["tests"]:
            if "target override" not in group["name"] or "firing series" not in group["name"]:
                continue
            fired = {a["exp_labels"]["instance"]
                     for case in group["alert_rule_test"] for a in case.get("exp_alerts", [])}
            between += "override-host:9999" not in fired and bool(fired)
    if shift:
        assert between > 25, between  # one target silent, the other alerted
    else:
        assert between == 0


def test_make_rules_passes_the_overrides_file() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not installed")
    done = subprocess.run([make, "-n", "rules", "OVERRIDES=ours.yml"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert "-m generator --overrides ours.yml" in done.stdout, done.stdout + done.stderr
    done = subprocess.run([make, "-n", "rules"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert "--overrides" not in done.stdout
