"""README "How to add an exporter", followed: one module with METRICS, OPTIONS, a collector,
build and EXPORTER is served by the runtime as declared, and once registered the generator
and the metrics reference know its metrics."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from exporters import docs, registry
from generator.validate import known_metrics_from_exporters
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    sample_value,
    scrape,
)
from tests.recipes.support import UPTIME_EXPORTER, exporter_package, python_path


def fake_proc(root: Path) -> Path:
    proc = root / "proc"
    proc.mkdir()
    (proc / "uptime").write_text("12345.67 24000.00\n")
    return proc


def test_a_new_exporter_module_is_served_with_its_declared_families(tmp_path: Path) -> None:
    name = exporter_package(tmp_path, "uptime", UPTIME_EXPORTER)  # step 1
    proc = fake_proc(tmp_path)
    with ExporterProcess(name, f"--proc.path={proc}", env=python_path(tmp_path)) as exporter:
        status, _, text = scrape(exporter.url + "/metrics")
        landing_status, _, _ = scrape(exporter.url + "/")
    assert status == 200 and landing_status == 200
    assert sample_value(text, "promfleet_uptime_seconds") == 12345.67
    success = "promfleet_uptime_scrape_collector_success"
    assert sample_value(text, success, {"collector": "uptime"}) == 1.0

    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
        assert_matches_declaration(text, registry.exporter_specs(module.EXPORTER))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)
        sys.modules.pop("recipe_exporters", None)
    assert promtool_check_metrics(text) == []


def test_a_registered_exporter_is_known_to_the_generator_and_the_metrics_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = exporter_package(tmp_path, "uptime", UPTIME_EXPORTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    # Step 2 adds "uptime" to EXPORTERS; a dotted module path is the same entry for a
    # module that lives outside exporters/.
    monkeypatch.setattr(registry, "EXPORTERS", (*registry.EXPORTERS, name))
    monkeypatch.setattr(registry, "SOURCES", (*registry.SOURCES, name))
    try:
        assert "promfleet_uptime_seconds" in known_metrics_from_exporters()
        reference = docs.render_reference(registry.all_metric_specs())
        assert f"### {name}" in reference
        assert "| `promfleet_uptime_seconds` | gauge | - | Seconds since the machine booted. |" in (
            reference
        )
    finally:
        sys.modules.pop(name, None)
        sys.modules.pop("recipe_exporters", None)
