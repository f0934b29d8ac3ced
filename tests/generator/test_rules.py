"""Rules and promtool tests as generated: promtool accepts them, they pass, they cover
every alert level, they match the PrometheusRule CRD, and they can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator import gotemplate
from generator.__main__ import main
from generator.catalogue import load
from generator.model import Settings
from generator.render.promtool_tests import coverage
from generator.render.rules import render as render_rules

SCHEMA = Path(__file__).parent / "schemas" / "prometheusrule-crd.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    assert main(["--out", str(root)]) == 0
    return root


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _python_patterns(node: Any) -> Any:
    """Go's RE2 allows ``^(?i)...``; Python wants global flags first: ``(?i)^...``."""
    if isinstance(node, dict):
        out = {k: _python_patterns(v) for k, v in node.items()}
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            out["pattern"] = "(?i)^" + out["pattern"][len("^(?i)") :]
        return out
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def rule_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    spec: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    return dict(_python_patterns(spec))


@needs_promtool
def test_promtool_check_rules_accepts_every_rules_file(out: Path) -> None:
    files = sorted(str(p.relative_to(out)) for p in (out / "rules").glob("*.rules.yml"))
    assert {"rules/system.rules.yml", "rules/meta.rules.yml"} <= set(files)
    result = promtool("check", "rules", *files, cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_generated_promtool_unit_tests_pass(out: Path) -> None:
    files = sorted(str(p.relative_to(out)) for p in (out / "rules" / "tests").glob("*.test.yml"))
    assert files
    result = promtool("test", "rules", *files, cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_a_wrong_expected_annotation_makes_promtool_fail(tmp_path: Path, out: Path) -> None:
    shutil.copytree(out / "rules", tmp_path / "rules")
    test_file = tmp_path / "rules" / "tests" / "system.test.yml"
    text = test_file.read_text(encoding="utf-8")
    assert "is 95% busy" in text
    test_file.write_text(text.replace("is 95% busy", "is 96% busy", 1), encoding="utf-8")
    result = promtool("test", "rules", "rules/tests/system.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "SystemCPUHigh" in result.stdout + result.stderr


@needs_promtool
def test_a_threshold_moved_in_the_rules_makes_the_generated_tests_fail(
    tmp_path: Path, out: Path
) -> None:
    shutil.copytree(out / "rules", tmp_path / "rules")
    rules = tmp_path / "rules" / "system.rules.yml"
    text = rules.read_text(encoding="utf-8")
    needle = 'expr: "instance:promfleet_system_memory_utilisation:ratio > 0.9"'
    assert needle in text
    rules.write_text(text.replace(needle, needle.replace("0.9", "0.99")), encoding="utf-8")
    result = promtool("test", "rules", "rules/tests/system.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "SystemMemoryHigh" in result.stdout + result.stderr


def test_every_alert_level_has_a_firing_and_a_silent_case() -> None:
    cov = coverage(load())
    assert cov.levels == sum(len(t.levels) for _, t in load().thresholds())
    assert cov.firing == cov.levels
    assert cov.silent == cov.levels - len(cov.always_firing)
    assert cov.always_firing == ("Watchdog info",)


def test_the_generator_prints_the_coverage_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    cov = coverage(load())
    assert cov.summary() in capsys.readouterr().out
    assert f"{cov.levels} alert levels, {cov.levels} with a firing case" in cov.summary()


def test_each_level_test_file_has_a_silent_and_a_firing_evaluation(out: Path) -> None:
    doc = yaml.safe_load((out / "rules" / "tests" / "system.test.yml").read_text(encoding="utf-8"))
    fds = [g for g in doc["tests"] if g["name"].startswith("SystemFileDescriptorsHigh critical")]
    assert len(fds) == 2
    firing, quiet = fds
    before, after = firing["alert_rule_test"]
    assert before["exp_alerts"] == []
    assert sorted(a["exp_labels"]["severity"] for a in after["exp_alerts"]) == [
        "critical",
        "warning",
    ]
    # The quiet series sit between warning and critical: only the warning fires.
    assert [a["exp_labels"]["severity"] for a in quiet["alert_rule_test"][0]["exp_alerts"]] == [
        "warning"
    ]


def test_every_level_with_a_for_is_proven_pending_while_it_is_still_silent(out: Path) -> None:
    checked = 0
    for area in load().areas:
        doc = yaml.safe_load(
            (out / "rules" / "tests" / f"{area.name}.test.yml").read_text(encoding="utf-8")
        )
        groups = {g["name"]: g for g in doc["tests"]}
        for threshold in area.thresholds:
            for level in threshold.levels:
                if level.for_seconds == 0:
                    continue
                name = f"{threshold.name} {level.severity.value}: silent before for, then fires"
                group = groups[name]
                before = group["alert_rule_test"][0]
                assert before["exp_alerts"] == [], name
                (pending,) = group["promql_expr_test"]
                assert pending["eval_time"] == before["eval_time"], name
                assert 'alertstate="pending"' in pending["expr"], name
                (sample,) = pending["exp_samples"]
                assert f'severity="{level.severity.value}"' in sample["labels"], name
                checked += 1
    assert checked == sum(
        1 for _, t in load().thresholds() for lv in t.levels if lv.for_seconds > 0
    )


@needs_promtool
def test_promtool_fails_when_the_condition_does_not_hold_while_pending(
    tmp_path: Path, out: Path
) -> None:
    shutil.copytree(out / "rules", tmp_path / "rules")
    test_file = tmp_path / "rules" / "tests" / "system.test.yml"
    doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    group = next(g for g in doc["tests"] if g["name"].startswith("SystemCPUHigh warning: silent"))
    group.pop("alert_rule_test")  # only the pending proof is left to fail
    for series in group["input_series"]:
        series["values"] = "1000+48x40"  # 20 % busy: never above the threshold
    doc["tests"] = [group]
    test_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = promtool("test", "rules", "rules/tests/system.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "alertstate" in result.stdout + result.stderr


def test_rules_files_match_the_prometheusrule_crd_spec(out: Path) -> None:
    schema = rule_spec_schema()
    paths = sorted((out / "rules").glob("*.rules.yml"))
    assert len(paths) >= 6, paths  # one per area: none found must not pass
    for path in paths:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_every_alerting_rule_has_severity_team_and_the_four_annotations(out: Path) -> None:
    for path in sorted((out / "rules").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    assert rule["record"].count(":") == 2
                    continue
                assert {"severity", "team"} <= set(rule["labels"])
                assert set(rule["annotations"]) == {
                    "summary",
                    "description",
                    "runbook_url",
                    "dashboard_url",
                }
                assert rule["annotations"]["runbook_url"].endswith(f"/{rule['alert']}.md")


def test_recording_rules_come_before_the_alerts_that_read_them() -> None:
    text = render_rules(load(), Settings())["rules/system.rules.yml"]
    assert text.index("record:") < text.index("alert:")
    assert text.index('record: "instance:promfleet_system_cpus:count"') < text.index(
        'record: "instance:promfleet_system_load5_per_cpu:ratio"'
    )


def test_the_for_override_shortens_every_rule_and_its_tests_follow(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--set", "alert_for_override=1m"]) == 0
    doc = yaml.safe_load((tmp_path / "rules" / "system.rules.yml").read_text(encoding="utf-8"))
    fors = {r["for"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert fors == {"1m"}
    if PROMTOOL is not None:
        result = promtool("test", "rules", "rules/tests/system.test.yml", cwd=tmp_path)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ $value | humanizePercentage }}", 0.95, "95%"),
        ("{{ $value | humanizePercentage }}", 0.123456, "12.35%"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ $value | humanize }}", 0.05, "50m"),
        ("{{ $value | humanize }}", 3.0, "3"),
        ("{{ $value | humanizeDuration }}", 93784.0, "1d 2h 3m 4s"),
        ("{{ $value | humanizeDuration }}", 4.5, "4.5s"),
        ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
        ("{{ $value }}", 1e6, "1e+06"),
        ("{{ $value }}", 0.95, "0.95"),
        ("{{ $labels.instance }} / {{ $labels.missing }}", 0.0, "a:1 / "),
    ],
)
def test_the_go_template_subset_expands_like_prometheus(
    template: str, value: float, expected: str
) -> None:
    assert gotemplate.expand(template, {"instance": "a:1"}, value) == expected


def test_the_go_template_subset_refuses_anything_else() -> None:
    assert gotemplate.template_problems("{{ $value | humanize }} {{ $labels.a }}") == []
    assert gotemplate.template_problems("{{ range .Alerts }}x{{ end }}")
    assert gotemplate.template_problems("{{ $value | printf }}")
    assert gotemplate.template_problems("a }} b")
    with pytest.raises(ValueError):
        gotemplate.expand("{{ .Value }}", {}, 1.0)
