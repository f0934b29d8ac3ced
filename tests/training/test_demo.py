"""The demo trainer fleet writes valid, realistic records that the training exporter reads,
and stays under every training alert's threshold except the flaky job's failure."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from exporters.training import demo
from exporters.training.collector import RecordsCollector, RecordsConfig
from exporters.training.records import JobRecord, ModelRecord, Rejection, parse_record
from exporters.training.status import StatusWriter, stamp
from tests.training.families import collect, value

NS = "promfleet_training"
DAY_START = 1_800_000_000.0 - (1_800_000_000.0 % 86_400)  # a midnight, UTC


def _at(now: float) -> list[Any]:
    return [parse_record(stamp(document, now)) for document in demo.fleet(now)]


def test_every_record_of_the_fleet_is_valid_at_every_minute_of_a_day() -> None:
    for minute in range(0, 24 * 60, 7):
        now = DAY_START + minute * 60 + 13.5
        rejected = [r for r in _at(now) if isinstance(r, Rejection)]
        assert rejected == [], f"at minute {minute}: {rejected}"


def test_the_fleet_always_has_running_pending_and_failed_jobs_and_one_model_loading() -> None:
    for minute in range(0, 24 * 60, 5):
        now = DAY_START + minute * 60 + 1.0
        records = _at(now)
        jobs = [r for r in records if isinstance(r, JobRecord)]
        states = [j.state for j in jobs]
        assert states.count("running") >= 2
        assert 2 <= states.count("pending") <= 5, "the queue alert starts at 10"
        failed = [j for j in jobs if j.state == "failed"]
        assert failed and all(now - j.end_time < 3600 for j in failed), (
            "a failed job within the one-hour retention window")
        models = {r.model: r for r in records if isinstance(r, ModelRecord)}
        loading = [m for m in models.values() if m.state == "loading"]
        assert len(loading) == 1
        assert (loading[0].load_seconds or 0) < 600, "the slow-load warning waits 10 minutes"
        for model in models.values():
            assert model.accuracy is not None and model.accuracy_floor is not None
            assert model.accuracy > model.accuracy_floor


def test_the_healthy_fleet_has_no_failed_job_all_day_and_the_same_jobs_otherwise() -> None:
    for minute in range(0, 24 * 60, 5):
        now = DAY_START + minute * 60 + 1.0
        healthy = demo.fleet(now, healthy=True)
        assert not [r for r in healthy if r.get("state") == "failed"]
        usual = demo.fleet(now)
        assert [r.get("job_id") for r in healthy] == [r.get("job_id") for r in usual]


def test_a_running_job_advances_its_step_and_accuracy_while_its_loss_falls() -> None:
    start = DAY_START + 1800 * 3 + 60  # a minute into a resnet50 run
    early, late = (
        next(r for r in _at(t) if isinstance(r, JobRecord) and r.model == "resnet50"
             and r.state == "running")
        for t in (start, start + 900)
    )
    assert early.job_id == late.job_id
    assert late.step is not None and early.step is not None and late.step > early.step
    assert late.epoch is not None and early.epoch is not None and late.epoch > early.epoch
    assert late.loss is not None and early.loss is not None and late.loss < early.loss
    assert late.eval_metric is not None and early.eval_metric is not None
    assert late.eval_metric > early.eval_metric
    assert late.progress is not None and early.progress is not None
    assert late.progress > early.progress


def test_the_exporter_reads_the_written_fleet_and_old_runs_are_removed(tmp_path: Path) -> None:
    writer = StatusWriter(tmp_path)
    clock_now = [DAY_START + 100.0]
    collector = RecordsCollector(RecordsConfig(), directory=str(tmp_path),
                                 clock=lambda: clock_now[0])
    written, removed = demo.write(writer, clock_now[0])
    assert (written, removed) == (len(demo.fleet(clock_now[0])), 0)
    families = collect(collector)
    assert value(families, f"{NS}_source_up", {"source": "directory"}) == 1
    for kind, count in (("job", 9), ("model", 3), ("drift", 2), ("federated", 1)):
        got = value(families, f"{NS}_records", {"source": "directory", "kind": kind})
        assert got is not None and got >= (count if kind != "job" else 8), kind
    for reason in ("malformed", "invalid", "outdated"):
        assert value(families, f"{NS}_records_rejected",
                     {"source": "directory", "reason": reason}) == 0
    assert value(families, f"{NS}_jobs", {"model": "bert-base", "state": "failed"}) == 1
    assert value(families, f"{NS}_federated_participants", {"model": "fraud-detector"}) == 10

    # Three hours on: the runs of three hours ago are gone from the directory.
    clock_now[0] += 3 * 3600
    _, removed = demo.write(writer, clock_now[0])
    assert removed > 0
    names = {p.name for p in tmp_path.glob("job-*.json")}
    expected = {f"job-{d['job_id']}.json" for d in demo.fleet(clock_now[0]) if d["kind"] == "job"}
    assert names == expected


def test_once_writes_the_fleet_and_the_loop_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    assert demo.main(["--directory", str(tmp_path / "once"), "--once"]) == 0
    assert len(list((tmp_path / "once").glob("*.json"))) == len(demo.fleet(time.time()))

    loop_dir = tmp_path / "loop"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporters.training.demo", "--directory", str(loop_dir),
         "--interval", "200ms"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not list(loop_dir.glob("model-*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(loop_dir.glob("model-*.json")), "the loop wrote nothing"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert '"event": "stopped"' in err
    assert not list(loop_dir.glob(".*.tmp")), "a temporary file was left behind"
