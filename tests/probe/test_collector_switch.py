"""The probe exporter's one collector, ``http``: it declares every family, and
``--no-collector.http`` turns probing off on /metrics and on /probe, ad-hoc URLs too."""

from __future__ import annotations

from pathlib import Path

import yaml

from exporters import probe
from exporters.runtime.config import help_text
from exporters.spec import metrics_of
from tests.helpers import ExporterProcess, sample_value, scrape
from tests.probe.test_probe_exporter import health_server


def test_metrics_are_the_http_collector_s_declarations() -> None:
    assert probe.COLLECTORS == (probe.HTTP,)
    assert probe.EXPORTER.collectors == probe.COLLECTORS
    assert metrics_of(probe.HTTP.metrics) == probe.METRICS
    assert probe.HttpProbe.name == "http"
    assert "--collector.http=VALUE" in help_text(probe.EXPORTER)


def test_no_collector_http_probes_nothing(tmp_path: Path) -> None:
    with health_server() as base:
        config = {"targets": [{"name": "api", "url": f"{base}/healthy"}], "allow-urls": True}
        path = tmp_path / "probe.yml"
        path.write_text(yaml.safe_dump(config))
        with ExporterProcess("probe", f"--config.file={path}") as on:
            _, _, served = scrape(f"{on.url}/metrics")
        with ExporterProcess("probe", f"--config.file={path}", "--no-collector.http") as off:
            status, _, text = scrape(f"{off.url}/metrics")
            named, _, _ = scrape(f"{off.url}/probe?target=api")
            adhoc, _, _ = scrape(f"{off.url}/probe?target={base}/healthy")
    assert sample_value(served, "promfleet_probe_success", {"target": "api"}) == 1
    assert status == 200
    assert "promfleet_probe_success" not in text
    assert 'collector="http"' not in text
    assert "process_resident_memory_bytes" in text  # the runtime's own families still served
    assert named == 400 and adhoc == 400
