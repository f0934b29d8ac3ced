"""The training exporter end to end through the runtime: declared families, promtool, secrets."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from exporters.registry import exporter_specs
from exporters.training import EXPORTER
from exporters.training.status import StatusWriter, redis_key, to_hash
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    run_exporter,
    sample_value,
    scrape,
)
from tests.training.conftest import REDIS_URL

NS = "promfleet_training"
# Families that need a GPU (none in CI) or its absence.
GPU_FAMILIES = (
    f"{NS}_gpu_info",
    f"{NS}_gpu_up",
    f"{NS}_gpu_utilisation_ratio",
    f"{NS}_gpu_memory_used_bytes",
    f"{NS}_gpu_memory_total_bytes",
    f"{NS}_gpu_temperature_celsius",
    f"{NS}_gpu_power_watts",
    f"{NS}_gpu_unavailable_info",
)


def fill(directory: Path) -> None:
    writer = StatusWriter(directory)
    now = time.time()
    writer.job(
        "r1",
        model="m1",
        state="running",
        progress=0.5,
        epoch=2,
        step=10,
        loss=0.3,
        eval_metric=0.7,
        samples_per_second=10,
        started_at=now - 60,
        gpus=[0],
    )
    writer.job("q1", model="m1", state="pending")
    writer.job("f1", model="m1", state="failed", progress=0.2, started_at=now - 90, ended_at=now)
    writer.model(
        "m1",
        state="loaded",
        load_progress=1,
        memory_bytes=1e9,
        load_seconds=12,
        accuracy=0.93,
        accuracy_floor=0.9,
    )
    writer.drift("m1", drift_type="concept", detections=1, last_detection_at=now)
    writer.federated(
        "fed", participants_connected=3, participants_expected=4, rounds=2, last_aggregation_at=now
    )


def test_a_scrape_publishes_exactly_the_declared_families_and_passes_promtool(
    tmp_path: Path, redis_client: redis.Redis, redis_prefix: str
) -> None:
    fill(tmp_path)
    redis_client.hset(
        redis_key(redis_prefix, {"kind": "job", "job_id": "r9"}),
        mapping=to_hash({"kind": "job", "job_id": "r9", "model": "m2", "state": "running"}),  # type: ignore[arg-type]
    )
    # A password the shared Redis does not need (redis-py goes on when none is configured):
    # it must reach neither a log line, the landing page nor a label.
    secret_url = REDIS_URL
    if "@" not in REDIS_URL:
        secret_url = REDIS_URL.replace("redis://", "redis://:not-the-password@", 1)
    with ExporterProcess(
        "training",
        f"--directory={tmp_path}",
        f"--redis.key-prefix={redis_prefix}",
        env={"PROMFLEET_TRAINING_REDIS_URL": secret_url},
    ) as exporter:
        status, _, text = scrape(exporter.url + "/metrics")
        _, _, landing = scrape(exporter.url + "/")
        logs = exporter.logs()
    assert status == 200
    assert_matches_declaration(text, exporter_specs(EXPORTER), allow_missing=GPU_FAMILIES)
    assert promtool_check_metrics(text) == []
    assert sample_value(text, f"{NS}_jobs", {"model": "m2", "state": "running"}) == 1
    assert sample_value(text, f"{NS}_scrape_collector_success", {"collector": "records"}) == 1
    assert sample_value(text, f"{NS}_scrape_collector_success", {"collector": "gpu"}) == 1
    assert sample_value(text, f"{NS}_source_up", {"source": "redis"}) == 1
    assert "not-the-password" not in logs + landing + text


def test_a_bad_option_value_exits_with_status_2_naming_it() -> None:
    result = run_exporter("training", "--web.listen-address=127.0.0.1:0", "--jobs.max=0")
    assert result.returncode == 2
    assert "jobs.max" in result.stderr
    result = run_exporter(
        "training", "--web.listen-address=127.0.0.1:0", "--redis.key-prefix=has*glob"
    )
    assert result.returncode == 2 and "redis.key-prefix" in result.stderr
