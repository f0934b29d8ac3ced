"""``python -m generator``: settings, --check drift detection, stale files, refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator.__main__ import ROOT, check_output, main, render_all, with_header
from generator.catalogue import load
from generator.model import Settings
from generator.render import MARKER
from generator.settings import SettingsError, load_settings


def test_the_committed_outputs_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_names_each_file_that_differs_is_missing_or_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "rules" / "system.rules.yml").write_text(f"# {MARKER}\nedited: by hand\n")
    (tmp_path / "alertmanager" / "routing-tests.yml").unlink()
    (tmp_path / "rules" / "gone.rules.yml").write_text(f"# {MARKER}\ngroups: []\n")
    (tmp_path / "rules" / "hand-written.yml").write_text("groups: []\n")
    capsys.readouterr()
    assert main(["--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "differs: rules/system.rules.yml" in err
    assert "missing: alertmanager/routing-tests.yml" in err
    assert "stale: rules/gone.rules.yml" in err
    assert "hand-written" not in err


def test_writing_removes_stale_marked_files_and_keeps_unmarked_ones(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "gone.rules.yml").write_text(f"# {MARKER}\ngroups: []\n")
    (tmp_path / "rules" / "hand-written.yml").write_text("groups: []\n")
    assert main(["--out", str(tmp_path)]) == 0
    assert not (tmp_path / "rules" / "gone.rules.yml").exists()
    assert (tmp_path / "rules" / "hand-written.yml").exists()
    assert main(["--out", str(tmp_path), "--check"]) == 0


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = render_all(load(), Settings())
    second = render_all(load(), Settings())
    assert first == second
    assert list(first) == sorted(first)


def test_every_yaml_output_starts_with_the_do_not_edit_header() -> None:
    for path, text in render_all(load(), Settings()).items():
        if path.endswith((".yml", ".yaml")):
            assert text.startswith("# ") and MARKER in text.splitlines()[0], path


def test_an_empty_or_unparsable_output_is_refused() -> None:
    assert check_output("rules/x.rules.yml", "  \n") == [
        "rules/x.rules.yml: empty output (a renderer bug?)"
    ]
    assert any("YAML parses to nothing" in p for p in check_output("a/b.yml", f"# {MARKER}\n"))
    assert any("does not parse back" in p for p in check_output("a/b.yml", f"# {MARKER}\na: [\n"))
    assert any("does not parse back" in p for p in check_output("a/b.json", '{"x": '))
    assert any("lacks the marker" in p for p in check_output("a/b.tmpl.txt", "text"))


def test_the_header_is_added_in_the_comment_syntax_of_each_format() -> None:
    assert with_header("a.yml", "a: 1\n").startswith(f"# {MARKER}")
    assert with_header("a.md", "# Title\n").startswith(f"<!-- {MARKER} -->")
    assert with_header("x/.gitignore", "*\n").startswith(f"# {MARKER}")
    assert with_header("a.json", "{}") == "{}"


def test_a_bad_catalogue_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import generator.__main__ as entry

    real = load()
    broken = real.areas[0].thresholds[0]
    import dataclasses

    bad_area = dataclasses.replace(real.areas[0], thresholds=(*real.areas[0].thresholds, broken))
    monkeypatch.setattr(
        entry, "load", lambda: dataclasses.replace(real, areas=(bad_area, *real.areas[1:]))
    )
    assert entry.main(["--out", str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []


def test_set_overrides_reach_the_outputs(tmp_path: Path) -> None:
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--set",
                "runbook_base_url=https://runbooks.example.org/x",
                "--set",
                "alertmanager_group_wait=0s",
                "--set",
                "info_digest=false",
            ]
        )
        == 0
    )
    rules = (tmp_path / "rules" / "system.rules.yml").read_text()
    assert "https://runbooks.example.org/x/SystemCPUHigh.md" in rules
    doc = yaml.safe_load((tmp_path / "alertmanager" / "alertmanager.yml").read_text())
    routes = doc["route"]["routes"]
    waits = {r.get("group_wait") for r in routes if r.get("group_by") != ["..."]} - {None}
    assert waits == {"0s"}
    # The escalation delay is not a group_wait to shorten: it stays the policy's.
    assert {r["group_wait"] for r in routes if r.get("group_by") == ["..."]} == {"30m"}
    info = next(r for r in routes if r.get("matchers") == ['severity="info"'])
    assert "routes" in info  # info_digest off: per team, at once, not one daily group


def test_a_settings_file_is_read_and_set_pairs_win(tmp_path: Path) -> None:
    file = tmp_path / "s.yml"
    file.write_text(
        "evaluation_interval: 1s\nscrape_interval: 1s\n"
        "targets: {system: ['127.0.0.1:9101']}\nwebhook_override_url: http://127.0.0.1:1/a\n"
    )
    settings = load_settings(file, ["scrape_interval=2s"])
    assert settings.evaluation_interval == "1s"
    assert settings.scrape_interval == "2s"
    assert settings.targets == (("system", ("127.0.0.1:9101",)),)
    assert settings.webhook_override_url == "http://127.0.0.1:1/a"


def test_bad_settings_are_all_named_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            None,
            ["no_such_key=1", "scrape_interval=soon", "info_digest=maybe", "missing-equals"],
        )
    text = str(info.value)
    for expected in (
        "no_such_key: unknown setting",
        "info_digest: expected true or false",
        "expected key=value",
    ):
        assert expected in text
    with pytest.raises(SettingsError, match="scrape_interval: not a duration"):
        load_settings(None, ["scrape_interval=soon"])
    with pytest.raises(SettingsError, match="runbook_base_url: expected an http"):
        load_settings(None, ["runbook_base_url=runbooks"])
