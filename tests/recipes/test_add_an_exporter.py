"""README "How to add an exporter", followed: one module with COLLECTORS, METRICS, OPTIONS,
a collector, build and EXPORTER is served by the runtime as declared, and once it is in
the exporters package, discovery alone brings its metrics to the generator and the metrics
reference, and the topology gives it its default port and a place in the job order."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from exporters import docs, registry
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    child_env,
    promtool_check_metrics,
    sample_value,
    scrape,
)
from tests.recipes.support import (
    UPTIME_EXPORTER,
    exporter_package,
    exporters_copy,
    python_path,
)


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


DISCOVERED = """\
import json

import topology
from exporters import docs, registry
from generator.validate import known_metrics_from_exporters

specs = docs.ordered_sources()
print(json.dumps({
    "registry": registry.__file__,
    "exporters": list(registry.discover().exporters),
    "known": sorted(m for m in known_metrics_from_exporters() if "_uptime_" in m),
    "reference": docs.render_reference(specs),
    "index": docs.render_index(specs, "docs/metrics.md"),
    "scraped": [[row.name, row.port] for row in topology.services() if row.scraped],
    "command": list(topology.service("uptime").command),
}))
"""


def test_a_new_exporter_module_is_discovered_by_the_generator_the_reference_and_topology(
    tmp_path: Path,
) -> None:
    # Step 1 is the whole of it: the module in exporters/ (here a copy of the package),
    # with no list to add it to; step 2's topology leaves it unlisted, so it runs with
    # its defaults.
    package = exporters_copy(tmp_path)
    (package / "uptime.py").write_text(UPTIME_EXPORTER)
    result = subprocess.run(
        [sys.executable, "-c", DISCOVERED],
        cwd=tmp_path,
        env=child_env(python_path(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["registry"]).is_relative_to(tmp_path)  # the copy was discovered
    # Discovered, by name; the reference reads it where the service table scrapes it.
    assert found["exporters"] == sorted([*registry.discover().exporters, "uptime"])
    headings = [line[4:] for line in found["reference"].splitlines() if line.startswith("### ")]
    assert headings[-2:] == ["uptime", "app"] and "training" in headings[:-2]
    assert "promfleet_uptime_seconds" in found["known"]
    assert "promfleet_uptime_scrape_collector_success" in found["known"]  # runtime's too
    assert "### uptime" in found["reference"]
    assert "| `promfleet_uptime_seconds` | gauge | - | Seconds since the machine booted. |" in (
        found["reference"]
    )
    assert "- [uptime](docs/metrics.md#uptime): " in found["index"]
    # Not listed in topology/: its ExporterDef.default_port, scraped after the listed
    # exporters and before the demo app, started by the runtime with its defaults.
    scraped = [tuple(row) for row in found["scraped"]]
    names = [name for name, _ in scraped]
    assert ("uptime", 9109) in scraped
    assert names.index("training") < names.index("uptime") == names.index("app") - 1
    assert found["command"] == ["-m", "exporters", "uptime", "--web.listen-address={listen}"]


def test_discovery_reads_any_package_the_same_way(tmp_path: Path) -> None:
    """What the generator and the reference call, pointed at a package of recipe modules:
    a module with EXPORTER is an exporter, and its declarations reach the reference."""
    exporter_package(tmp_path, "uptime", UPTIME_EXPORTER)
    sys.path.insert(0, str(tmp_path))
    try:
        found = registry.discover("recipe_exporters")
        assert found.exporters == ("uptime",) and found.metric_only == ()
        specs = registry.all_metric_specs("recipe_exporters")
        assert specs["uptime"][0].name == "promfleet_uptime_seconds"
        reference = docs.render_reference(specs)
        assert "### uptime" in reference
        assert "`promfleet_uptime_scrape_collector_success`" in reference
    finally:
        registry.discover.cache_clear()
        sys.path.remove(str(tmp_path))
        for module in ("recipe_exporters.uptime", "recipe_exporters"):
            sys.modules.pop(module, None)
