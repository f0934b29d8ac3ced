"""A simulated trainer fleet for the demo stack: realistic status records in a directory.

``python -m exporters.training.demo --directory DIR (--once | --interval 5s)`` writes,
through :class:`~exporters.training.status.StatusWriter`, what a small ML platform
would: two training jobs running (epoch and step advancing, loss falling, accuracy
rising, samples/s), a queue of pending jobs, a completed job, a flaky fine-tuning job
that fails every cycle, a model server with one model loaded and one (re)loading, two
drift monitors and a federated-learning coordinator.

The fleet is a pure function of the wall clock (:func:`fleet`), so a restarted writer
carries on where the last one left off and ``--once`` gives the same picture the loop
would at that instant. What it leaves on purpose: the flaky job's failure (a failed job
is always within the exporter's one-hour retention, and ``TrainingJobFailed`` warns for
the 30 minutes after each failure). What it avoids: a stall, a queue over 10, a load
over 10 minutes, accuracy under its floor, concept drift, missing participants and a
late aggregation.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters.runtime.logs import Stopped, log_event, stop_on_signals
from exporters.spec import parse_duration
from exporters.training.status import SUFFIX, StatusWriter, file_name

DAY_S = 86_400.0


@dataclass(frozen=True)
class Trainer:
    """One recurring training job: a new run (job id ``<model>-<cycle>``) every cycle."""

    model: str
    cycle_s: float
    epochs: int
    steps_per_s: float
    samples_per_s: float
    gpus: tuple[int, ...]
    fail_at: float | None = None  # share of the cycle at which the run fails, if it does

    def run_s(self) -> float:
        return self.cycle_s * (self.fail_at if self.fail_at is not None else 1.0)


TRAINERS = (
    Trainer("resnet50", 1800.0, 30, 4.0, 950.0, (0, 1)),
    Trainer("transformer-lm", 10_800.0, 12, 1.5, 310.0, (2, 3)),
    # Runs for 25 of every 40 minutes, then fails: the last failure is always < 1 h old.
    Trainer("bert-base", 2400.0, 8, 2.0, 420.0, (4,), fail_at=0.625),
)
QUEUED_MODELS = ("resnet50", "transformer-lm", "bert-base", "whisper-small", "vit-b16")
# Served models that reload a new version every cycle, one after the other: at any time
# one of them is loading (for 5 minutes, under the 10-minute alert) and the other loaded.
RELOAD_CYCLE_S = 600.0
RELOADING = (("bert-base", 1.3e9, 0.91, 0.88), ("whisper-small", 9.6e8, 0.87, 0.85))
JOB_ID = re.compile(r"^job-(?P<model>[a-z0-9-]+)-(?P<tag>\d{6}|q\d)$")


def _wobble(now: float, period_s: float, amplitude: float) -> float:
    """A smooth, deterministic variation in [-amplitude, amplitude]."""
    return amplitude * math.sin(2.0 * math.pi * now / period_s)


def _job(trainer: Trainer, cycle: int, now: float) -> dict[str, Any]:
    """The record of the trainer's run number ``cycle`` as it stands at ``now``."""
    started = cycle * trainer.cycle_s
    run_s = trainer.run_s()
    elapsed = min(max(0.0, now - started), run_s)
    progress = elapsed / trainer.cycle_s
    ended = now >= started + run_s
    state = "running"
    if ended:
        state = "failed" if trainer.fail_at is not None else "completed"
    record: dict[str, Any] = {
        "kind": "job",
        "job_id": f"{trainer.model}-{cycle % 1_000_000:06d}",
        "model": trainer.model,
        "state": state,
        "progress": round(1.0 if state == "completed" else progress, 4),
        "epoch": min(trainer.epochs, math.floor(progress * trainer.epochs)),
        "step": math.floor(elapsed * trainer.steps_per_s),
        "loss": round(0.08 + 2.2 * math.exp(-3.5 * progress) + _wobble(now, 97, 0.01), 4),
        "eval_metric": round(0.5 + 0.43 * (1.0 - math.exp(-4.0 * progress)), 4),
        "eval_metric_name": "top1_accuracy",
        "samples_per_second": round(trainer.samples_per_s * (1 + _wobble(now, 61, 0.05)), 1),
        "started_at": started,
        "gpus": list(trainer.gpus),
    }
    if ended:
        record["ended_at"] = started + run_s
        if state == "failed":
            record.pop("samples_per_second")
    return record


def _jobs(now: float, healthy: bool = False) -> list[dict[str, Any]]:
    """Each trainer's current run and its previous one (completed or failed); with
    ``healthy`` the flaky trainer's runs complete instead of failing."""
    out: list[dict[str, Any]] = []
    for trainer in TRAINERS:
        if healthy:
            trainer = dataclasses.replace(trainer, fail_at=None)
        cycle = math.floor(now / trainer.cycle_s)
        out.append(_job(trainer, cycle - 1, now))
        out.append(_job(trainer, cycle, now))
    # The queue breathes between 2 and 5 jobs over an hour.
    waiting = round(3.5 + _wobble(now, 3600, 1.5))
    for index in range(waiting):
        model = QUEUED_MODELS[index % len(QUEUED_MODELS)]
        out.append(
            {"kind": "job", "job_id": f"{model}-q{index}", "model": model, "state": "pending"}
        )
    return out


def _models(now: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "kind": "model",
            "model": "resnet50",
            "state": "loaded",
            "load_progress": 1.0,
            "memory_bytes": 2.1e9,
            "load_seconds": 41.0,
            "accuracy": round(0.93 + _wobble(now, 1800, 0.008), 4),
            "accuracy_floor": 0.9,
        }
    ]
    half = RELOAD_CYCLE_S / 2
    phase = now % RELOAD_CYCLE_S
    for index, (model, memory, accuracy, floor) in enumerate(RELOADING):
        into = (phase - index * half) % RELOAD_CYCLE_S
        record: dict[str, Any] = {
            "kind": "model",
            "model": model,
            "accuracy": round(accuracy + _wobble(now, 2400, 0.01), 4),
            "accuracy_floor": floor,
        }
        if into < half:  # loading a new version: progress and time so far
            share = into / half
            record.update(state="loading", load_progress=round(share, 4),
                          memory_bytes=round(memory * share), load_seconds=round(into, 1))
        else:
            record.update(state="loaded", load_progress=1.0, memory_bytes=memory,
                          load_seconds=half)
        out.append(record)
    return out


def _monitors(now: float) -> list[dict[str, Any]]:
    """Drift monitors and the federated coordinator; both restart at midnight UTC, so their
    counters count from then (Prometheus' increase() handles the reset)."""
    midnight = math.floor(now / DAY_S) * DAY_S
    since = now - midnight
    data_detections = math.floor(since / 1800)  # data drift every half hour: a warning-free type
    return [
        {
            "kind": "drift",
            "model": "resnet50",
            "drift_type": "data",
            "detections": data_detections,
            "last_detection_at": midnight + data_detections * 1800 if data_detections else None,
        },
        # Concept drift was last seen yesterday: the counter holds still, nothing fires.
        {
            "kind": "drift",
            "model": "bert-base",
            "drift_type": "concept",
            "detections": 0,
        },
        {
            "kind": "federated",
            "model": "fraud-detector",
            "participants_connected": 10,
            "participants_expected": 10,
            "rounds": math.floor(since / 60),
            "last_aggregation_at": midnight + math.floor(since / 60) * 60,
        },
    ]


def fleet(now: float, healthy: bool = False) -> list[dict[str, Any]]:
    """Every record the demo fleet has at ``now`` (unstamped documents); ``healthy``
    leaves out the one failure the demo keeps on purpose."""
    return [*_jobs(now, healthy), *_models(now), *_monitors(now)]


def write(writer: StatusWriter, now: float, healthy: bool = False) -> tuple[int, int]:
    """Write the fleet at ``now`` and remove the demo's job records it no longer has
    (runs older than the previous one, queue entries that started). (written, removed)"""
    documents = fleet(now, healthy)
    keep = set()
    for document in documents:
        writer.write(document, now)
        keep.add(file_name(document))
    removed = 0
    for path in writer.directory.glob(f"job-*{SUFFIX}"):
        if path.name not in keep and JOB_ID.match(path.name.removesuffix(SUFFIX)):
            path.unlink(missing_ok=True)
            removed += 1
    return len(documents), removed


def _log(event: str, **fields: Any) -> None:
    log_event("promfleet.training.demo", event, **fields)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.training.demo",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", type=Path, required=True,
                        help="the status directory the training exporter reads")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="write the fleet once and exit")
    mode.add_argument("--interval", type=parse_duration,
                      help="rewrite the fleet this often (e.g. 5s) until SIGTERM")
    parser.add_argument("--healthy", action="store_true",
                        help="no job fails (the flaky job completes): a fleet in which no "
                        "warning or critical alert should even be pending")
    args = parser.parse_args(argv)
    try:
        writer = StatusWriter(args.directory)
    except OSError as err:
        _log("error", reason=f"cannot create {args.directory}: {err.strerror}")
        return 1
    if args.once:
        written, removed = write(writer, time.time(), args.healthy)
        _log("written", records=written, removed=removed, directory=str(args.directory))
        return 0
    if args.interval <= 0:
        parser.error("--interval must be more than zero")
    stop_on_signals()
    _log("started", directory=str(args.directory), interval_seconds=args.interval)
    try:
        while True:
            try:
                write(writer, time.time(), args.healthy)
            except OSError as err:  # a full disk: say so once a pass, keep trying
                _log("write_failed", reason=err.strerror or str(err))
            time.sleep(args.interval)
    except Stopped as stop:
        _log("stopped", signal=str(stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
