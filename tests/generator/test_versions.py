"""Version gates: a field or function the target Prometheus does not know is refused, or
left out with a note, never written to fail at load time; proven at the default (the
Debian 2.42) and at an older target, and the gate table checked against promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.__main__ import main
from generator.versions import FEATURES, Version, VersionError, gate_groups, parse_version

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/setup)")


def promtool_check(*files: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "check", "rules", *map(str, files)], capture_output=True,
                          text=True, timeout=120, check=False)


def rule_files(root: Path) -> list[Path]:
    return sorted([*(root / "rules").glob("*.rules.yml"), *(root / "deploy").rglob("*.yml")])


def test_versions_parse_and_compare() -> None:
    assert parse_version("2.42") == Version(2, 42, 0)
    assert parse_version("v2.53.1") == Version(2, 53, 1)
    assert parse_version("3.0") > parse_version("2.53.1")
    for bad in ("2", "2.x", "latest", "2.42.0-rc.1", ""):
        with pytest.raises(ValueError, match="not a Prometheus version"):
            parse_version(bad)


def test_at_the_default_version_keep_firing_for_is_written_everywhere(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    for path in [tmp_path / "rules" / "system.rules.yml",
                 tmp_path / "deploy" / "thanos" / "system.rules.yml",
                 tmp_path / "deploy" / "mimir" / "system.yml",
                 tmp_path / "deploy" / "kubernetes" / "prometheusrule-system.yml"]:
        text = path.read_text()
        assert "keep_firing_for" in text, path
        assert "keep_firing_for left out" not in text, path


def test_an_older_target_refuses_keep_firing_for_naming_the_rule_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path), "--set", "prometheus_version=2.41"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"rules/system\.rules\.yml: group 'system', rule '\w+': keep_firing_for "
                     r"needs Prometheus 2\.42, prometheus_version is 2\.41 \(or version_gate=omit",
                     err), err
    assert list(tmp_path.iterdir()) == []


def test_an_older_target_with_omit_leaves_keep_firing_for_out_with_a_note(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--set", "prometheus_version=2.41",
                 "--set", "version_gate=omit"]) == 0
    files = rule_files(tmp_path)
    assert len(files) > 12
    for path in files:
        text = path.read_text()
        assert "keep_firing_for" not in text.replace("keep_firing_for left out", ""), path
    note = (tmp_path / "rules" / "system.rules.yml").read_text().splitlines()[2]
    assert note.startswith("# prometheus_version 2.41: keep_firing_for left out of ")
    assert "a dead exporter reads as resolved" in note
    assert "keep_firing_for left out" in (tmp_path / "deploy" / "mimir" / "system.yml").read_text()


@needs_promtool
def test_the_omitted_variant_still_loads(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--set", "prometheus_version=2.41",
                 "--set", "version_gate=omit"]) == 0
    result = promtool_check(*sorted((tmp_path / "rules").glob("*.rules.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def group(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "g", **fields, "rules": [{"record": "a:b:c", "expr": "vector(1)"}]}]


def test_group_limit_needs_2_31_and_is_left_out_only_when_asked() -> None:
    assert gate_groups(group(limit=10), "f", Version(2, 31), "refuse") == (group(limit=10), [])
    with pytest.raises(VersionError, match=r"f: group 'g': limit needs Prometheus 2\.31"):
        gate_groups(group(limit=10), "f", Version(2, 30), "refuse")
    kept, notes = gate_groups(group(limit=10), "f", Version(2, 30), "omit")
    assert kept == group() and "limit left out of 1 group(s)" in notes[0]


def test_query_offset_is_refused_below_2_53_even_when_omitting_is_allowed() -> None:
    assert gate_groups(group(query_offset="1m"), "f", Version(2, 53), "refuse")[0] == group(
        query_offset="1m")
    for policy in ("refuse", "omit"):
        with pytest.raises(VersionError, match=r"query_offset needs Prometheus 2\.53") as err:
            gate_groups(group(query_offset="1m"), "f", Version(2, 42), policy)
        assert "version_gate=omit" not in str(err.value)


def test_a_function_the_target_lacks_is_refused_never_rewritten() -> None:
    rules = [{"name": "g", "rules": [
        {"alert": "A", "expr": 'histogram_stddev(rate(x[5m])) > 1 and y{l="histogram_avg("}'}]}]
    with pytest.raises(VersionError) as err:
        gate_groups(rules, "f", Version(2, 42), "omit")
    assert "rule 'A': histogram_stddev needs Prometheus 2.46" in str(err.value)
    assert "histogram_avg" not in str(err.value)  # inside a string, not a call
    assert gate_groups(rules, "f", Version(2, 46), "refuse")[0] == rules


@needs_promtool
def test_the_gate_table_agrees_with_the_debian_promtool(tmp_path: Path) -> None:
    """Every function the table says 2.42 lacks, 2.42's promtool refuses; every one it
    says 2.42 has, promtool accepts (the fields are proven by the tests above)."""
    version = subprocess.run([str(PROMTOOL), "--version"], capture_output=True, text=True,
                             timeout=60, check=False)
    found = re.search(r"version (\d+\.\d+)", version.stdout + version.stderr)
    assert found, version.stdout
    installed = parse_version(found.group(1))
    for feature in FEATURES:
        if feature.where != "function":
            continue
        path = tmp_path / f"{feature.name}.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
            {"record": "a:b:c", "expr": f"{feature.name}(x)" if feature.name != "histogram_fraction"
             else "histogram_fraction(0, 1, x)"}]}]}))
        result = promtool_check(path)
        assert (result.returncode == 0) == (installed >= feature.since), (feature, result.stdout)
