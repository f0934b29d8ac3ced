"""Runbooks: the renderer on a small catalogue, and the link checker on good and broken trees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator import lint
from generator.model import Catalogue, Settings, dashboard_url, runbook_url
from generator.render import grafana, runbooks
from tests.generator.catalogues import small_catalogue

SETTINGS = Settings(
    runbook_base_url="https://runbooks.example/rb/", dashboard_base_url="http://grafana.example/d"
)


def sections(text: str) -> dict[str, str]:
    """``{heading: body}`` for every ``## heading`` of a Markdown page."""
    out: dict[str, str] = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        out[heading.strip()] = body.strip()
    return out


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return small_catalogue()


@pytest.fixture(scope="module")
def pages(catalogue: Catalogue) -> dict[str, str]:
    return runbooks.render(catalogue, SETTINGS)


def test_every_alert_gets_a_runbook_and_the_index_lists_them_all(
    catalogue: Catalogue, pages: dict[str, str]
) -> None:
    names = sorted(t.name for _, t in catalogue.thresholds())
    assert sorted(pages) == sorted([f"runbooks/{n}.md" for n in names] + ["runbooks/README.md"])
    index = pages["runbooks/README.md"]
    for name in names:
        assert f"[{name}]({name}.md)" in index


def test_a_runbook_has_the_five_sections_with_text(pages: dict[str, str]) -> None:
    for path, text in pages.items():
        if path.endswith("README.md"):
            continue
        found = sections(text)
        for name in runbooks.SECTIONS:
            assert found.get(name), f"{path}: section {name} is missing or empty"


def test_a_runbook_names_its_levels_thresholds_team_and_links(pages: dict[str, str]) -> None:
    text = pages["runbooks/HostLoadHigh.md"]
    assert text.splitlines()[1] == "# HostLoadHigh"
    assert "| critical | > 3 | 10m | 30m |" in text
    assert "| warning | > 1.5 | 5m | 1h |" in text
    assert "| Team | ops |" in text
    assert f"({dashboard_url(SETTINGS, 'system')})" in text
    assert f"<{runbook_url(SETTINGS, 'HostLoadHigh')}>" in text
    disk = pages["runbooks/DiskSpaceLow.md"]
    assert "| critical | < 0.05 (5%) |" in disk


def test_diagnosis_gives_the_promql_to_run_for_the_signal_and_each_level(
    pages: dict[str, str],
) -> None:
    diagnosis = sections(pages["runbooks/HostLoadHigh.md"])["Diagnosis"]
    assert "```promql\ninstance:promfleet_system_load1:per_cpu\n```" in diagnosis
    assert "instance:promfleet_system_load1:per_cpu > 3\n" in diagnosis
    assert "instance:promfleet_system_load1:per_cpu > 1.5\n" in diagnosis


def test_a_shell_block_in_a_step_stays_inside_its_numbered_item(pages: dict[str, str]) -> None:
    diagnosis = sections(pages["runbooks/HostLoadHigh.md"])["Diagnosis"]
    assert "1. Look at the top consumers:\n   ```sh\n   ps -eo pid,pcpu,comm" in diagnosis
    assert "\n2. Check the load:" in diagnosis


def test_steps_and_cells_are_escaped_for_markdown() -> None:
    assert runbooks.cell("a | b\nc") == "a \\| b c"
    assert runbooks.step("first\n\nsecond", 12) == "12. first\n\n    second"
    assert runbooks.human(1073741824, "bytes") == "1073741824 (1 GiB)"
    assert runbooks.human(0.9, "percentunit") == "0.9 (90%)"


# The link checker ------------------------------------------------------------------------


def _tree(root: Path, catalogue: Catalogue, settings: Settings) -> None:
    """A repository-shaped tree: dashboards, runbooks and a rules file with annotations."""
    files = {**grafana.render(catalogue, settings), **runbooks.render(catalogue, settings)}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    rules = []
    for area, threshold in catalogue.thresholds():
        rules.append(
            {
                "alert": threshold.name,
                "expr": threshold.condition(threshold.levels[0]),
                "annotations": {
                    "summary": threshold.summary,
                    "runbook_url": runbook_url(settings, threshold.name),
                    "dashboard_url": dashboard_url(settings, area.name),
                },
            }
        )
    (root / "rules").mkdir()
    (root / "rules" / "all.rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "all", "rules": rules}]}), encoding="utf-8"
    )


@pytest.fixture
def tree(tmp_path: Path, catalogue: Catalogue) -> Path:
    _tree(tmp_path, catalogue, SETTINGS)
    return tmp_path


def test_links_of_a_freshly_rendered_tree_all_resolve(tree: Path, catalogue: Catalogue) -> None:
    names = [t.name for _, t in catalogue.thresholds()]
    report = lint.check_links(tree, SETTINGS, names)
    assert report.problems == ()
    # 3 alerts x 2 annotations, and per runbook: dashboard, runbook URL, overview, index.
    assert report.checked >= 6 + 3 * 4


def test_a_missing_runbook_is_reported_by_alert_name(tree: Path) -> None:
    (tree / "runbooks" / "DiskSpaceLow.md").unlink()
    report = lint.check_links(tree, SETTINGS)
    assert any(
        "alert DiskSpaceLow: runbook runbooks/DiskSpaceLow.md is missing" in p
        for p in report.problems
    )
    assert any("names no file runbooks/DiskSpaceLow.md" in p for p in report.problems)


def test_an_alert_known_only_to_the_catalogue_still_needs_its_runbook(tree: Path) -> None:
    report = lint.check_links(tree, SETTINGS, ["NotInRules"])
    assert any("alert NotInRules" in p for p in report.problems)


def test_a_dashboard_url_to_an_unknown_uid_is_reported(tree: Path) -> None:
    (tree / "grafana" / "dashboards" / "database.json").unlink()
    report = lint.check_links(tree, SETTINGS)
    assert any("names no dashboard uid 'promfleet-database'" in p for p in report.problems)


def test_relative_links_must_name_files_inside_the_repository(tree: Path) -> None:
    page = tree / "runbooks" / "HostLoadHigh.md"
    page.write_text(
        page.read_text(encoding="utf-8")
        + "\nSee [the rules](../rules/all.rules.yml), [gone](../rules/gone.yml), "
        + "[outside](../../../etc/hostname) and [here](#meaning).\n"
        + "```sh\ncat [not a link](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    problems = lint.check_links(tree, SETTINGS).problems
    assert any("../rules/gone.yml" in p for p in problems)
    assert any("../../../etc/hostname" in p for p in problems)
    assert not any("all.rules.yml" in p or "nowhere.md" in p or "#meaning" in p for p in problems)


def test_other_external_links_are_listed_not_fetched(tree: Path) -> None:
    page = tree / "runbooks" / "HostLoadHigh.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\nRead <https://docs.example/load> first.\n",
        encoding="utf-8",
    )
    report = lint.check_links(tree, SETTINGS)
    assert report.problems == ()
    assert "https://docs.example/load" in report.external


def test_the_command_line_exits_non_zero_and_names_the_problem(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--root",
        str(tree),
        "--runbook-base-url",
        SETTINGS.runbook_base_url,
        "--dashboard-base-url",
        SETTINGS.dashboard_base_url,
        "--no-catalogue",
    ]
    assert lint.main(args) == 0, capsys.readouterr().out
    (tree / "runbooks" / "PostgresDown.md").unlink()
    assert lint.main(args) == 1
    assert "runbooks/PostgresDown.md is missing" in capsys.readouterr().out


def test_a_fence_written_after_text_is_moved_to_its_own_line() -> None:
    text = runbooks.step("On the host: ```sh\ntop -b -n 1\n```", 3)
    assert text == "3. On the host:\n   ```sh\n   top -b -n 1\n   ```"


def test_prometheus_template_fields_read_as_placeholders_in_a_runbook() -> None:
    text = "CPU on {{ $labels.instance }} is {{ $value | humanizePercentage }} busy"
    assert runbooks.untemplate(text) == "CPU on `<instance>` is `<value>` busy"


def test_dashboard_and_panel_links_are_checked_too(tree: Path) -> None:
    (tree / "runbooks" / "HostLoadHigh.md").unlink()
    problems = lint.check_links(tree, SETTINGS).problems
    assert any(p.startswith("grafana/dashboards/system.json:") for p in problems)
