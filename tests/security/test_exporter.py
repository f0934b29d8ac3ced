"""The security exporter end to end through the real runtime, and its deny-list."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from exporters.registry import exporter_specs
from exporters.security import EXPORTER, OPTIONS, parse_logs
from exporters.security.denylist import DenyList
from exporters.security.detect import BruteForcePolicy
from generator.catalogue import security as catalogue
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
        # One request is one attack: the payload names it, sqlmap's user agent does not
        # count it a second time, and its 403 is not also an access_denied event.
        assert sample_value(body, "promfleet_security_attacks_total", {"kind": "scanner"}) == 0
        events = {
            category: sample_value(body, "promfleet_security_events_total", {"category": category})
            for category in ("attack", "access_denied", "auth_failure", "brute_force")
        }
        # Six failed logins are six events: the fifth starts the brute-force run.
        assert events == {"attack": 1, "access_denied": 0, "auth_failure": 5, "brute_force": 1}
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
    with pytest.raises(ValueError, match="fields: 'path' must be text, got None"):
        parse_logs([{"name": "a", "path": "/x", "fields": {"path": None}}])
    with pytest.raises(ValueError, match="events: 'e' must be text"):
        parse_logs([{"name": "a", "path": "/x", "events": {"e": ["auth_failure"]}}])


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
    assert deny.rejected == {"not_an_address": 2, "allowed_network": 1}
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


def test_a_restart_keeps_the_deny_list_entries_that_have_not_expired(tmp_path: Path) -> None:
    now = [1_714_560_000.0]
    path = tmp_path / "deny.conf"
    first = DenyList(str(path), ttl_seconds=600, never=("10.0.0.0/8",), clock=lambda: now[0])
    assert first.add("192.0.2.1")
    now[0] += 300
    assert first.add("2001:db8::7")
    assert first.add("10.9.9.9") is False
    first.flush()
    with open(path, "a", encoding="utf-8") as handle:  # an operator's line, and a bad one
        handle.write("deny 198.51.100.0/24;\ndeny not-an-address;  # until 2099-01-01T00:00:00Z\n")
    now[0] += 301  # 192.0.2.1 has expired, 2001:db8::7 has 299 s left
    second = DenyList(str(path), ttl_seconds=600, never=("10.0.0.0/8",), clock=lambda: now[0])
    assert second.load() == 1
    assert second.additions == 0  # nothing new was detected
    second.flush()
    denied = [line for line in path.read_text().splitlines() if line.startswith("deny")]
    assert denied == ["deny 2001:db8::7;  # until 2024-05-01T10:55:00Z automatic brute_force"]
    now[0] += 300
    second.flush()
    assert [line for line in path.read_text().splitlines() if line.startswith("deny")] == []


def test_the_brute_force_defaults_are_the_catalogues_policy() -> None:
    defaults = {option.name: option.default for option in OPTIONS}
    assert defaults["brute-force.failures"] == catalogue.BRUTE_FORCE_FAILURES
    assert defaults["brute-force.window"] == catalogue.BRUTE_FORCE_WINDOW_SECONDS
    assert BruteForcePolicy() == BruteForcePolicy(
        catalogue.BRUTE_FORCE_FAILURES, catalogue.BRUTE_FORCE_WINDOW_SECONDS
    )


def denied_403(proc: ExporterProcess) -> float:
    return metric(proc, "promfleet_security_http_denied_responses_total", {"code": "403"})


def test_rotation_by_rename_and_by_copytruncate_while_it_runs_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    log, old = tmp_path / "app.log", tmp_path / "app.log.1"
    (tmp_path / "deny.conf").write_text("deny 192.0.2.44;  # until 2099-01-01T00:00:00Z\n")
    forbidden = "".join(f'{{"n": {i}, "status": 403}}\n' for i in range(10))
    append(log, "")
    with ExporterProcess("security", f"--config.file={write_config(tmp_path)}") as proc:
        kept = {"origin": "automatic"}
        assert metric(proc, "promfleet_security_denylist_entries", kept) == 1  # kept from before
        append(log, forbidden)
        wait_for(lambda: denied_403(proc) == 10)
        append(log, forbidden)  # maybe not read yet when the file is renamed
        os.rename(log, old)
        append(old, forbidden)  # the writer has not reopened yet
        append(log, forbidden)  # the new file
        wait_for(lambda: denied_403(proc) == 40)
        append(log, forbidden)  # maybe not read yet when the file is copied
        shutil.copyfile(log, old)
        os.truncate(log, 0)
        append(log, forbidden[: len(forbidden) // 2])
        wait_for(lambda: denied_403(proc) >= 55)
        time.sleep(0.5)  # nothing more may arrive
        assert denied_403(proc) == 55
        rotations = {
            kind: metric(
                proc, "promfleet_security_log_rotations_total", {"log": "app", "kind": kind}
            )
            for kind in ("rename", "truncate")
        }
        assert rotations == {"rename": 1, "truncate": 1}
        skipped = {"log": "app", "reason": "truncated"}
        assert metric(proc, "promfleet_security_log_lines_skipped_total", skipped) == 0
