"""Training alerts fire live from status records the test writes, and reach engineering.

The stack scrapes a real training exporter reading a status directory the test owns.
A failed job's record pages the engineering on-call receiver (critical) and resolves
when the record is removed; a running job whose record was last written 20 minutes
ago raises the stall warning in the engineering chat; a status directory that goes
away raises the source-down warning and resolves when it is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.training.status import StatusWriter
from generator.model import Catalogue
from generator.stack import Member
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def status_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("training-status")


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, status_dir: Path) -> LiveStack:
    member = Member(
        "training",
        "exporters.training",
        argv=(
            "-m",
            "exporters",
            "training",
            "--web.listen-address={listen}",
            f"--directory={status_dir}",
            "--gpu.enabled=false",
        ),
    )
    return live_stack(members=[member])


def test_a_failed_job_record_pages_engineering_and_resolves_when_the_record_goes(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    writer = StatusWriter(status_dir)
    started = time.monotonic()
    writer.job("live-1", model="live-model", state="failed", progress=0.4, ended_at=time.time())
    delivery = stack.wait_for_alert(
        "TrainingJobFailed", timeout=PAGE_TIMEOUT_S, model="live-model", job="training"
    )
    print(f"\nrecord to page: {delivery.received_at - started:.2f} s -> {delivery.receiver}")
    assert delivery.labels["severity"] == "critical"
    assert delivery.labels["team"] == "engineering"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "critical")
    assert delivery.labels["instance"] == stack.address("training")
    assert delivery.annotations["runbook_url"].endswith("/TrainingJobFailed.md")

    assert writer.remove("job", "live-1")
    resolved = stack.wait_for_alert(
        "TrainingJobFailed", timeout=PAGE_TIMEOUT_S, status="resolved", model="live-model"
    )
    assert resolved.receiver == delivery.receiver


def test_a_running_job_that_stopped_writing_raises_the_stall_warning(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    writer = StatusWriter(status_dir)
    writer.write(
        {
            "kind": "job",
            "job_id": "live-2",
            "model": "live-model",
            "state": "running",
            "progress": 0.2,
            "started_at": time.time() - 3600,
        },
        now=time.time() - 1200,  # last written 20 minutes ago: no progress since
    )
    delivery = stack.wait_for_alert(
        "TrainingJobStalled", timeout=PAGE_TIMEOUT_S, job_id="live-2", model="live-model"
    )
    assert delivery.labels["severity"] == "warning"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
    assert "has not updated its status" in delivery.annotations["description"]


def test_a_status_directory_that_goes_away_raises_the_source_down_warning(
    stack: LiveStack, status_dir: Path, catalogue: Catalogue
) -> None:
    # Last in the module: the directory is moved away, then put back for what follows.
    moved = status_dir.with_name(status_dir.name + "-away")
    status_dir.rename(moved)
    try:
        delivery = stack.wait_for_alert(
            "TrainingStatusSourceDown", timeout=PAGE_TIMEOUT_S, source="directory"
        )
    finally:
        moved.rename(status_dir)
    assert delivery.labels["severity"] == "warning"
    assert delivery.labels["job"] == "training"
    assert delivery.receiver == expected_receiver(catalogue, "engineering", "warning")
    resolved = stack.wait_for_alert(
        "TrainingStatusSourceDown", timeout=PAGE_TIMEOUT_S, status="resolved", source="directory"
    )
    assert resolved.receiver == delivery.receiver
