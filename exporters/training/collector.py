"""The records collector: reads every configured source, merges, and builds the families.

:func:`record_families` is pure (records, the time, the config in; families out) and holds
the policy: outdated records, the retention window of finished jobs, the caps on models
and jobs, and the zero-filled states that let an alert resolve.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric

from exporters.spec import Collector, ScrapeContext
from exporters.training.metrics import (
    FAMILIES,
    JOB_STATES,
    MODEL_STATES,
    REJECT_REASONS,
)
from exporters.training.records import (
    KINDS,
    DriftRecord,
    FederatedRecord,
    JobRecord,
    ModelRecord,
    Record,
)
from exporters.training.sources import RedisSource, SourceResult, read_directory

log = logging.getLogger("promfleet.exporters.training")

# Problems remembered so each is logged once, not on every scrape; bounded.
_MAX_REMEMBERED_PROBLEMS = 1000


@dataclass(frozen=True)
class RecordsConfig:
    """How records are judged and how many series they may make."""

    max_age_s: float = 3600.0  # a record not rewritten for this long is outdated
    retention_s: float = 3600.0  # a finished job's series stay this long after it ends
    models_max: int = 100
    jobs_max: int = 200
    max_records: int = 10_000  # documents read per source and scrape
    max_file_bytes: int = 65_536


def _is_expired(record: Record, now: float, cfg: RecordsConfig) -> bool:
    return (
        isinstance(record, JobRecord)
        and record.finished
        and (now - record.end_time > cfg.retention_s)
    )


def _is_outdated(record: Record, now: float, cfg: RecordsConfig) -> bool:
    if isinstance(record, JobRecord) and record.finished:
        return False  # a finished job's life is the retention window, not the heartbeat
    return now - record.updated_at > cfg.max_age_s


def record_families(
    results: Sequence[SourceResult], now: float, cfg: RecordsConfig
) -> list[Metric]:
    """The families for one scrape from what the sources returned (pure)."""
    out = FAMILIES.start()
    merged: dict[tuple[str, ...], Record] = {}
    dropped: Counter[str] = Counter()
    for result in results:
        out.add("source_up", (result.source,), 1.0 if result.up else 0.0)
        if not result.up:
            continue
        rejected = Counter(result.rejected)
        accepted: Counter[str] = Counter()
        dropped["record"] += result.dropped
        for record in result.records:
            if _is_outdated(record, now, cfg):
                rejected["outdated"] += 1
                continue
            accepted[record.kind] += 1
            if _is_expired(record, now, cfg):
                continue
            seen = merged.get(record.key)
            if seen is None or record.updated_at > seen.updated_at:
                merged[record.key] = record
        for kind in KINDS:
            out.add("records", (result.source, kind), float(accepted[kind]))
        for reason in REJECT_REASONS:
            out.add("records_rejected", (result.source, reason), float(rejected[reason]))

    records = sorted(merged.values(), key=lambda r: r.key)
    models = sorted({r.model for r in records})
    allowed = set(models[: cfg.models_max])
    dropped["model"] = len(models) - len(allowed)

    jobs = [r for r in records if isinstance(r, JobRecord)]
    out.add("pending_jobs", (), float(sum(1 for j in jobs if j.state == "pending")))
    by_state: dict[str, Counter[str]] = {}
    for job in jobs:
        if job.model in allowed:
            by_state.setdefault(job.model, Counter())[job.state] += 1
    for model, counts in sorted(by_state.items()):
        for state in JOB_STATES:
            out.add("jobs", (model, state), float(counts[state]))

    # Per-job series: running jobs first, then the most recently ended, up to the cap.
    active = [j for j in jobs if j.model in allowed and j.state != "pending"]
    active.sort(key=lambda j: (j.state != "running", -j.end_time, j.job_id))
    dropped["job"] = max(0, len(active) - cfg.jobs_max)
    for job in sorted(active[: cfg.jobs_max], key=lambda j: (j.model, j.job_id)):
        labels = (job.model, job.job_id)
        out.add("job_running", labels, 1.0 if job.state == "running" else 0.0)
        out.add("job_progress_ratio", labels, job.progress)
        out.add("job_epoch", labels, job.epoch)
        out.add("job_step", labels, job.step)
        out.add("job_loss", labels, job.loss)
        out.add("job_eval_metric", labels, job.eval_metric)
        out.add("job_samples_per_second", labels, job.samples_per_second)
        out.add("job_last_update_timestamp_seconds", labels, job.updated_at)
        out.add("job_start_timestamp_seconds", labels, job.started_at)
        if job.state == "failed":
            out.add("job_failed_timestamp_seconds", labels, job.end_time)

    gpu_jobs: Counter[int] = Counter()
    for job in jobs:
        if job.state == "running":
            gpu_jobs.update(job.gpus)
    for gpu, count in sorted(gpu_jobs.items()):
        out.add("gpu_jobs_running", (str(gpu),), float(count))

    for record in records:
        if record.model not in allowed:
            continue
        if isinstance(record, ModelRecord):
            model = record.model
            for state in MODEL_STATES:
                out.add("model_state", (model, state), 1.0 if record.state == state else 0.0)
            out.add("model_load_progress_ratio", (model,), record.load_progress)
            out.add("model_memory_bytes", (model,), record.memory_bytes)
            out.add("model_load_duration_seconds", (model,), record.load_seconds)
            out.add("model_accuracy_ratio", (model,), record.accuracy)
            out.add("model_accuracy_floor_ratio", (model,), record.accuracy_floor)
        elif isinstance(record, DriftRecord):
            labels = (record.model, record.drift_type)
            out.add("drift_detections_total", labels, record.detections)
            out.add("drift_last_detection_timestamp_seconds", labels, record.last_detection_at)
        elif isinstance(record, FederatedRecord):
            model = record.model
            out.add("federated_participants", (model,), record.participants_connected)
            out.add("federated_participants_expected", (model,), record.participants_expected)
            out.add("federated_rounds_total", (model,), record.rounds)
            out.add(
                "federated_last_aggregation_timestamp_seconds",
                (model,),
                record.last_aggregation_at,
            )

    for name in ("job", "model", "record"):
        out.add("dropped_series", (name,), float(dropped[name]))
    return out.list()


class RecordsCollector(Collector):
    """Status records from the directory and/or Redis, read concurrently on each scrape.

    promfleet_training_jobs{model="resnet50",state="running"} 1
    promfleet_training_job_progress_ratio{job_id="run-42",model="resnet50"} 0.31
    promfleet_training_job_last_update_timestamp_seconds{job_id="run-42",model="resnet50"} 1.7e9
    promfleet_training_records_rejected{reason="malformed",source="directory"} 0
    """

    name = "records"

    def __init__(
        self,
        cfg: RecordsConfig,
        directory: str = "",
        redis: RedisSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.directory = directory
        self.redis = redis
        self.clock = clock
        self._source_errors: dict[str, str] = {}
        self._problems: dict[tuple[str, str], str] = {}

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        reads: list[Any] = []
        if self.directory:
            reads.append(
                ctx.run_blocking(
                    read_directory, self.directory, self.cfg.max_file_bytes, self.cfg.max_records
                )
            )
        if self.redis is not None:
            reads.append(self.redis.read(ctx.deadline))
        results: list[SourceResult] = list(await asyncio.gather(*reads))
        for result in results:
            self._log_changes(result)
        return record_families(results, self.clock(), self.cfg)

    def _log_changes(self, result: SourceResult) -> None:
        """One log line when a source fails or recovers, and one per newly rejected record."""
        before = self._source_errors.get(result.source, "")
        if result.error != before:
            fields = {"source": result.source}
            if result.error:
                log.warning(
                    "status source unreadable", extra={"fields": {**fields, "error": result.error}}
                )
            else:
                log.info("status source readable", extra={"fields": fields})
            self._source_errors[result.source] = result.error
        current: dict[tuple[str, str], str] = {}
        for where, reason, detail in result.problems:
            key = (result.source, where)
            current[key] = reason
            if self._problems.get(key) != reason:
                log.warning(
                    "status record rejected",
                    extra={
                        "fields": {
                            "source": result.source,
                            "record": where,
                            "reason": reason,
                            "detail": detail,
                        }
                    },
                )
        # Forget what was fixed or removed, so a recurrence is logged again.
        for key in [k for k in self._problems if k[0] == result.source and k not in current]:
            del self._problems[key]
        for key, reason in current.items():
            if len(self._problems) < _MAX_REMEMBERED_PROBLEMS or key in self._problems:
                self._problems[key] = reason

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
