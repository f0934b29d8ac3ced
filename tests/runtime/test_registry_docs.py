"""The registry of metric sources, and docs/metrics.md and the README index generated from it."""

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


@pytest.fixture
def demo_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry of the demo fixture exporter alone."""
    monkeypatch.setattr(registry, "EXPORTERS", (demo.__name__,))
    monkeypatch.setattr(registry, "SOURCES", (demo.__name__,))


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
    demo_sources: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{docs.START}\nold table\n{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 1
    assert "stale" in capsys.readouterr().err
    assert docs.main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text
    assert "- [tests.fixtures.demo](" in text and "#testsfixturesdemo): " in text
    assert "promfleet_demo_value" not in text, "the README keeps an index, not the tables"
    assert text.startswith("# t\n") and text.endswith(f"{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 0


def test_the_reference_file_is_written_whole_and_checked(
    demo_sources: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = tmp_path / "docs" / "metrics.md"
    assert docs.main(["--check", str(reference)]) == 2, "a missing reference is not current"
    assert docs.main(["--write", str(reference)]) == 0
    text = reference.read_text()
    assert text.startswith(docs.HEADER)
    assert "| `promfleet_demo_value` | gauge | `kind` | The configured demo value. |" in text
    assert docs.main(["--check", str(reference)]) == 0
    reference.write_text(text.replace("The configured demo value.", "Edited by hand."))
    capsys.readouterr()
    assert docs.main(["--check", str(reference)]) == 1
    assert f"{reference}: metrics reference is stale" in capsys.readouterr().err


def test_docs_refuse_a_file_that_is_neither_the_reference_nor_marked(
    demo_sources: None, tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert docs.main(["--write", str(readme)]) == 2
    assert readme.read_text() == "# no markers\n"


def test_docs_refuse_to_document_when_a_source_cannot_be_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "tests.fixtures.not_written_yet"
    monkeypatch.setattr(registry, "EXPORTERS", (demo.__name__, missing))
    monkeypatch.setattr(registry, "SOURCES", (demo.__name__, missing))
    reference = tmp_path / "metrics.md"
    assert docs.main(["--write", str(reference)]) == 2
    assert not reference.exists()
    assert missing in capsys.readouterr().err


def test_the_committed_readme_index_and_docs_metrics_md_are_current() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    sources = registry.all_metric_specs()
    assert docs.render_index(sources, "docs/metrics.md") in readme
    reference = (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert reference == docs.render_reference(sources), (
        "run .venv/bin/python -m exporters.docs --write README.md docs/metrics.md"
    )
