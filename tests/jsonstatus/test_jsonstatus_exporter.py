"""The jsonstatus exporter end to end: ``python -m exporters jsonstatus`` reading the demo
stand-in (``python -m exporters.jsonstatus.demo``), both processes this test starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from exporters.jsonstatus import EXPORTER
from exporters.registry import exporter_specs
from tests.helpers import (
    REPO_ROOT,
    ExporterProcess,
    assert_matches_declaration,
    child_env,
    free_port,
    promtool_check_metrics,
    run_exporter,
    sample_value,
    scrape,
)
from topology import jsonstatus_targets


@contextmanager
def status_demo() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporters.jsonstatus.demo", "--port", str(port)],
        cwd=REPO_ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the status demo did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_stacks_targets_read_from_the_demo_publish_the_declared_families(
    tmp_path: Path,
) -> None:
    with status_demo() as base:
        # The service table's own targets, pointed at this demo, plus one that is down.
        targets = json.loads(jsonstatus_targets().replace("http://{addr:status-demo}", base))
        targets.append({"name": "gone", "url": "http://127.0.0.1:9/", "mapping": "minixdr-ml"})
        config = tmp_path / "jsonstatus.yml"
        config.write_text(yaml.safe_dump({"targets": targets}))
        with ExporterProcess("jsonstatus", f"--config.file={config}") as exporter:
            status, _, text = scrape(f"{exporter.url}/metrics",
                                     headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"})
            _, _, one = scrape(f"{exporter.url}/probe?target=blindspotx")
    assert status == 200
    for target in ("minixdr-telemetry", "blindspotx", "mlsecurity"):
        assert sample_value(text, "promfleet_jsonstatus_up", {"target": target}) == 1
    assert sample_value(text, "promfleet_jsonstatus_up", {"target": "gone"}) == 0
    assert sample_value(text, "promfleet_jsonstatus_failure",
                        {"target": "gone", "reason": "connection"}) == 1
    # The collector ran and said the target is down: its success is honest, not a failure.
    assert sample_value(text, "promfleet_jsonstatus_scrape_collector_success",
                        {"collector": "status", "target": "gone"}) == 1
    assert sample_value(text, "promfleet_jsonstatus_blindspotx_component_up",
                        {"target": "blindspotx", "component": "oauth"}) == 1
    assert sample_value(text, "promfleet_jsonstatus_minixdr_workflows_active",
                        {"target": "minixdr-orchestrator"}) == 3
    assert "127.0.0.1" not in text
    assert_matches_declaration(text, exporter_specs(EXPORTER))
    assert promtool_check_metrics(text) == []
    assert "minixdr" not in one and sample_value(
        one, "promfleet_jsonstatus_up", {"target": "blindspotx"}) == 1


def test_a_bad_mapping_file_stops_the_exporter_naming_the_line_and_field(tmp_path: Path) -> None:
    own = tmp_path / "own.yml"
    own.write_text("own:\n  metrics:\n    - name: own_depth\n      type: gauge\n"
                   "      help: Depth.\n      value: queue..depth\n")
    targets = [{"name": "own", "url": "http://127.0.0.1:9/", "mapping_file": str(own)}]
    result = run_exporter("jsonstatus", f"--targets={json.dumps(targets)}",
                          "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 2
    assert "targets[0] (own)" in result.stderr
    assert "own.yml line 3: own.metrics[0] (own_depth): value: empty step" in result.stderr


def test_an_unknown_mapping_stops_the_exporter_naming_the_shipped_ones() -> None:
    targets = [{"name": "x", "url": "http://127.0.0.1:9/", "mapping": "minixdr"}]
    result = run_exporter("jsonstatus", f"--targets={json.dumps(targets)}",
                          "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 2
    assert "unknown mapping 'minixdr'" in result.stderr and "minixdr-telemetry" in result.stderr
