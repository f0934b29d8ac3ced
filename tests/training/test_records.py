"""Record parsing: what is accepted, each rejection reason, and agreement with the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.training.records import (
    DriftRecord,
    FederatedRecord,
    JobRecord,
    ModelRecord,
    Rejection,
    parse_hash,
    parse_json,
    parse_record,
)
from exporters.training.status import to_hash

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "exporters/training/status.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

JOB: dict[str, Any] = {
    "schema_version": 1,
    "kind": "job",
    "updated_at": 1000.0,
    "job_id": "run-1",
    "model": "resnet50",
    "state": "running",
    "progress": 0.5,
    "epoch": 3,
    "step": 120,
    "loss": 0.4,
    "eval_metric": 0.8,
    "eval_metric_name": "top1",
    "samples_per_second": 900,
    "started_at": 900.0,
    "gpus": [1, 0],
}
MODEL: dict[str, Any] = {
    "schema_version": 1,
    "kind": "model",
    "updated_at": 1000.0,
    "model": "resnet50",
    "state": "loading",
    "load_progress": 0.2,
    "memory_bytes": 1e9,
    "accuracy": 0.9,
    "accuracy_floor": 0.85,
}
DRIFT: dict[str, Any] = {
    "schema_version": 1,
    "kind": "drift",
    "updated_at": 1000.0,
    "model": "resnet50",
    "drift_type": "concept",
    "detections": 2,
    "last_detection_at": 990.0,
}
FEDERATED: dict[str, Any] = {
    "schema_version": 1,
    "kind": "federated",
    "updated_at": 1000.0,
    "model": "fraud",
    "participants_connected": 8,
    "participants_expected": 10,
    "rounds": 4,
}


def test_each_kind_of_valid_document_becomes_its_typed_record() -> None:
    job = parse_record(JOB)
    assert isinstance(job, JobRecord)
    assert (job.job_id, job.model, job.state, job.progress, job.gpus) == (
        "run-1",
        "resnet50",
        "running",
        0.5,
        (0, 1),
    )
    assert isinstance(parse_record(MODEL), ModelRecord)
    assert isinstance(parse_record(DRIFT), DriftRecord)
    assert isinstance(parse_record(FEDERATED), FederatedRecord)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema_version": 2}, "unsupported_version"),
        ({"schema_version": None}, "malformed"),
        ({"kind": "notebook"}, "invalid"),
        ({"updated_at": None}, "invalid"),
        ({"updated_at": "yesterday"}, "invalid"),
        ({"job_id": None}, "invalid"),
        ({"job_id": "run 1 with spaces"}, "invalid"),
        ({"model": "x" * 65}, "invalid"),
        ({"state": "paused"}, "invalid"),
        ({"progress": 1.5}, "invalid"),
        ({"step": -1}, "invalid"),
        ({"loss": True}, "invalid"),
        ({"loss": "NaN"}, "invalid"),
        ({"gpus": [0, 1.5]}, "invalid"),
        ({"gpus": list(range(65))}, "invalid"),
    ],
)
def test_a_bad_job_document_is_rejected_with_its_reason(
    change: dict[str, Any], reason: str
) -> None:
    parsed = parse_record({**JOB, **change})
    assert isinstance(parsed, Rejection)
    assert parsed.reason == reason


def test_bytes_that_are_not_a_json_object_are_malformed() -> None:
    for data in (b"{", b"[1, 2]", b"\xff\xfe", b"", b'"text"'):
        parsed = parse_json(data)
        assert isinstance(parsed, Rejection) and parsed.reason == "malformed", data


def test_a_redis_hash_of_strings_parses_to_the_same_record_as_the_json_document() -> None:
    for document in (JOB, MODEL, DRIFT, FEDERATED):
        fields = {k: v for k, v in document.items() if k not in ("schema_version", "updated_at")}
        from_hash = parse_hash({k.encode(): v.encode() for k, v in to_hash(fields, 1000.0).items()})
        assert from_hash == parse_record(document)


def test_a_redis_hash_with_a_non_numeric_field_or_nothing_in_it_is_rejected() -> None:
    bad = parse_hash({b"schema_version": b"1", b"kind": b"job", b"updated_at": b"soon"})
    assert isinstance(bad, Rejection) and bad.reason == "invalid"
    empty = parse_hash({})
    assert isinstance(empty, Rejection) and empty.reason == "malformed"


def test_the_published_json_schema_accepts_every_example_record() -> None:
    for document in (JOB, MODEL, DRIFT, FEDERATED):
        VALIDATOR.validate(document)


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from(
        ["", "run-1", "resnet50", "bad name", "running", "loaded", "concept", "completed", "x" * 70]
    ),
    st.lists(st.integers(-1, 300), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["job", "model", "drift", "federated"]),
    overrides=st.dictionaries(
        st.sampled_from(sorted({*JOB, *MODEL, *DRIFT, *FEDERATED} - {"kind", "schema_version"})),
        _values,
        max_size=4,
    ),
)
def test_the_parser_and_the_json_schema_agree_on_what_is_a_valid_record(
    kind: str, overrides: dict[str, Any]
) -> None:
    base = {"job": JOB, "model": MODEL, "drift": DRIFT, "federated": FEDERATED}[kind]
    document = {**base, **overrides}
    # The schema cannot know that "NaN" is not a number: numbers here are JSON numbers.
    accepted = not isinstance(parse_record(document), Rejection)
    assert accepted == VALIDATOR.is_valid(document), document


_NESTED = b"[" * 50_000  # deeper than the JSON scanner's recursion limit
_DIGITS = "1" + "0" * 400  # an integer no float can hold
_JOB_TEXT = '{"schema_version":1,"kind":"job","updated_at":1,"job_id":"a","model":"m",'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_NESTED, "malformed"),
        (b'{"a":' * 20_000, "malformed"),
        (b"1" * 5000, "malformed"),  # over the interpreter's integer digit limit
        (b'{"schema_version":1,"kind":[]}', "invalid"),
        (b'{"schema_version":1,"kind":{"job":1}}', "invalid"),
        (f'{{"schema_version":{_DIGITS}}}'.encode(), "malformed"),
        (f'{_JOB_TEXT}"state":"running","step":{_DIGITS}}}'.encode(), "invalid"),
        (f'{_JOB_TEXT}"state":"running","gpus":[{_DIGITS}]}}'.encode(), "invalid"),
        (f'{_JOB_TEXT}"state":"running","note":{"[" * 30_000}'.encode(), "malformed"),
    ],
    ids=[
        "nested-arrays",
        "nested-objects",
        "huge-integer",
        "kind-a-list",
        "kind-an-object",
        "huge-version",
        "huge-step",
        "huge-gpu-index",
        "nested-extra-field",
    ],
)
def test_hostile_json_is_rejected_with_a_reason_instead_of_raising(
    data: bytes, reason: str
) -> None:
    parsed = parse_json(data)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == reason


@pytest.mark.parametrize(
    "gpus",
    [b"[" * 50_000, b"[" + b"1" * 5000 + b"]", f"[{_DIGITS}]".encode()],
    ids=["nested", "over-digit-limit", "huge-index"],
)
def test_a_hostile_gpu_list_in_a_redis_hash_is_invalid_instead_of_raising(gpus: bytes) -> None:
    fields = {
        b"schema_version": b"1",
        b"kind": b"job",
        b"updated_at": b"1",
        b"job_id": b"a",
        b"model": b"m",
        b"state": b"running",
        b"gpus": gpus,
    }
    parsed = parse_hash(fields)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == "invalid"
