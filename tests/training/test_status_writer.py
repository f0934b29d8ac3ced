"""The status writer trainers use: atomic replacement under a concurrent reader, validation."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from exporters.training.sources import read_directory
from exporters.training.status import StatusWriter

MAX_WRITES = 400
MAX_SECONDS = 4.0


def test_a_reader_never_sees_half_a_record_while_writers_replace_files_concurrently(
    tmp_path: Path,
) -> None:
    writers = [StatusWriter(tmp_path) for _ in range(2)]
    stop = threading.Event()
    written = [0, 0]
    # A long loss history makes each file several kilobytes: many write() calls per record.
    padding = "x" * 150

    def write(index: int) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        step = 0
        while not stop.is_set() and step < MAX_WRITES and time.monotonic() < deadline:
            step += 1
            writers[index].job(
                f"run-{index}",
                model="resnet50",
                state="running",
                step=step,
                progress=step / MAX_WRITES,
                eval_metric_name="top1",
                note=padding * 40,
            )
            written[index] = step

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    reads = 0
    steps_seen: set[float] = set()
    try:
        deadline = time.monotonic() + MAX_SECONDS + 1
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            result = read_directory(str(tmp_path), max_file_bytes=65_536, max_records=100)
            reads += 1
            assert result.up
            assert not result.rejected, result.problems
            for record in result.records:
                steps_seen.add(getattr(record, "step", 0.0))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert reads > 10 and min(written) > 10, (reads, written)
    assert len(steps_seen) > 1, "the reader saw the records change while they were rewritten"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left"


def test_a_hidden_temporary_file_being_written_is_never_read(tmp_path: Path) -> None:
    (tmp_path / ".job-run-9.json.abc123.tmp").write_text('{"schema_version": 1, "kind": "jo')
    (tmp_path / "job-run-9.json.partial").write_text("{")
    result = read_directory(str(tmp_path), max_file_bytes=65_536, max_records=100)
    assert result.records == [] and not result.rejected


def test_the_writer_stamps_version_and_time_and_names_the_file_by_kind_and_id(
    tmp_path: Path,
) -> None:
    writer = StatusWriter(tmp_path / "status")  # created when missing
    before = time.time()
    path = writer.job("run-1", model="m1", state="pending", gpus=(1, 0))
    assert path.name == "job-run-1.json"
    document = json.loads(path.read_text())
    assert document["schema_version"] == 1
    assert before <= document["updated_at"] <= time.time()
    assert document["gpus"] == [1, 0]
    assert writer.drift("m1", drift_type="data", detections=1).name == "drift-m1.data.json"
    assert writer.remove("job", "run-1") and not writer.remove("job", "run-1")


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "paused"},
        {"progress": 2.0},
        {"model": "a model with spaces"},
    ],
)
def test_the_writer_refuses_an_invalid_record_and_leaves_the_old_one(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    writer = StatusWriter(tmp_path)
    path = writer.job("run-1", model="m1", state="running", progress=0.5)
    old = path.read_text()
    fields: dict[str, object] = {"model": "m1", "state": "running", **bad}
    with pytest.raises(ValueError, match="not a valid status record"):
        writer.job("run-1", **fields)  # type: ignore[arg-type]
    assert path.read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["job-run-1.json"]


def test_a_named_pipe_called_json_is_rejected_without_blocking_the_reader(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "job-run-1.json")  # no writer will ever open it
    outcome: dict[str, object] = {}

    def read() -> None:
        outcome["result"] = read_directory(str(tmp_path), max_file_bytes=65_536, max_records=9)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the reader blocked on the named pipe"
    result = outcome["result"]
    assert result.up and result.records == []  # type: ignore[attr-defined]
    assert result.rejected == {"unreadable": 1}, result.problems  # type: ignore[attr-defined]
