"""Training alerts fire live from status records the test writes, and reach engineering.

The stack scrapes a real training exporter reading a status directory the test owns.
A failed job warns the engineering receiver once, counted from the trainer's own end
time, and stops 30 minutes after the failure although its record stays (the test writes
a failure 28.5 minutes old, so the window closes within the test); a failure older than
that never warns. Of two running jobs, the one whose trainer stopped writing its status
file (last written 16 minutes ago, past the real 15-minute threshold: the rule is not
shortened) raises the stall warning while the one still writing every second stays
quiet, and the warning resolves once the trainer writes again. A status directory that
goes away raises the source-down warning and resolves when it is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.training.status import StatusWriter
from generator.model import Catalogue
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver, training_member

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def status_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("training-status")


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, status_dir: Path) -> LiveStack:
    return live_stack(members=[training_member(status_dir)])


def test_a_failed_job_warns_engineering_once_and_stops_while_its_record_stays(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    writer = StatusWriter(status_dir)
    now = time.time()
    # Failed 40 minutes ago (seen again after an exporter restart, say): reported then.
    writer.job("live-old", model="live-model", state="failed", ended_at=now - 2400)
    # Failed 28.5 minutes ago: warns now, for the 90 s left of its 30-minute window.
    writer.job("live-1", model="live-model", state="failed", progress=0.4, ended_at=now - 1710)
    delivery = stack.wait_for_alert(
        "TrainingJobFailed",
        expected_receiver(catalogue, "engineering", "warning"),
        timeout=PAGE_TIMEOUT_S,
        job_id="live-1",
        job="training"
    )
    assert delivery.labels["severity"] == "warning"
    assert delivery.labels["team"] == "engineering"
    assert delivery.labels["model"] == "live-model"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
    assert delivery.labels["instance"] == stack.address("training")
    assert delivery.annotations["runbook_url"].endswith("/TrainingJobFailed.md")

    resolved = stack.wait_for_alert(
        "TrainingJobFailed", delivery.receiver, timeout=90 + PAGE_TIMEOUT_S * 2,
        status="resolved", job_id="live-1",
    )
    assert resolved.receiver == delivery.receiver
    # Resolved by time, not because the evidence went: the failed records are still there.
    failed = stack.query(
        'promfleet_training_jobs{job="training",model="live-model",state="failed"}'
    )
    assert [float(s["value"][1]) for s in failed] == [2.0]
    # Counted at one receiver: a warning reaches both of its route's receivers.
    warned = stack.webhook.find(
        lambda d: d.name == "TrainingJobFailed" and d.status == "firing"
        and d.receiver == delivery.receiver
    )
    assert [d.labels["job_id"] for d in warned] == ["live-1"], "once, and only for live-1"
    for job_id in ("live-1", "live-old"):
        assert writer.remove("job", job_id)


def test_a_job_whose_trainer_stops_writing_stalls_and_resolves_when_it_writes_again(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    writer = StatusWriter(status_dir)
    started = time.time() - 3600

    def record(job_id: str, progress: float) -> dict[str, object]:
        return {
            "kind": "job",
            "job_id": job_id,
            "model": "live-model",
            "state": "running",
            "progress": progress,
            "started_at": started,
        }

    # live-busy's trainer rewrites its status file every second for the whole test.
    stop = threading.Event()

    def heartbeat() -> None:
        step = 0
        while not stop.wait(1.0) and step < 600:  # bounded: 10 minutes at most
            step += 1
            writer.write(record("live-busy", min(1.0, 0.3 + step / 1000)))

    writer.write(record("live-busy", 0.3))
    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        # live-2's trainer last wrote its status file 16 minutes ago and has hung since.
        writer.write(record("live-2", 0.2), now=time.time() - 960)
        delivery = stack.wait_for_alert(
            "TrainingJobStalled",
            expected_receiver(catalogue, "engineering", "warning"),
            timeout=PAGE_TIMEOUT_S,
            job_id="live-2",
            model="live-model"
        )
        assert delivery.labels["severity"] == "warning"
        assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
        assert "has not updated its status" in delivery.annotations["description"]
        # The job that keeps writing is watched too, and stays young.
        age = stack.wait_for_data(
            'instance_job_id:promfleet_training_job_update_age:seconds{job_id="live-busy"} < 60'
        )
        assert age, "live-busy's record should be seconds old"

        # The trainer comes back and writes its status again: the stall resolves.
        writer.write(record("live-2", 0.21))
        resolved = stack.wait_for_alert(
            "TrainingJobStalled", delivery.receiver, timeout=PAGE_TIMEOUT_S, status="resolved",
            job_id="live-2",
        )
        assert resolved.receiver == delivery.receiver
    finally:
        stop.set()
        thread.join(timeout=10)
    stalled = stack.webhook.find(lambda d: d.name == "TrainingJobStalled")
    assert {d.labels["job_id"] for d in stalled} == {"live-2"}
    for job_id in ("live-2", "live-busy"):
        assert writer.remove("job", job_id)


def test_a_status_directory_that_goes_away_raises_the_source_down_warning(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    # Last in the module: the directory is moved away, then put back for what follows.
    moved = status_dir.with_name(status_dir.name + "-away")
    status_dir.rename(moved)
    try:
        delivery = stack.wait_for_alert(
            "TrainingStatusSourceDown",
            expected_receiver(catalogue, "engineering", "warning"),
            timeout=PAGE_TIMEOUT_S,
            source="directory"
        )
    finally:
        moved.rename(status_dir)
    assert delivery.labels["severity"] == "warning"
    assert delivery.labels["job"] == "training"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
    resolved = stack.wait_for_alert(
        "TrainingStatusSourceDown", delivery.receiver, timeout=PAGE_TIMEOUT_S,
        status="resolved", source="directory",
    )
    assert resolved.receiver == delivery.receiver
