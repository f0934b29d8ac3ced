"""The probe exporter end to end: ``python -m exporters probe`` against servers this test runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from exporters.probe import EXPORTER
from exporters.registry import exporter_specs
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    sample_value,
    scrape,
)

HEALTH = {
    "/healthy": (200, {"status": "healthy", "dependencies": {"redis": True}}),
    "/degraded": (200, {"status": "degraded", "dependencies": {"redis": False}}),
}


class _Handler(BaseHTTPRequestHandler):
    hang = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/hang":
            _Handler.hang.wait(10)  # bounded: released when the test ends
        code, body = HEALTH.get(self.path, (404, {"status": "unknown"}))
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def health_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Handler.hang.set()
        server.shutdown()
        server.server_close()


@contextmanager
def probe_exporter(tmp_path: Path, base: str) -> Iterator[ExporterProcess]:
    config = {
        "targets": [
            {"name": "api", "url": f"{base}/healthy"},
            {"name": "worker", "url": f"{base}/degraded", "dependencies": ["redis", "database"]},
            {"name": "stuck", "url": f"{base}/hang", "timeout": "30s"},
        ]
    }
    path = tmp_path / "probe.yml"
    path.write_text(yaml.safe_dump(config))
    with ExporterProcess("probe", f"--config.file={path}") as exporter:
        yield exporter


def test_static_targets_are_probed_on_a_metrics_scrape(tmp_path: Path) -> None:
    with health_server() as base, probe_exporter(tmp_path, base) as exporter:
        status, _, text = scrape(
            f"{exporter.url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"}
        )
    assert status == 200
    assert sample_value(text, "promfleet_probe_success", {"target": "api"}) == 1
    degraded = {"target": "worker", "status": "degraded"}
    assert sample_value(text, "promfleet_probe_health_status", degraded) == 1
    worker_redis = {"target": "worker", "dependency": "redis"}
    assert sample_value(text, "promfleet_probe_dependency_up", worker_redis) == 0
    # Listed but not reported by the body: down.
    worker_db = {"target": "worker", "dependency": "database"}
    assert sample_value(text, "promfleet_probe_dependency_up", worker_db) == 0
    assert (
        sample_value(text, "promfleet_probe_failure", {"target": "stuck", "reason": "timeout"}) == 1
    )
    stuck_timeout = sample_value(text, "promfleet_probe_timeout_seconds", {"target": "stuck"})
    # Prometheus' 2 s, less the runtime's offset and the probe's own: never the 30 s configured.
    assert stuck_timeout is not None and 0 < stuck_timeout < 2
    assert "127.0.0.1" not in text  # labels carry target names, never addresses
    assert_matches_declaration(
        text,
        exporter_specs(EXPORTER),
        allow_missing={"promfleet_probe_tls_certificate_expiry_timestamp_seconds"},
    )
    assert promtool_check_metrics(text) == []


def test_probe_mode_probes_one_named_target_and_refuses_unknown_ones(tmp_path: Path) -> None:
    with health_server() as base, probe_exporter(tmp_path, base) as exporter:
        status, _, text = scrape(f"{exporter.url}/probe?target=api")
        assert status == 200
        unknown_status, _, _ = scrape(f"{exporter.url}/probe?target={base}/healthy")
    assert sample_value(text, "promfleet_probe_success", {"target": "api"}) == 1
    assert "worker" not in text and "stuck" not in text
    assert unknown_status == 400  # a URL is refused unless allow-urls is set


def test_probe_mode_with_allow_urls_labels_an_ad_hoc_url_adhoc(tmp_path: Path) -> None:
    config = {"targets": [], "allow-urls": True}
    path = tmp_path / "probe.yml"
    path.write_text(yaml.safe_dump(config))
    with health_server() as base, ExporterProcess("probe", f"--config.file={path}") as exporter:
        status, _, text = scrape(f"{exporter.url}/probe?target={base}/degraded")
        refused, _, _ = scrape(f"{exporter.url}/probe?target=file:///etc/passwd")
    assert status == 200
    assert sample_value(text, "promfleet_probe_success", {"target": "adhoc"}) == 1
    degraded = {"target": "adhoc", "status": "degraded"}
    assert sample_value(text, "promfleet_probe_health_status", degraded) == 1
    assert "127.0.0.1" not in text  # the URL is never a label value
    assert refused == 400
