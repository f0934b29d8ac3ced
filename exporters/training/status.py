"""The status-writer helper for trainers and model servers: atomic records the exporter reads.

A training loop reports its state in one call per update::

    from exporters.training.status import StatusWriter

    status = StatusWriter("/var/lib/promfleet/training")
    status.job("run-42", model="resnet50", state="running", progress=0.31, epoch=3,
               step=1200, loss=0.41, eval_metric=0.87, eval_metric_name="top1",
               samples_per_second=950.0, started_at=t0, gpus=[0, 1])
    ...
    status.job("run-42", model="resnet50", state="completed", progress=1.0,
               started_at=t0, ended_at=time.time())

and a model server, a drift monitor and a federated-learning coordinator likewise::

    status.model("resnet50", state="loaded", memory_bytes=2.1e9, load_seconds=41.0,
                 accuracy=0.93, accuracy_floor=0.9)
    status.drift("resnet50", drift_type="concept", detections=3, last_detection_at=ts)
    status.federated("fraud", participants_connected=8, participants_expected=10,
                     rounds=12, last_aggregation_at=ts)

Each call validates the record (a bad one raises ``ValueError`` before anything is
written), stamps ``schema_version`` and ``updated_at``, and replaces the file
``<kind>-<id>.json`` atomically: it writes a hidden temporary file in the same
directory, flushes it to disk, then renames it over the old one. The exporter never
reads hidden or temporary files, so it sees the old record or the new one, never half of
one. Write at least once per ``--records.max-age`` (default 1 hour) while something is
alive, or its record counts as outdated; a running job that stops writing for 15
minutes raises the stall alert.

Teams that share state through Redis store the same fields as a hash; :func:`to_hash`
and :func:`redis_key` give the mapping and the key (``HSET key mapping``). Writers in
other languages follow ``status.schema.json`` beside this file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exporters.training.records import SCHEMA_VERSION, Rejection, parse_record

SUFFIX = ".json"


def record_id(document: Mapping[str, Any]) -> str:
    """The identity of a record within its kind (its file name without kind and suffix)."""
    kind = document.get("kind")
    if kind == "job":
        return str(document.get("job_id", ""))
    if kind == "drift":
        return f"{document.get('model', '')}.{document.get('drift_type', '')}"
    return str(document.get("model", ""))


def file_name(document: Mapping[str, Any]) -> str:
    """``<kind>-<id>.json``: one file per job, model, drift monitor or coordinator."""
    return f"{document['kind']}-{record_id(document)}{SUFFIX}"


def redis_key(prefix: str, document: Mapping[str, Any]) -> str:
    """``<prefix>:<kind>:<id>``, the key the Redis source finds with ``SCAN <prefix>:*``."""
    return f"{prefix}:{document['kind']}:{record_id(document)}"


def stamp(document: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """The document with ``schema_version`` and ``updated_at`` set, ``None`` values dropped,
    checked against the schema (``ValueError`` naming the problem if it does not hold)."""
    out = {k: v for k, v in document.items() if v is not None}
    if isinstance(out.get("gpus"), tuple):
        out["gpus"] = list(out["gpus"])
    out["schema_version"] = SCHEMA_VERSION
    out["updated_at"] = time.time() if now is None else now
    parsed = parse_record(out)
    if isinstance(parsed, Rejection):
        raise ValueError(f"not a valid status record: {parsed.detail}")
    return out


def to_hash(document: Mapping[str, Any], now: float | None = None) -> dict[str, str]:
    """The stamped document as Redis hash fields (numbers as text, GPU list as JSON)."""
    out: dict[str, str] = {}
    for key, value in stamp(document, now).items():
        if isinstance(value, list):
            out[key] = json.dumps(value)
        elif isinstance(value, float):
            out[key] = repr(value)
        else:
            out[key] = str(value)
    return out


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old or the new bytes only."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StatusWriter:
    """Writes status records into one directory (created if missing)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, document: Mapping[str, Any], now: float | None = None) -> Path:
        """Validate, stamp and atomically write one record; the file's path."""
        stamped = stamp(document, now)
        path = self.directory / file_name(stamped)
        data = json.dumps(stamped, sort_keys=True, separators=(",", ":")).encode("utf-8")
        write_atomically(path, data)
        return path

    def job(
        self,
        job_id: str,
        *,
        model: str,
        state: str,
        gpus: Iterable[int] | None = None,
        **fields: Any,
    ) -> Path:
        """A training job: state pending|running|completed|failed, plus progress fields."""
        document = {"kind": "job", "job_id": job_id, "model": model, "state": state, **fields}
        if gpus is not None:
            document["gpus"] = list(gpus)
        return self.write(document)

    def model(self, model: str, *, state: str, **fields: Any) -> Path:
        """A served model: state loading|loaded|failed|unloaded, memory, load time, accuracy."""
        return self.write({"kind": "model", "model": model, "state": state, **fields})

    def drift(self, model: str, *, drift_type: str, detections: int, **fields: Any) -> Path:
        """A drift monitor: ``detections`` counts since the monitor started (never resets)."""
        return self.write(
            {
                "kind": "drift",
                "model": model,
                "drift_type": drift_type,
                "detections": detections,
                **fields,
            }
        )

    def federated(
        self,
        model: str,
        *,
        participants_connected: int,
        participants_expected: int,
        **fields: Any,
    ) -> Path:
        """A federated-learning coordinator: participants, rounds, last aggregation time."""
        return self.write(
            {
                "kind": "federated",
                "model": model,
                "participants_connected": participants_connected,
                "participants_expected": participants_expected,
                **fields,
            }
        )

    def remove(self, kind: str, identity: str) -> bool:
        """Delete a record (a job cancelled for good, a model retired); False if absent."""
        try:
            (self.directory / f"{kind}-{identity}{SUFFIX}").unlink()
        except FileNotFoundError:
            return False
        return True
