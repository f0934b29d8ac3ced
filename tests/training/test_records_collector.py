"""The records collector on a real status directory: jobs' lives, outdated and bad records, caps."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from exporters.training.collector import RecordsCollector, RecordsConfig
from exporters.training.status import StatusWriter
from tests.training.families import collect, exposition, value

NS = "promfleet_training"


class Clock:
    """Wall time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def make(tmp_path: Path, **cfg: float) -> tuple[RecordsCollector, StatusWriter, Clock]:
    clock = Clock()
    config = RecordsConfig(**cfg)  # type: ignore[arg-type]
    return (
        RecordsCollector(config, directory=str(tmp_path), clock=clock),
        StatusWriter(tmp_path),
        clock,
    )


def job_series(families: list, name: str, job: str, model: str = "m1") -> float | None:  # type: ignore[type-arg]
    return value(families, f"{NS}_{name}", {"model": model, "job_id": job})


def test_a_job_is_queued_runs_finishes_and_its_series_leave_after_the_retention_window(
    tmp_path: Path,
) -> None:
    collector, writer, clock = make(tmp_path, retention_s=600)
    writer.job("run-1", model="m1", state="pending")
    families = collect(collector)
    assert value(families, f"{NS}_pending_jobs") == 1
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "pending"}) == 1
    assert job_series(families, "job_running", "run-1") is None, "pending jobs have no job series"

    started = time.time()
    writer.job(
        "run-1",
        model="m1",
        state="running",
        progress=0.25,
        epoch=1,
        step=50,
        loss=0.7,
        eval_metric=0.6,
        samples_per_second=120,
        started_at=started,
    )
    families = collect(collector)
    assert value(families, f"{NS}_pending_jobs") == 0
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "running"}) == 1
    assert job_series(families, "job_running", "run-1") == 1
    assert job_series(families, "job_progress_ratio", "run-1") == 0.25
    assert job_series(families, "job_loss", "run-1") == 0.7
    assert job_series(families, "job_eval_metric", "run-1") == 0.6
    assert job_series(families, "job_start_timestamp_seconds", "run-1") == started
    updated = job_series(families, "job_last_update_timestamp_seconds", "run-1")
    assert updated is not None and abs(updated - time.time()) < 60

    writer.job("run-1", model="m1", state="completed", progress=1.0, ended_at=time.time())
    families = collect(collector)
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "completed"}) == 1
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "running"}) == 0
    assert job_series(families, "job_running", "run-1") == 0
    assert job_series(families, "job_progress_ratio", "run-1") == 1.0
    assert job_series(families, "job_failed_timestamp_seconds", "run-1") is None

    clock.offset = 601  # past the retention window
    families = collect(collector)
    assert job_series(families, "job_progress_ratio", "run-1") is None
    assert "job_id=" not in exposition(families)
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "completed"}) is None
    assert (
        value(families, f"{NS}_records_rejected", {"source": "directory", "reason": "outdated"})
        == 0
    )


def test_a_failed_job_counts_as_failed_until_its_retention_window_ends(tmp_path: Path) -> None:
    collector, writer, clock = make(tmp_path, retention_s=300)
    ended = time.time() - 30
    writer.job("run-2", model="m1", state="failed", ended_at=ended)
    families = collect(collector)
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "failed"}) == 1
    # The trainer's own end time, so an alert on it counts from the failure, not the scrape.
    assert job_series(families, "job_failed_timestamp_seconds", "run-2") == ended
    clock.offset = 301
    families = collect(collector)
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "failed"}) is None
    assert job_series(families, "job_failed_timestamp_seconds", "run-2") is None


def test_a_running_job_whose_trainer_stopped_writing_is_counted_as_outdated(tmp_path: Path) -> None:
    collector, writer, clock = make(tmp_path, max_age_s=900)
    writer.job("run-3", model="m1", state="running")
    writer.model("m1", state="loaded")
    clock.offset = 901
    families = collect(collector)
    reason = {"source": "directory", "reason": "outdated"}
    assert value(families, f"{NS}_records_rejected", reason) == 2
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "running"}) is None
    assert value(families, f"{NS}_records", {"source": "directory", "kind": "job"}) == 0


def test_bad_files_are_counted_by_reason_and_each_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, writer, _ = make(tmp_path, max_file_bytes=1000)
    writer.job("ok", model="m1", state="running")
    (tmp_path / "broken.json").write_text('{"schema_version": 1, "kind": "job", "upd')
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "future.json").write_text('{"schema_version": 7, "kind": "job"}')
    (tmp_path / "wrong.json").write_text(
        '{"schema_version": 1, "kind": "job", "updated_at": 1, "job_id": "j", "model": "m",'
        ' "state": "exploded"}'
    )
    (tmp_path / "huge.json").write_text(" " * 2000)
    (tmp_path / "dir.json").mkdir()
    with caplog.at_level(logging.WARNING, logger="promfleet.exporters.training"):
        families = collect(collector)
        collect(collector)
    expected = {
        "malformed": 2,
        "unsupported_version": 1,
        "invalid": 1,
        "too_large": 1,
        "outdated": 0,
        "unreadable": 0,
    }
    for reason, count in expected.items():
        assert (
            value(families, f"{NS}_records_rejected", {"source": "directory", "reason": reason})
            == count
        ), reason
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "running"}) == 1
    logged = [r for r in caplog.records if r.getMessage() == "status record rejected"]
    assert sorted(r.fields["record"] for r in logged) == [  # type: ignore[attr-defined]
        "broken.json",
        "future.json",
        "huge.json",
        "list.json",
        "wrong.json",
    ]


def test_models_and_jobs_beyond_their_caps_are_dropped_and_counted(tmp_path: Path) -> None:
    collector, writer, _ = make(tmp_path, models_max=2, jobs_max=2)
    for model in ("a", "b", "c"):
        writer.model(model, state="loaded", accuracy=0.9)
    writer.job("done", model="a", state="completed", ended_at=time.time())
    writer.job("r1", model="a", state="running")
    writer.job("r2", model="b", state="running")
    families = collect(collector)
    assert value(families, f"{NS}_dropped_series", {"set": "model"}) == 1
    assert value(families, f"{NS}_model_accuracy_ratio", {"model": "c"}) is None
    assert value(families, f"{NS}_model_accuracy_ratio", {"model": "b"}) == 0.9
    assert value(families, f"{NS}_dropped_series", {"set": "job"}) == 1
    # Running jobs keep their series before a finished one does.
    assert job_series(families, "job_running", "r1", "a") == 1
    assert job_series(families, "job_running", "r2", "b") == 1
    assert job_series(families, "job_running", "done", "a") is None


def test_more_files_than_records_max_are_not_read_and_are_counted(tmp_path: Path) -> None:
    collector, writer, _ = make(tmp_path, max_records=3)
    for index in range(5):
        writer.job(f"p{index}", model="m1", state="pending")
    families = collect(collector)
    assert value(families, f"{NS}_dropped_series", {"set": "record"}) == 2
    assert value(families, f"{NS}_pending_jobs") == 3


def test_models_drift_monitors_and_coordinators_are_published(tmp_path: Path) -> None:
    collector, writer, _ = make(tmp_path)
    writer.model(
        "m1",
        state="loading",
        load_progress=0.4,
        load_seconds=30,
        memory_bytes=2e9,
        accuracy=0.91,
        accuracy_floor=0.9,
    )
    writer.drift("m1", drift_type="concept", detections=3, last_detection_at=1.7e9)
    writer.federated(
        "fed",
        participants_connected=7,
        participants_expected=10,
        rounds=12,
        last_aggregation_at=1.7e9,
    )
    writer.job("r1", model="m1", state="running", gpus=[0, 3])
    writer.job("r2", model="m1", state="running", gpus=[3])
    families = collect(collector)
    states = {
        s: value(families, f"{NS}_model_state", {"model": "m1", "state": s})
        for s in ("loading", "loaded", "failed", "unloaded")
    }
    assert states == {"loading": 1, "loaded": 0, "failed": 0, "unloaded": 0}
    assert value(families, f"{NS}_model_load_progress_ratio", {"model": "m1"}) == 0.4
    assert value(families, f"{NS}_model_load_duration_seconds", {"model": "m1"}) == 30
    assert value(families, f"{NS}_model_memory_bytes", {"model": "m1"}) == 2e9
    assert value(families, f"{NS}_model_accuracy_floor_ratio", {"model": "m1"}) == 0.9
    labels = {"model": "m1", "type": "concept"}
    assert value(families, f"{NS}_drift_detections_total", labels) == 3
    assert value(families, f"{NS}_drift_last_detection_timestamp_seconds", labels) == 1.7e9
    assert value(families, f"{NS}_federated_participants", {"model": "fed"}) == 7
    assert value(families, f"{NS}_federated_participants_expected", {"model": "fed"}) == 10
    assert value(families, f"{NS}_federated_rounds_total", {"model": "fed"}) == 12
    assert value(families, f"{NS}_gpu_jobs_running", {"gpu": "3"}) == 2
    assert value(families, f"{NS}_gpu_jobs_running", {"gpu": "0"}) == 1


def test_a_missing_directory_is_reported_down_without_failing_the_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector = RecordsCollector(RecordsConfig(), directory=str(tmp_path / "absent"))
    with caplog.at_level(logging.WARNING, logger="promfleet.exporters.training"):
        families = collect(collector)
        collect(collector)
    assert value(families, f"{NS}_source_up", {"source": "directory"}) == 0
    assert len([r for r in caplog.records if r.getMessage() == "status source unreadable"]) == 1
    (tmp_path / "absent").mkdir()
    assert value(collect(collector), f"{NS}_source_up", {"source": "directory"}) == 1


def test_one_hostile_file_is_counted_and_the_other_records_are_still_published(
    tmp_path: Path,
) -> None:
    collector, writer, _ = make(tmp_path)
    writer.job("ok", model="m1", state="running", progress=0.5)
    (tmp_path / "nested.json").write_bytes(b"[" * 50_000)
    (tmp_path / "digits.json").write_bytes(b"9" * 5000)
    (tmp_path / "kind.json").write_text('{"schema_version": 1, "kind": ["job"]}')
    families = collect(collector)
    assert job_series(families, "job_progress_ratio", "ok") == 0.5
    rejected = {"source": "directory", "reason": "malformed"}
    assert value(families, f"{NS}_records_rejected", rejected) == 2
    invalid = {"source": "directory", "reason": "invalid"}
    assert value(families, f"{NS}_records_rejected", invalid) == 1
