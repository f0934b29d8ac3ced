"""The runtime end to end: a fixture exporter served as a subprocess on a loopback port."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import socket
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from exporters.registry import exporter_specs
from exporters.runtime.server import _accepts_gzip
from tests.fixtures.demo import EXPORTER
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    run_exporter,
    sample_value,
    scrape,
)

DEMO = "tests.fixtures.demo"
NS = "promfleet_demo"
SUCCESS = f"{NS}_scrape_collector_success"
DURATION = f"{NS}_scrape_collector_duration_seconds"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"


def _failures(proc: ExporterProcess, collector: str) -> list[dict[str, object]]:
    return [
        r
        for r in proc.log_records()
        if r.get("msg") == "collector failed" and r.get("collector") == collector
    ]


def test_the_whole_scrape_matches_the_declaration_and_passes_promtool() -> None:
    with ExporterProcess(DEMO) as proc:
        status, headers, text = scrape(proc.url + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert_matches_declaration(text, exporter_specs(EXPORTER))
    assert promtool_check_metrics(text) == []
    for collector in ("value", "failing", "slow", "blocking"):
        assert sample_value(text, SUCCESS, {"collector": collector}) == 1.0


def test_a_failing_collector_gets_success_zero_is_logged_once_and_the_rest_is_served() -> None:
    with ExporterProcess(DEMO, "--demo.fail") as proc:
        for _ in range(3):
            status, _, text = scrape(proc.url + "/metrics")
            assert status == 200
            assert sample_value(text, SUCCESS, {"collector": "failing"}) == 0.0
            assert sample_value(text, SUCCESS, {"collector": "value"}) == 1.0
            assert sample_value(text, f"{NS}_value", {"kind": "a"}) == 1.0
            assert sample_value(text, DURATION, {"collector": "failing"}) is not None
            assert sample_value(text, f"{NS}_up", {"target": "main"}) is None
        failures = _failures(proc, "failing")
    assert len(failures) == 1
    assert "ConnectionRefusedError" in str(failures[0]["error"])


def test_a_collector_sleeping_past_the_deadline_is_cut_off_and_the_scrape_answers_in_time() -> None:
    with ExporterProcess(DEMO, "--demo.sleep=60s") as proc:
        # Answering long before the collector's 60 s proves the cut-off; the client waits
        # past the 2 s Prometheus timeout so a busy machine's scheduling delay cannot fail it.
        status, _, text = scrape(proc.url + "/metrics", headers={TIMEOUT_HEADER: "2"}, timeout=20)
    assert status == 200
    assert sample_value(text, SUCCESS, {"collector": "slow"}) == 0.0
    assert sample_value(text, SUCCESS, {"collector": "value"}) == 1.0
    assert sample_value(text, SUCCESS, {"collector": "blocking"}) == 1.0
    slow_duration = sample_value(text, DURATION, {"collector": "slow"})
    # 2 s less the 0.5 s offset, plus however late a loaded event loop runs the timer.
    assert slow_duration is not None and 1.4 <= slow_duration < 5.0
    assert sample_value(text, f"{NS}_slow_value") is None


def test_a_timeout_header_that_is_not_a_finite_positive_number_falls_back_to_the_default() -> None:
    with ExporterProcess(DEMO, "--demo.sleep=60s", "--scrape.default-timeout=0.5s") as proc:
        for header in ("inf", "nan", "-3"):
            # Without a deadline the sleeping collector would hold the scrape for 60 s.
            status, _, text = scrape(
                proc.url + "/metrics", headers={TIMEOUT_HEADER: header}, timeout=5.0
            )
            assert status == 200, header
            assert sample_value(text, SUCCESS, {"collector": "slow"}) == 0.0, header
            assert sample_value(text, SUCCESS, {"collector": "value"}) == 1.0, header


def test_a_stuck_blocking_collector_does_not_delay_the_next_scrapes() -> None:
    with ExporterProcess(DEMO, "--demo.block=120s", "--scrape.timeout-offset=0.2") as proc:
        for _ in range(6):
            status, _, text = scrape(
                proc.url + "/metrics", headers={TIMEOUT_HEADER: "1"}, timeout=1.0
            )
            assert status == 200
            assert sample_value(text, SUCCESS, {"collector": "blocking"}) == 0.0
            assert sample_value(text, SUCCESS, {"collector": "value"}) == 1.0
        # Later scrapes fail the stuck collector at once instead of stacking threads on it.
        assert sample_value(text, DURATION, {"collector": "blocking"}) == 0.0
        assert len(_failures(proc, "blocking")) == 1


def test_a_hundred_concurrent_scrapes_are_all_answered() -> None:
    async def scrape_all(url: str) -> list[tuple[int, str]]:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one() -> tuple[int, str]:
                async with session.get(url) as response:
                    return response.status, await response.text()

            return await asyncio.gather(*(one() for _ in range(100)))

    with ExporterProcess(DEMO, "--demo.block=20ms", "--demo.sleep=20ms") as proc:
        results = asyncio.run(scrape_all(proc.url + "/metrics"))
    assert len(results) == 100
    for status, text in results:
        assert status == 200
        assert sample_value(text, SUCCESS, {"collector": "blocking"}) == 1.0
        assert sample_value(text, SUCCESS, {"collector": "slow"}) == 1.0


def test_openmetrics_is_served_when_asked_for_and_gzip_when_allowed() -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    with ExporterProcess(DEMO) as proc:
        status, headers, text = scrape(proc.url + "/metrics", headers={"Accept": accept})
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n")
        names = {f.name for f in openmetrics_families(text)}  # type: ignore[no-untyped-call]
        assert {f"{NS}_events", f"{NS}_value", SUCCESS, "process_cpu_seconds"} <= names

        status, headers, text = scrape(
            proc.url + "/metrics", headers={"Accept-Encoding": "gzip, deflate"}
        )
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert sample_value(text, f"{NS}_events_total") == 3.0

        status, headers, _ = scrape(proc.url + "/metrics", headers={"Accept-Encoding": "br"})
        assert status == 200 and "content-encoding" not in headers


def test_gzip_body_is_really_compressed() -> None:
    import urllib.request

    with ExporterProcess(DEMO) as proc:
        request = urllib.request.Request(proc.url + "/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
    assert raw[:2] == b"\x1f\x8b"
    assert b"promfleet_demo_value" in gzip.decompress(raw)


def test_probe_needs_a_known_target_and_serves_only_its_collectors() -> None:
    with ExporterProcess(DEMO) as proc:
        status, _, text = scrape(proc.url + "/probe")
        assert status == 400 and "target" in text
        status, _, text = scrape(proc.url + "/probe?target=elsewhere")
        assert status == 400 and "unknown target" in text and "elsewhere" in text
        status, _, text = scrape(proc.url + "/probe?target=main")
    assert status == 200
    assert sample_value(text, f"{NS}_up", {"target": "main"}) == 1.0
    assert sample_value(text, SUCCESS, {"collector": "failing"}) == 1.0
    assert sample_value(text, SUCCESS, {"collector": "slow"}) is None
    assert sample_value(text, "process_resident_memory_bytes") is None


def test_the_landing_page_lists_the_exporter_its_collectors_and_links() -> None:
    with ExporterProcess(DEMO) as proc:
        status, headers, text = scrape(proc.url + "/")
        health_status, _, health = scrape(proc.url + "/healthz")
    assert status == 200 and headers["content-type"].startswith("text/html")
    for word in ("demo", "value", "failing", "slow", "blocking", "/metrics", "/probe"):
        assert word in text
    assert health_status == 200 and health.strip() == "ok"


def _refuses_connections(port: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_during_a_slow_scrape_stops_accepting_lets_it_finish_and_exits_zero(
    signum: signal.Signals, tmp_path: Path
) -> None:
    marker = tmp_path / "slow-collector-started"
    env = {"PROMFLEET_DEMO_SLOW_MARKER": str(marker)}
    with ExporterProcess(DEMO, "--demo.sleep=6s", env=env) as proc:
        result: dict[str, tuple[int, dict[str, str], str]] = {}

        def slow_scrape() -> None:
            result["scrape"] = scrape(
                proc.url + "/metrics", headers={TIMEOUT_HEADER: "20"}, timeout=30
            )

        worker = threading.Thread(target=slow_scrape)
        worker.start()
        # Signal once the scrape is waiting on the slow collector, not after a guess.
        deadline = time.monotonic() + 15
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the scrape never reached the slow collector"
        proc.signal(signum)
        # New connections are refused while the scrape in flight still runs.
        assert _refuses_connections(proc.port, within_s=3.0)
        assert worker.is_alive()
        worker.join(timeout=15)
        assert proc.wait_exit(timeout=15) == 0
    status, _, text = result["scrape"]
    assert status == 200
    assert sample_value(text, SUCCESS, {"collector": "slow"}) == 1.0
    assert sample_value(text, f"{NS}_slow_value") == 1.0


def test_bad_settings_from_flags_env_and_file_exit_2_naming_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "demo.yml"
    config.write_text("demo.sleep: soon\nunknown.key: 1\n")
    result = run_exporter(
        DEMO,
        "--web.listen-address=127.0.0.1:0",
        f"--config.file={config}",
        "--demo.value=zero",
        "--bogus",
        env={"PROMFLEET_DEMO_LOG_LEVEL": "loud"},
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    record = json.loads(lines[0])
    named = {(p["option"], p["source"].split(" ")[0]) for p in record["problems"]}
    assert named == {
        ("demo.sleep", "file"),
        ("unknown.key", "file"),
        ("demo.value", "flag"),
        ("--bogus", "flag"),
        ("log.level", "env"),
    }


def test_an_unknown_exporter_or_a_module_not_written_exits_2_with_a_clear_message() -> None:
    result = run_exporter("nosuch")
    assert result.returncode == 2 and "unknown exporter 'nosuch'" in result.stderr
    result = run_exporter("tests.fixtures.not_written_yet")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_settings_build_refuses_exit_2() -> None:
    result = run_exporter(DEMO, "--web.listen-address=127.0.0.1:0", "--demo.refuse")
    assert result.returncode == 2 and "demo.refuse" in result.stderr


def test_help_lists_options_and_exits_0() -> None:
    result = run_exporter(DEMO, "--help")
    assert result.returncode == 0
    assert "--demo.sleep=" in result.stdout and "PROMFLEET_DEMO_DEMO_SLEEP" in result.stdout


def test_no_secret_reaches_the_logs_the_scrape_or_the_landing_page(tmp_path: Path) -> None:
    secret = "hunter2-correct-horse"
    secret_file = tmp_path / "password"
    secret_file.write_text(secret + "\n")
    with ExporterProcess(
        DEMO,
        "--demo.fail",
        "--log.level=debug",
        env={"PROMFLEET_DEMO_DEMO_PASSWORD_FILE": str(secret_file)},
    ) as proc:
        _, _, metrics = scrape(proc.url + "/metrics")
        _, _, landing = scrape(proc.url + "/")
        help_text = run_exporter(DEMO, "--help", env={"PROMFLEET_DEMO_DEMO_PASSWORD": secret})
    logs = proc.logs()
    assert "collector failed" in logs and "<redacted>" in logs
    for text in (logs, metrics, landing, help_text.stdout, help_text.stderr):
        assert secret not in text


def test_sigterm_awaits_the_exporters_asynchronous_close(tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    with ExporterProcess(DEMO, env={"PROMFLEET_DEMO_CLOSE_MARKER": str(marker)}) as proc:
        status, _, _ = scrape(proc.url + "/metrics")
        assert status == 200
        proc.signal(signal.SIGTERM)
        assert proc.wait_exit(timeout=15) == 0
    assert marker.read_text() == "closed 4 collectors\n"


def test_a_huge_timeout_header_is_capped() -> None:
    from exporters.runtime.config import RuntimeConfig
    from exporters.runtime.server import MAX_SCRAPE_TIMEOUT_S, scrape_timeout

    runtime = RuntimeConfig("127.0.0.1", 0, "", "info", 0.5, 10.0)
    assert scrape_timeout("1e9", runtime) == MAX_SCRAPE_TIMEOUT_S - 0.5
    assert scrape_timeout("15", runtime) == 14.5


@pytest.mark.parametrize(
    ("header", "gzip_allowed"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip; q=0", False),
        ("gzip;Q=0.000", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),  # gzip named and refused: the wildcard does not bring it back
        ("*;q=0, gzip", True),
        ("gzip;q=soon", False),
        ("br", False),
        ("", False),
    ],
)
def test_gzip_is_used_only_when_accept_encoding_allows_it(header: str, gzip_allowed: bool) -> None:
    assert _accepts_gzip(header) is gzip_allowed
