"""Status records (schema version 1): parsing and validation, pure and shared by every source.

A record is one small document written by a trainer, a model server, a drift monitor or a
federated-learning coordinator: a JSON object in the status directory, or a Redis hash
with the same fields (every value a string there). ``status.schema.json`` describes the
same thing for writers in other languages. :func:`parse_record` turns one document into a
typed record or a :class:`Rejection` with a reason from ``metrics.REJECT_REASONS``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from exporters.training.metrics import DRIFT_TYPES, JOB_STATES, MODEL_STATES

SCHEMA_VERSION = 1
KINDS = ("job", "model", "drift", "federated")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_GPUS_PER_JOB = 64
MAX_GPU_INDEX = 255

T = TypeVar("T")


@dataclass(frozen=True)
class Rejection:
    """Why a document is not a usable record; ``detail`` is for the log, never a label."""

    reason: str
    detail: str


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    model: str
    state: str
    updated_at: float
    progress: float | None = None
    epoch: float | None = None
    step: float | None = None
    loss: float | None = None
    eval_metric: float | None = None
    samples_per_second: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    gpus: tuple[int, ...] = ()
    eval_metric_name: str | None = None  # for people: never a label

    kind = "job"

    @property
    def key(self) -> tuple[str, ...]:
        return ("job", self.job_id)

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "failed")

    @property
    def end_time(self) -> float:
        return self.ended_at if self.ended_at is not None else self.updated_at


@dataclass(frozen=True)
class ModelRecord:
    model: str
    state: str
    updated_at: float
    load_progress: float | None = None
    memory_bytes: float | None = None
    load_seconds: float | None = None
    accuracy: float | None = None
    accuracy_floor: float | None = None

    kind = "model"

    @property
    def key(self) -> tuple[str, ...]:
        return ("model", self.model)


@dataclass(frozen=True)
class DriftRecord:
    model: str
    drift_type: str
    updated_at: float
    detections: float = 0.0
    last_detection_at: float | None = None

    kind = "drift"

    @property
    def key(self) -> tuple[str, ...]:
        return ("drift", self.model, self.drift_type)


@dataclass(frozen=True)
class FederatedRecord:
    model: str
    updated_at: float
    participants_connected: float
    participants_expected: float
    rounds: float = 0.0
    last_aggregation_at: float | None = None

    kind = "federated"

    @property
    def key(self) -> tuple[str, ...]:
        return ("federated", self.model)


Record = JobRecord | ModelRecord | DriftRecord | FederatedRecord


# What json.loads raises on hostile input: bad syntax or UTF-8 (ValueError subclasses), an
# integer over the interpreter's digit limit (ValueError), nesting deeper than the C
# scanner's recursion limit (RecursionError). Each makes one bad record, never a failed scrape.
_UNDECODABLE = (ValueError, RecursionError)


class _Invalid(ValueError):
    """One field's problem; becomes a Rejection with reason ``invalid``."""


def _number(value: Any, field: str, *, strings: bool) -> float:
    if isinstance(value, bool):
        raise _Invalid(f"{field}: expected a number, got a boolean")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError as err:  # a JSON integer of hundreds of digits
            raise _Invalid(f"{field}: expected a finite number") from err
    elif strings and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError as err:
            raise _Invalid(f"{field}: expected a number") from err
    else:
        raise _Invalid(f"{field}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise _Invalid(f"{field}: expected a finite number")
    return number


def _ranged(lo: float | None, hi: float | None) -> Callable[[Any, str, bool], float]:
    def parse(value: Any, field: str, strings: bool) -> float:
        number = _number(value, field, strings=strings)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise _Invalid(f"{field}: {number:g} outside [{lo}, {hi}]")
        return number

    return parse


_ANY = _ranged(None, None)
_NON_NEGATIVE = _ranged(0, None)
_RATIO = _ranged(0, 1)


def _name(value: Any, field: str, strings: bool) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise _Invalid(f"{field}: expected 1-64 letters, digits, '_', '.', ':', '-'")
    return value


def _text(value: Any, field: str, strings: bool) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise _Invalid(f"{field}: expected text of at most 200 characters")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str, bool], str]:
    def parse(value: Any, field: str, strings: bool) -> str:
        if value not in choices:
            raise _Invalid(f"{field}: expected one of {', '.join(choices)}")
        return str(value)

    return parse


def _gpus(value: Any, field: str, strings: bool) -> tuple[int, ...]:
    if strings and isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except _UNDECODABLE as err:
                raise _Invalid(f"{field}: not a JSON list") from err
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list) or len(value) > MAX_GPUS_PER_JOB:
        raise _Invalid(f"{field}: expected a list of at most {MAX_GPUS_PER_JOB} GPU indices")
    out: list[int] = []
    for item in value:
        number = _number(item, field, strings=strings)
        if not number.is_integer() or not 0 <= number <= MAX_GPU_INDEX:
            raise _Invalid(f"{field}: GPU index must be a whole number 0-{MAX_GPU_INDEX}")
        out.append(int(number))
    return tuple(sorted(set(out)))


_Field = tuple[str, Callable[[Any, str, bool], Any], bool]  # name, parser, required

_FIELDS: dict[str, tuple[_Field, ...]] = {
    "job": (
        ("job_id", _name, True),
        ("model", _name, True),
        ("state", _choice(JOB_STATES), True),
        ("progress", _RATIO, False),
        ("epoch", _NON_NEGATIVE, False),
        ("step", _NON_NEGATIVE, False),
        ("loss", _ANY, False),
        ("eval_metric", _ANY, False),
        ("samples_per_second", _NON_NEGATIVE, False),
        ("started_at", _NON_NEGATIVE, False),
        ("ended_at", _NON_NEGATIVE, False),
        ("gpus", _gpus, False),
        ("eval_metric_name", _text, False),
    ),
    "model": (
        ("model", _name, True),
        ("state", _choice(MODEL_STATES), True),
        ("load_progress", _RATIO, False),
        ("memory_bytes", _NON_NEGATIVE, False),
        ("load_seconds", _NON_NEGATIVE, False),
        ("accuracy", _RATIO, False),
        ("accuracy_floor", _RATIO, False),
    ),
    "drift": (
        ("model", _name, True),
        ("drift_type", _choice(DRIFT_TYPES), True),
        ("detections", _NON_NEGATIVE, False),
        ("last_detection_at", _NON_NEGATIVE, False),
    ),
    "federated": (
        ("model", _name, True),
        ("participants_connected", _NON_NEGATIVE, True),
        ("participants_expected", _NON_NEGATIVE, True),
        ("rounds", _NON_NEGATIVE, False),
        ("last_aggregation_at", _NON_NEGATIVE, False),
    ),
}
_BUILD: dict[str, Callable[..., Record]] = {
    "job": JobRecord,
    "model": ModelRecord,
    "drift": DriftRecord,
    "federated": FederatedRecord,
}


def parse_record(document: Mapping[str, Any], *, strings: bool = False) -> Record | Rejection:
    """A typed record from one decoded document, or why not.

    ``strings=True`` is for Redis hashes, where every value arrives as text. Unknown keys
    are allowed (writers may add their own), so a newer writer's extra fields don't reject
    the record; a ``null`` value counts as absent.
    """
    version = document.get("schema_version")
    try:
        version_number = _number(version, "schema_version", strings=strings)
    except _Invalid:
        return Rejection("malformed", "schema_version missing or not a number")
    if version_number != SCHEMA_VERSION:
        return Rejection("unsupported_version", f"schema_version {version_number:g}")
    kind = document.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        return Rejection("invalid", f"kind: expected one of {', '.join(KINDS)}")
    values: dict[str, Any] = {}
    try:
        values["updated_at"] = _NON_NEGATIVE(document.get("updated_at"), "updated_at", strings)
        for field, parse, required in _FIELDS[kind]:
            raw = document.get(field)
            if raw is None or (strings and raw == ""):
                if required:
                    raise _Invalid(f"{field}: missing")
                continue
            values[field] = parse(raw, field, strings)
    except _Invalid as err:
        return Rejection("invalid", f"{kind}: {err}")
    return _BUILD[kind](**values)


def parse_json(data: bytes) -> Record | Rejection:
    """A record from a file's bytes (UTF-8 JSON)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except _UNDECODABLE as err:
        return Rejection("malformed", f"not UTF-8 JSON: {type(err).__name__}")
    if not isinstance(document, dict):
        return Rejection("malformed", "not a JSON object")
    return parse_record(document)


def parse_hash(fields: Mapping[bytes | str, bytes | str]) -> Record | Rejection:
    """A record from a Redis hash (``HGETALL``'s reply)."""
    document: dict[str, str] = {}
    try:
        for key, value in fields.items():
            k = key.decode("utf-8") if isinstance(key, bytes) else key
            v = value.decode("utf-8") if isinstance(value, bytes) else value
            document[k] = v
    except UnicodeDecodeError:
        return Rejection("malformed", "hash holds bytes that are not UTF-8")
    if not document:
        return Rejection("malformed", "empty hash")
    return parse_record(document, strings=True)
