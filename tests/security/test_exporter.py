"""The security exporter end to end through the real runtime, and its deny-list."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from exporters.registry import exporter_specs
from exporters.security import EXPORTER, parse_logs
from exporters.security.denylist import DenyList
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    sample_value,
    scrape,
)


def write_config(tmp_path: Path, **extra: object) -> Path:
    config = {
        "logs": [
            {"name": "app", "path": str(tmp_path / "app.log"), "format": "json"},
            {"name": "nginx", "path": str(tmp_path / "access.log"), "format": "combined"},
        ],
        "position.file": str(tmp_path / "positions.json"),
        "denylist.file": str(tmp_path / "deny.conf"),
        "poll-interval": "50ms",
        **extra,
    }
    path = tmp_path / "security.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def metric(proc: ExporterProcess, name: str, labels: dict[str, str] | None = None) -> float:
    status, _, body = scrape(proc.url + "/metrics")
    assert status == 200
    return sample_value(body, name, labels) or 0.0


FAILED_LOGIN = '{"ip": "203.0.113.7", "event": "login_failed", "reason": "wrong_password"}\n'
ACCESS = (
    '198.51.100.4 - - [01/May/2024:10:40:00 +0000] "GET /q?id=1%27%20OR%201=1-- HTTP/1.1" '
    '403 12 "-" "sqlmap/1.7"\n'
)


def test_lines_appended_while_it_runs_become_metrics_matching_the_declaration(
    tmp_path: Path,
) -> None:
    append(tmp_path / "app.log", FAILED_LOGIN)  # before start: skipped (start at the end)
    with ExporterProcess("security", f"--config.file={write_config(tmp_path)}") as proc:
        append(tmp_path / "app.log", FAILED_LOGIN * 6)
        append(tmp_path / "access.log", ACCESS)
        wait_for(lambda: metric(proc, "promfleet_security_log_lines_total", {"log": "nginx"}) == 1)
        wait_for(lambda: metric(proc, "promfleet_security_brute_force_detections_total") == 1)
        _, _, body = scrape(proc.url + "/metrics")
        assert_matches_declaration(body, exporter_specs(EXPORTER))
        assert promtool_check_metrics(body) == []
        assert (
            sample_value(body, "promfleet_security_auth_failures_total", {"reason": "bad_password"})
            == 6
        )
        assert (
            sample_value(body, "promfleet_security_attacks_total", {"kind": "sql_injection"}) == 1
        )
        assert sample_value(body, "promfleet_security_attacks_total", {"kind": "scanner"}) == 1
        assert sample_value(body, "promfleet_security_brute_force_sources") == 1
        assert "203.0.113.7" not in body and "sqlmap" not in body  # never a label value
        wait_for(lambda: "deny 203.0.113.7;" in (tmp_path / "deny.conf").read_text())
    deny = (tmp_path / "deny.conf").read_text()
    assert [line for line in deny.splitlines() if line.startswith("deny")] == [
        line for line in deny.splitlines() if "203.0.113.7" in line
    ]


def test_a_restart_resumes_from_the_position_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"start-at": "beginning"})
    append(tmp_path / "app.log", FAILED_LOGIN * 2)
    with ExporterProcess("security", f"--config.file={config}") as proc:
        wait_for(lambda: metric(proc, "promfleet_security_log_lines_total", {"log": "app"}) == 2)
    saved = json.loads((tmp_path / "positions.json").read_text())
    assert saved["logs"]["app"]["offset"] == os.path.getsize(tmp_path / "app.log")
    append(tmp_path / "app.log", FAILED_LOGIN * 3)  # while stopped
    with ExporterProcess("security", f"--config.file={config}") as proc:
        append(tmp_path / "app.log", FAILED_LOGIN)
        wait_for(lambda: metric(proc, "promfleet_security_log_lines_total", {"log": "app"}) >= 4)
        time.sleep(0.3)  # nothing more may arrive
        assert metric(proc, "promfleet_security_log_lines_total", {"log": "app"}) == 4


def test_a_bad_logs_option_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="format 'xml'"):
        parse_logs([{"name": "a", "path": "/x", "format": "xml"}])
    with pytest.raises(ValueError, match="name"):
        parse_logs([{"name": "Has Spaces", "path": "/x"}])
    with pytest.raises(ValueError, match="category"):
        parse_logs([{"name": "a", "path": "/x", "events": {"e": "nonsense"}}])


def test_the_deny_list_holds_only_addresses_and_forgets_them_after_the_ttl(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    path = tmp_path / "deny.conf"
    deny = DenyList(
        str(path), ttl_seconds=60, max_entries=2, never=("10.0.0.0/8",), clock=lambda: now[0]
    )
    assert deny.add("192.0.2.1")
    assert not deny.add("192.0.2.1; include /etc/passwd")  # text from a log line: refused
    assert not deny.add("10.1.2.3")  # never denied
    assert not deny.add("user:bob")
    assert deny.add("2001:db8::1")
    deny.flush()
    text = path.read_text()
    assert "deny 192.0.2.1;" in text and "deny 2001:db8::1;" in text
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    now[0] += 30
    assert deny.add("192.0.2.9")  # full: the entry expiring soonest goes
    assert len(deny) == 2 and deny.dropped == 1
    now[0] += 61
    deny.flush()
    assert [line for line in path.read_text().splitlines() if line.startswith("deny")] == []
    assert not list(tmp_path.glob(".tmp-*"))
