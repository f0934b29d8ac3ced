"""Structured logs: one JSON object a line, and no secret in any form it may take."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from exporters.runtime.logs import Stopped, log_event, setup_logging, stop_on_signals


def _log_error(secrets: list[str], message: str, **fields: object) -> str:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging("info", secrets, stream=stream)
    try:
        logging.getLogger("promfleet.test").error(message, extra={"fields": fields})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return stream.getvalue()


def test_a_record_is_one_json_line_with_its_fields_at_the_top_level() -> None:
    out = _log_error([], "collector failed", collector="cpu", error="OSError: gone")
    lines = out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "error" and record["logger"] == "promfleet.test"
    assert record["msg"] == "collector failed"
    assert record["collector"] == "cpu" and record["error"] == "OSError: gone"
    assert record["ts"].endswith("Z")


@pytest.mark.parametrize(
    ("secret", "leaked"),
    [
        # A driver's error quoting the password alone, not the whole DSN.
        ("postgresql://app:s3cr%40t@db:5432/app", 'password "s3cr@t" was refused'),
        ("postgresql://app:s3cr%40t@db:5432/app", "bad URL part s3cr%40t"),
        ("host=db user=app password=hunter22 dbname=app", "auth failed for hunter22"),
        ("host=db password='p w\\'x9' dbname=app", "got p w'x9 from the server"),
        ("redis://:redpass77@127.0.0.1:6379/0", "AUTH redpass77 rejected"),
        # A secret with a quote in it is written JSON-escaped in the line.
        ('tok"en\\x', 'header was tok"en\\x'),
    ],
)
def test_a_secret_is_redacted_whole_and_its_password_alone(secret: str, leaked: str) -> None:
    out = _log_error([secret], "collector failed", error=leaked)
    record = json.loads(out)
    assert "<redacted>" in record["error"]
    for fragment in ("s3cr", "hunter22", "p w'x9", "redpass77", 'tok"en'):
        assert fragment not in record["error"]


def test_a_secret_in_the_message_or_a_field_name_is_redacted_too() -> None:
    out = _log_error(["hunter22-long"], "could not use hunter22-long", target="main")
    assert "hunter22-long" not in out and "<redacted>" in json.loads(out)["msg"]


def test_log_event_writes_one_json_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    log_event("promfleet.test.demo", "written", lines=3, path=Path("/x/y"))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["logger"] == "promfleet.test.demo" and record["event"] == "written"
    assert record["lines"] == 3 and record["path"] == "/x/y"  # unserialisable as text
    assert isinstance(record["ts"], float)


def test_stop_on_signals_turns_the_named_signals_into_stopped() -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        stop_on_signals(signal.SIGUSR1)
        assert signal.getsignal(signal.SIGTERM) == saved[signal.SIGTERM]  # only those named
        with pytest.raises(Stopped, match="SIGUSR1"):
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)  # the handler runs at the next bytecode boundary
    finally:
        for each, handler in saved.items():
            signal.signal(each, handler)
