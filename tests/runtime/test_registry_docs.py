"""The registry of metric sources, and docs/metrics.md and the README index generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

import topology
from exporters import docs, registry
from exporters.runtime import runtime_metrics
from tests.fixtures import demo


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str]) -> str:
    """A package of its own name on sys.path holding ``modules`` (name -> source text)."""
    name = "sources_" + "".join(c if c.isalnum() else "_" for c in tmp_path.name)
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    for module, text in modules.items():
        (tmp_path / name / f"{module}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


DEMO = "from tests.fixtures.demo import EXPORTER, METRICS\n"


@pytest.fixture
def fixture_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package with the demo fixture exporter, a metric-only source and shared code;
    the docs read it instead of the exporters package."""
    package = _package(tmp_path, monkeypatch, {
        "demo": DEMO,
        "library": "from tests.fixtures.demo import METRICS\n",
        "shared": "HELPER = 1\n",
    })
    monkeypatch.setattr(docs, "all_metric_specs", lambda: registry.all_metric_specs(package))
    return package


def test_discovery_finds_exporters_and_metric_only_sources_and_passes_over_shared_code(
    fixture_sources: str,
) -> None:
    found = registry.discover(fixture_sources)
    assert (found.exporters, found.metric_only) == (("demo",), ("library",))


def test_all_metric_specs_adds_the_runtime_families_to_an_exporters(fixture_sources: str) -> None:
    specs = registry.all_metric_specs(fixture_sources)
    names = [spec.name for spec in specs["demo"]]
    assert names == [
        *(spec.name for spec in demo.METRICS),
        *(spec.name for spec in runtime_metrics("promfleet_demo")),
    ]
    assert "promfleet_demo_scrape_collector_success" in names
    assert "process_cpu_seconds_total" in names
    assert specs["library"] == demo.METRICS


def test_a_broken_exporter_module_fails_discovery_naming_the_module_and_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path, monkeypatch, {
        "demo": DEMO,
        "broken": DEMO + "import promfleet_no_such_dependency\n",
    })
    message = rf"{package}\.broken cannot be imported: .*promfleet_no_such_dependency"
    with pytest.raises(registry.BrokenSource, match=message):
        registry.discover(package)
    with pytest.raises(registry.BrokenSource, match=message):
        registry.all_metric_specs(package)
    with pytest.raises(registry.BrokenSource, match=message):
        registry.load_exporter(f"{package}.broken")


def test_a_declaration_of_the_wrong_type_fails_discovery_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path, monkeypatch, {"odd": "METRICS = ['not a spec']\n"})
    with pytest.raises(registry.BrokenSource, match=rf"{package}\.odd\.METRICS"):
        registry.discover(package)


def test_the_exporters_package_holds_every_source_and_the_service_table_orders_them() -> None:
    found = registry.discover()
    expected = ("jsonstatus", "postgres", "probe", "redis", "security", "system", "training")
    assert (found.exporters, found.metric_only) == (expected, ("app",))  # by name
    assert found.all == registry.SOURCES
    # The one order they are read in is the service table's, which places every service.
    order = ["system", "postgres", "redis", "probe", "security", "training", "jsonstatus", "app"]
    assert topology.job_order(found.all) == order
    assert [s.name for s in topology.services() if s.kind is topology.Kind.EXPORTER] == order
    # The metrics reference is written in that order, not the discovery's.
    reference = docs.render_reference(docs.ordered_sources())
    assert [line[4:] for line in reference.splitlines() if line.startswith("### ")] == order


def test_every_source_name_maps_to_its_module_and_unknown_names_are_refused() -> None:
    for name in ("system", "postgres", "redis", "probe", "security", "training", "app"):
        assert registry.module_name(name) == f"exporters.{name}"
    with pytest.raises(registry.ExporterNotFound,
                       match=r"unknown exporter 'mysql'.*known: jsonstatus, postgres, probe"):
        registry.load_exporter("mysql")
    with pytest.raises(registry.ExporterNotFound, match="metric-only"):
        registry.load_exporter("app")
    with pytest.raises(registry.ExporterNotFound, match="does not exist"):
        registry.load_exporter("tests.fixtures.not_written_yet")


def test_multi_target_exporters_get_a_target_label_on_the_collector_families() -> None:
    success = runtime_metrics("promfleet_pg", multi_target=True)[0]
    assert success.name == "promfleet_pg_scrape_collector_success"
    assert success.labels == ("collector", "target")


def test_the_metrics_table_lists_name_type_labels_and_help(fixture_sources: str) -> None:
    table = docs.render(registry.all_metric_specs(fixture_sources))
    assert "### demo" in table
    assert "| `promfleet_demo_value` | gauge | `kind` | The configured demo value. |" in table
    assert "| `promfleet_demo_events_total` | counter | - |" in table


def test_docs_check_fails_on_a_stale_readme_and_passes_after_write(
    fixture_sources: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{docs.START}\nold table\n{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 1
    assert "stale" in capsys.readouterr().err
    assert docs.main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text
    assert "- [demo](" in text and "#demo): " in text
    assert "promfleet_demo_value" not in text, "the README keeps an index, not the tables"
    assert text.startswith("# t\n") and text.endswith(f"{docs.END}\n\nafter\n")
    assert docs.main(["--check", str(readme)]) == 0


def test_the_reference_file_is_written_whole_and_checked(
    fixture_sources: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    fixture_sources: str, tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert docs.main(["--write", str(readme)]) == 2
    assert readme.read_text() == "# no markers\n"


def test_docs_refuse_to_document_when_a_source_cannot_be_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = _package(tmp_path, monkeypatch, {
        "demo": DEMO,
        "broken": "import not_a_module_anywhere\n",
    })
    monkeypatch.setattr(docs, "all_metric_specs", lambda: registry.all_metric_specs(package))
    reference = tmp_path / "metrics.md"
    assert docs.main(["--write", str(reference)]) == 2
    assert not reference.exists()
    assert f"{package}.broken" in capsys.readouterr().err


def test_the_committed_readme_index_and_docs_metrics_md_are_current() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    sources = docs.ordered_sources()
    assert docs.render_index(sources, "docs/metrics.md") in readme
    reference = (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert reference == docs.render_reference(sources), (
        "run .venv/bin/python -m exporters.docs --write README.md docs/metrics.md"
    )
