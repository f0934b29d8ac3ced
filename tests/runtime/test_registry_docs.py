"""The registry of metric sources and the README metrics reference generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters import docs, registry
from exporters.runtime import runtime_metrics
from tests.fixtures import demo


@pytest.fixture
def fixture_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry of the demo fixture exporter plus one exporter whose module is missing."""
    missing = "tests.fixtures.not_written_yet"
    monkeypatch.setattr(registry, "EXPORTERS", (demo.__name__, missing))
    monkeypatch.setattr(registry, "SOURCES", (demo.__name__, missing))


def test_all_metric_specs_adds_the_runtime_families_and_skips_a_missing_module_by_name(
    fixture_sources: None,
) -> None:
    skipped: list[str] = []
    specs = registry.all_metric_specs(on_missing=lambda name, _reason: skipped.append(name))
    assert skipped == ["tests.fixtures.not_written_yet"]
    names = [spec.name for spec in specs[demo.__name__]]
    assert names == [
        *(spec.name for spec in demo.METRICS),
        *(spec.name for spec in runtime_metrics("promfleet_demo")),
    ]
    assert "promfleet_demo_scrape_collector_success" in names
    assert "process_cpu_seconds_total" in names


def test_every_source_name_maps_to_its_module_and_unknown_names_are_refused() -> None:
    for name in ("system", "postgres", "redis", "probe", "security", "training", "app"):
        assert registry.module_name(name) == f"exporters.{name}"
    with pytest.raises(registry.ExporterNotFound, match="unknown exporter"):
        registry.module_name("mysql")
    with pytest.raises(registry.ExporterNotFound, match="metric-only"):
        registry.load_exporter("app")
    with pytest.raises(registry.ExporterNotFound, match="does not exist"):
        registry.load_exporter("tests.fixtures.not_written_yet")


def test_multi_target_exporters_get_a_target_label_on_the_collector_families() -> None:
    success = runtime_metrics("promfleet_pg", multi_target=True)[0]
    assert success.name == "promfleet_pg_scrape_collector_success"
    assert success.labels == ("collector", "target")


def test_the_metrics_table_lists_name_type_labels_and_help(fixture_sources: None) -> None:
    table = docs.render(registry.all_metric_specs(on_missing=lambda *_: None))
    assert "### tests.fixtures.demo" in table
    assert "| `promfleet_demo_value` | gauge | `kind` | The configured demo value. |" in table
    assert "| `promfleet_demo_events_total` | counter | - |" in table


def test_docs_check_fails_on_a_stale_readme_and_passes_after_write(
    fixture_sources: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{docs.START}\nold table\n{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 1
    assert "stale" in capsys.readouterr().err
    assert docs.main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and "promfleet_demo_value" in text
    assert text.startswith("# t\n") and text.endswith(f"{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 0


def test_docs_refuse_a_readme_without_markers(fixture_sources: None, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert docs.main(["--write", str(readme)]) == 2
    assert readme.read_text() == "# no markers\n"
