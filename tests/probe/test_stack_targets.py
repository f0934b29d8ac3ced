"""The browser-automation dependency and the background scheduler are probe targets of
the local stack, and the demo app answers both: probed for real, they are up and healthy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from runner.members import default_members
from tests.helpers import ExporterProcess, free_port, sample_value, scrape


def probe_targets() -> list[dict[str, object]]:
    probe = next(m for m in default_members({}) if m.name == "probe")
    targets: list[dict[str, object]] = json.loads(probe.env["PROMFLEET_PROBE_TARGETS"])
    return targets


def test_the_stack_probes_the_browser_automation_dependency_and_the_scheduler() -> None:
    urls = {t["name"]: t["url"] for t in probe_targets()}
    assert urls["browser-automation"] == "http://{addr:app}/healthz/browser"
    assert urls["scheduler"] == "http://{addr:app}/healthz/scheduler"


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, _, _ = scrape(url)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_the_demo_answers_both_and_the_probe_finds_them_healthy() -> None:
    port = free_port()
    app = subprocess.Popen(
        (sys.executable, "-m", "exporters.app.demo", "--port", str(port), "--job-interval", "1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz")
        targets = [
            {**t, "url": str(t["url"]).replace("{addr:app}", f"127.0.0.1:{port}")}
            for t in probe_targets()
            if t["name"] in ("browser-automation", "scheduler")
        ]
        env = {"PROMFLEET_PROBE_TARGETS": json.dumps(targets)}
        with ExporterProcess("probe", env=env) as proc:
            _, _, body = scrape(proc.url + "/metrics")
            for name in ("browser-automation", "scheduler"):
                assert sample_value(body, "promfleet_probe_success", {"target": name}) == 1
                assert (
                    sample_value(body, "promfleet_probe_health_status",
                                 {"target": name, "status": "healthy"}) == 1
                )
    finally:
        app.terminate()
        app.wait(timeout=30)
