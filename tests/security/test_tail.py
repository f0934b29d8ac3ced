"""Following real files: rotation by rename and copytruncate, partial lines, restarts."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exporters.security import LogsCollector, SecurityState, TailerStopped
from exporters.security.detect import BruteForcePolicy
from exporters.security.engine import Engine, LogConfig
from exporters.security.parse import FieldMap
from exporters.security.tail import LineSplitter, LogFollower, PositionFile, Tailer
from exporters.spec import ScrapeContext
from tests.security.test_engine import PERIOD, T0, assert_known_counts


def make(
    tmp_path: Path, start_at_end: bool = False, rotated: tuple[str, ...] = (), **kw: object
) -> tuple[Engine, LogFollower]:
    config = LogConfig(
        "app", str(tmp_path / "app.log"), "json", fields=FieldMap.for_format("json"),
        rotated=rotated,
    )
    engine = Engine((config,))
    follower = LogFollower(config, engine, max_line_bytes=4096, start_at_end=start_at_end, **kw)  # type: ignore[arg-type]
    return engine, follower


def lines(n: int, status: int = 401, start: int = 0) -> str:
    return "".join(json.dumps({"n": start + i, "status": status}) + "\n" for i in range(n))


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)


def copytruncate(log: Path, copy: Path) -> None:
    """What logrotate's copytruncate does: copy the log, then truncate it in place."""
    shutil.copyfile(log, copy)
    os.truncate(log, 0)


def settle(follower: LogFollower) -> None:
    for _ in range(100):
        if not follower.poll():
            return
    raise AssertionError("the follower never caught up")


def counted(engine: Engine) -> int:
    return engine.snapshot().denied["401"]


def test_starting_at_the_end_skips_old_lines_and_a_half_written_one(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, lines(5) + '{"n": 99, "sta')
    engine, follower = make(tmp_path, start_at_end=True)
    settle(follower)
    append(log, 'tus": 401}\n' + lines(3))
    settle(follower)
    assert counted(engine) == 4  # the line that was half written at start, and 3 more
    assert engine.snapshot().logs["app"].skipped["parse_error"] == 0


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path)
    append(log, lines(2) + '{"n": 2, "status"')
    settle(follower)
    assert counted(engine) == 2
    append(log, ": 401}")
    settle(follower)
    assert counted(engine) == 2
    append(log, "\n")
    settle(follower)
    assert counted(engine) == 3
    assert engine.snapshot().logs["app"].lines == 3


def test_rotation_by_rename_loses_and_repeats_nothing(tmp_path: Path) -> None:
    log, old = tmp_path / "app.log", tmp_path / "app.log.1"
    engine, follower = make(tmp_path)
    append(log, lines(3))
    settle(follower)
    append(log, lines(2, start=3))  # not read yet when the file is renamed
    os.rename(log, old)
    append(log, lines(4, start=5))  # the new file
    append(old, lines(1, start=9))  # the writer had not reopened yet
    settle(follower)
    append(old, '{"n": 10, "status": 401}')  # a last line without newline
    append(log, lines(2, start=11))
    settle(follower)
    follower.close()  # drains the old file and counts its unterminated last line
    snap = engine.snapshot()
    assert counted(engine) == 13
    assert snap.logs["app"].lines == 13
    assert snap.logs["app"].rotations == {"rename": 1, "truncate": 0}


def test_copytruncate_recovers_the_unread_lines_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path)
    append(log, lines(3))
    settle(follower)
    append(log, lines(2, start=3) + '{"n": 5, "status": 401}')  # unread, last one partial
    copytruncate(log, tmp_path / "app.log.1")
    append(log, lines(4, start=6))
    settle(follower)
    snap = engine.snapshot()
    assert counted(engine) == 10
    assert snap.logs["app"].lines == 10
    assert snap.logs["app"].rotations == {"rename": 0, "truncate": 1}


def test_two_copytruncates_between_polls_lose_and_repeat_nothing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path, rotated=(f"{log}.1", f"{log}.2"))
    append(log, lines(3))
    settle(follower)
    append(log, lines(2, start=3))  # unread when the first copytruncate comes
    copytruncate(log, tmp_path / "app.log.1")
    append(log, lines(4, start=5) + '{"n": 9, "status": 401}')  # a whole generation, unread
    # logrotate's second run, before the follower polls: .1 moves to .2, a new copy is .1
    os.replace(tmp_path / "app.log.1", tmp_path / "app.log.2")
    copytruncate(log, tmp_path / "app.log.1")
    append(log, lines(3, start=10))
    settle(follower)
    snap = engine.snapshot()
    assert counted(engine) == 13
    assert snap.logs["app"].lines == 13
    assert snap.logs["app"].rotations == {"rename": 0, "truncate": 2}
    assert sum(snap.logs["app"].skipped.values()) == 0


def test_truncation_without_a_copy_counts_the_lost_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path)
    append(log, lines(3) + '{"n": 3, "sta')
    settle(follower)
    os.truncate(log, 0)
    append(log, lines(2, start=4))
    settle(follower)
    snap = engine.snapshot()
    assert counted(engine) == 5
    assert snap.logs["app"].skipped["truncated"] == 1


def test_a_truncated_file_that_regrew_past_the_old_offset_is_read_again(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path)
    append(log, lines(2))
    settle(follower)
    with open(log, "wb") as handle:  # truncate and write more than before, between polls
        handle.write(lines(5, status=403).encode())
    settle(follower)
    snap = engine.snapshot()
    assert snap.denied == {"401": 2, "403": 5}
    assert snap.logs["app"].rotations["truncate"] == 1


def test_a_restart_with_the_position_file_neither_repeats_nor_skips(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    positions = PositionFile(str(tmp_path / "positions.json"))
    append(log, lines(3) + '{"n": 3, "status": 4')
    engine, follower = make(tmp_path, start_at_end=False)
    tailer = Tailer(engine, [follower], positions=positions)
    tailer.run_once()
    tailer.stop()
    assert counted(engine) == 3
    append(log, "01}\n" + lines(2, start=4))  # written while the exporter was stopped
    engine2, follower2 = make(tmp_path, start_at_end=True, saved=positions.load()["app"])
    settle(follower2)
    assert counted(engine2) == 3  # the completed partial line and the two new ones
    assert engine2.snapshot().logs["app"].lines == 3


def test_a_rotation_while_stopped_finishes_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    positions = PositionFile(str(tmp_path / "positions.json"))
    append(log, lines(3))
    engine, follower = make(tmp_path)
    tailer = Tailer(engine, [follower], positions=positions)
    tailer.run_once()
    tailer.stop()
    append(log, lines(2, start=3))
    os.rename(log, tmp_path / "app.log.1")
    append(log, lines(4, start=5))
    engine2, follower2 = make(tmp_path, start_at_end=True, saved=positions.load()["app"])
    settle(follower2)
    assert counted(engine2) == 6


def test_a_huge_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    engine, follower = make(tmp_path)
    append(log, lines(1))
    settle(follower)
    for _ in range(64):  # 4 MiB without a newline, against a 4 KiB cap
        append(log, b"x" * 65536)
        settle(follower)
        current = follower.current
        assert current is not None and len(current.splitter.partial) <= 4096
    append(log, "\n" + lines(2, start=1))
    settle(follower)
    snap = engine.snapshot()
    assert counted(engine) == 3
    assert snap.logs["app"].skipped["too_long"] == 1


def test_a_missing_file_is_reported_and_read_from_its_start_once_it_appears(
    tmp_path: Path,
) -> None:
    engine, follower = make(tmp_path, start_at_end=True)
    settle(follower)
    assert engine.snapshot().logs["app"].present is False
    append(tmp_path / "app.log", lines(2))
    settle(follower)
    snap = engine.snapshot()
    assert snap.logs["app"].present is True
    assert counted(engine) == 2


def test_the_splitter_hands_over_whole_lines_only() -> None:
    splitter = LineSplitter(max_line_bytes=10)
    assert splitter.feed(b"ab\ncd") == (b"ab\n", 0)
    assert splitter.feed(b"e\nf") == (b"cde\n", 0)
    assert splitter.feed(b"0123456789AB") == (b"", 1)
    assert splitter.feed(b"CD\ng\n") == (b"g\n", 0)
    assert splitter.finish() == b""


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the tailer did not get there in time")
        time.sleep(0.005)


@pytest.mark.slow
def test_a_million_lines_written_while_the_tailer_runs_through_both_rotations_count_exactly(
    tmp_path: Path,
) -> None:
    log, old = tmp_path / "app.log", tmp_path / "app.log.1"
    config = LogConfig("app", str(log), "json", fields=FieldMap.for_format("json"))
    engine = Engine((config,), BruteForcePolicy(failures=5, window_seconds=300), lambda: T0 + 1.0)
    follower = LogFollower(config, engine, max_line_bytes=65536, start_at_end=False)
    tailer = Tailer(engine, [follower], poll_seconds=0.005)
    chunk = ("\n".join(PERIOD * 1000) + "\n").encode()  # 20,000 lines
    cuts = (0, len(chunk) // 3 + 7, 2 * len(chunk) // 3 + 11, len(chunk))  # mid-line cuts

    def lines_read() -> int:
        return engine.snapshot().logs["app"].lines

    def rotations(kind: str) -> int:
        return engine.snapshot().logs["app"].rotations[kind]

    tailer.start()
    try:
        for index in range(50):
            # The writer stays about one chunk ahead, so a rotation finds unread lines.
            behind = 19 * 1000 * (index - 1)
            wait_for(lambda: lines_read() >= behind)  # noqa: B023 - called at once
            for start, end in itertools.pairwise(cuts):
                append(log, chunk[start:end])
                if index == 16 and start == cuts[1]:
                    # Rotation by rename mid-line: the writer finishes its line (and the
                    # chunk) in the renamed file before it reopens the path.
                    os.rename(log, old)
                    log.touch()  # logrotate's "create"
                    append(old, chunk[end:])
                    break
            if index == 16:
                wait_for(lambda: rotations("rename") == 1)
            if index == 33:  # copytruncate, on a line boundary as logrotate's copy is
                copytruncate(log, old)
                wait_for(lambda: rotations("truncate") == 1)
        wait_for(lambda: lines_read() >= 19 * 50_000)
    finally:
        tailer.stop()
    snap = engine.snapshot()
    assert_known_counts(snap, 50_000)
    assert snap.logs["app"].rotations == {"rename": 1, "truncate": 1}


def test_an_unreadable_log_is_counted_on_every_poll_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "app.log").mkdir()  # a directory where the log should be: open fails
    engine, follower = make(tmp_path)
    with caplog.at_level("WARNING", logger="promfleet.exporters.security"):
        for _ in range(5):
            follower.poll()
    assert engine.snapshot().logs["app"].read_errors == 5
    records = [json.loads(r.getMessage()) for r in caplog.records]
    assert records == [{"msg": "cannot open log", "log": "app", "error": "Is a directory"}]
    (tmp_path / "app.log").rmdir()
    append(tmp_path / "app.log", lines(1))
    settle(follower)
    assert counted(engine) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_tailer_thread_that_dies_fails_the_logs_collector_instead_of_freezing_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, follower = make(tmp_path)
    tailer = Tailer(engine, [follower], poll_seconds=0.01)
    state = SecurityState(engine, tailer, None)
    collector = LogsCollector(state)
    ctx = ScrapeContext.with_timeout(5)
    assert list(collector.collect_blocking(ctx))  # healthy before it starts

    def broken(log: str, block: bytes) -> None:
        raise ValueError("a bug in the engine")

    engine.process = broken  # type: ignore[method-assign]
    tailer.start()
    append(tmp_path / "app.log", lines(1))
    wait_for(lambda: tailer.failed, timeout=10)
    with pytest.raises(TailerStopped):
        list(collector.collect_blocking(ctx))
    assert {"msg": "log tailer stopped unexpectedly"} in [
        json.loads(r.getMessage()) for r in caplog.records
    ]
    tailer.stop()
    assert not tailer.failed  # stopped on purpose: not a failure
