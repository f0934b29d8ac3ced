"""The mapping format and extraction, on the recorded bodies: no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporters.jsonstatus import MAPPINGS
from exporters.jsonstatus.demo import bodies
from exporters.jsonstatus.mapping import (
    PREFIX,
    MappingError,
    extract,
    load_text,
    parse_timestamp,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jsonstatus"
RECORDED_AT = 1746100800.0  # 2025-05-01T12:00:00Z, when the fixtures were recorded


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def samples(name: str, doc: Any) -> dict[str, dict[tuple[str, ...], float]]:
    found = extract(doc, MAPPINGS[name].metrics)
    return {k.removeprefix(PREFIX): v for k, v in found.samples.items()}


def skipped(name: str, doc: Any) -> dict[tuple[str, str], int]:
    return extract(doc, MAPPINGS[name].metrics).skipped


def test_every_recorded_body_is_read_whole_with_nothing_skipped() -> None:
    for name in MAPPINGS:
        doc = recorded(name)
        assert skipped(name, doc) == {}, name
        got = samples(name, doc)
        assert set(got) == {m.short for m in MAPPINGS[name].metrics}, name
        assert all(got.values()), name


def test_the_recorded_bodies_are_what_the_demo_served_at_their_time() -> None:
    live = bodies(RECORDED_AT)
    assert sorted(json.dumps(b, sort_keys=True) for b in live.values()) == sorted(
        json.dumps(recorded(name), sort_keys=True) for name in MAPPINGS)


def test_minixdr_telemetry_gives_per_organisation_counts_and_event_times() -> None:
    got = samples("minixdr-telemetry", recorded("minixdr-telemetry"))
    assert got["minixdr_organisation_assets"][("acme",)] == 240
    assert got["minixdr_organisation_agents_enrolled"][("globex",)] == 95
    assert got["minixdr_organisation_incidents_open"][("initech",)] == 4
    assert got["minixdr_organisation_last_event_timestamp_seconds"][("acme",)] == RECORDED_AT - 3


def test_orchestrator_agents_are_labelled_by_their_key() -> None:
    got = samples("minixdr-orchestrator", recorded("minixdr-orchestrator"))
    assert got["minixdr_workflows_active"] == {(): 3.0}
    assert set(got["minixdr_agent_healthy"]) == {
        (a,) for a in ("attribution", "containment", "deception", "forensics", "ingestion")}
    assert got["minixdr_agent_heartbeat_timestamp_seconds"][("containment",)] == RECORDED_AT - 6


def test_a_state_field_is_one_series_per_state_plus_unknown() -> None:
    doc = recorded("minixdr-ml")
    assert samples("minixdr-ml", doc)["minixdr_ml_status"] == {
        ("ready",): 1, ("training",): 0, ("degraded",): 0, ("error",): 0, ("unknown",): 0}
    doc["status"] = "rebooting"
    assert samples("minixdr-ml", doc)["minixdr_ml_status"][("unknown",)] == 1


def test_blindspotx_components_are_up_from_words_or_objects_with_a_status() -> None:
    doc = recorded("blindspotx-health")
    doc["components"]["redis"] = {"status": "down", "error": "connection refused"}
    doc["components"]["oauth"] = False
    assert samples("blindspotx-health", doc)["blindspotx_component_up"] == {
        ("database",): 1, ("drift",): 1, ("oauth",): 0, ("redis",): 0}


def test_ml_security_response_times_are_scaled_from_milliseconds_to_seconds() -> None:
    got = samples("mlsecurity-dashboard", recorded("mlsecurity-dashboard"))
    assert got["mlsecurity_service_response_time_seconds"][("api-gateway",)] == pytest.approx(0.042)
    assert got["mlsecurity_service_up"][("inference",)] == 1


# --- bad input ---------------------------------------------------------------------------


def test_a_field_of_the_wrong_type_is_skipped_and_counted_and_the_rest_kept() -> None:
    doc = recorded("minixdr-telemetry")
    doc["organizations"][0]["assets"]["total"] = "lots"
    doc["organizations"][1]["incidents"]["total"] = -4  # a counter is never negative
    doc["organizations"][2]["last_event_at"] = "yesterday"
    got = samples("minixdr-telemetry", doc)
    assert ("acme",) not in got["minixdr_organisation_assets"]
    assert got["minixdr_organisation_assets"][("globex",)] == 96
    assert skipped("minixdr-telemetry", doc) == {
        ("minixdr_organisation_assets", "wrong_type"): 1,
        ("minixdr_organisation_incidents_total", "wrong_type"): 1,
        ("minixdr_organisation_last_event_timestamp_seconds", "wrong_type"): 1,
    }


def test_missing_fields_and_a_missing_collection_are_counted_missing() -> None:
    doc = recorded("minixdr-orchestrator")
    del doc["active_workflows"]
    del doc["agents"]["forensics"]["last_heartbeat"]
    assert skipped("minixdr-orchestrator", doc) == {
        ("minixdr_workflows_active", "missing"): 1,
        ("minixdr_agent_heartbeat_timestamp_seconds", "missing"): 1,
    }
    assert skipped("minixdr-orchestrator", {"status": "running"})[
        ("minixdr_agent_healthy", "missing")] == 1
    # A body of another shape entirely: everything missing or of the wrong type, no crash.
    for doc in ([1, 2], "text", None, 7, {"agents": "none"}):
        found = extract(doc, MAPPINGS["minixdr-orchestrator"].metrics)
        assert sum(found.skipped.values()) == 4


def test_a_label_set_that_grows_without_bound_is_capped_and_the_rest_counted() -> None:
    doc = {"status": "healthy", "components": {f"c{i:05d}": "up" for i in range(10_000)}}
    got = samples("blindspotx-health", doc)["blindspotx_component_up"]
    assert len(got) == 16  # the mapping's max_series
    assert skipped("blindspotx-health", doc) == {("blindspotx_component_up", "over_limit"): 9984}


def test_a_label_that_is_missing_too_long_or_repeated_is_counted_bad_label() -> None:
    doc = recorded("mlsecurity-dashboard")
    doc["services"][0]["name"] = "x" * 65
    del doc["services"][1]["name"]
    doc["services"][3]["name"] = doc["services"][2]["name"]
    assert skipped("mlsecurity-dashboard", doc) == {
        ("mlsecurity_service_up", "bad_label"): 3,
        ("mlsecurity_service_response_time_seconds", "bad_label"): 3,
    }


def test_timestamps_are_iso_8601_with_or_without_a_zone_or_unix_seconds() -> None:
    assert parse_timestamp("2025-05-01T12:00:00Z") == RECORDED_AT
    assert parse_timestamp("2025-05-01T14:00:00+02:00") == RECORDED_AT
    assert parse_timestamp("2025-05-01T12:00:00") == RECORDED_AT
    assert parse_timestamp(RECORDED_AT) == RECORDED_AT
    for bad in ("", "soon", True, None, -1, float("nan"), "2025-13-45T99:00:00Z"):
        assert parse_timestamp(bad) is None


# --- configuration errors ----------------------------------------------------------------

GOOD = """\
svc:
  metrics:
    - name: svc_queue_depth
      type: gauge
      help: Jobs waiting.
      value: queue.depth
"""


def test_a_good_mapping_loads() -> None:
    mapping = load_text(GOOD, "svc.yml")["svc"]
    assert [m.name for m in mapping.metrics] == ["promfleet_jsonstatus_svc_queue_depth"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: gauge", "type: gaugee"), "svc.yml line 3: svc.metrics[0] (svc_queue_depth): "
                                          "type: unknown type 'gaugee'"),
        (("value: queue.depth", "value: queue..depth"), "line 3: svc.metrics[0] "
                                                        "(svc_queue_depth): value: empty step"),
        (("value: queue.depth", "value: $key"), "is only a label source"),
        (("type: gauge", "type: counter"), "a counter's name ends in _total"),
        (("help: Jobs waiting.", "help: ''"), "help: every metric says what it is"),
        (("name: svc_queue_depth", "name: Svc-Queue"), "is not a metric name"),
        (("value: queue.depth", "value: queue.depth\n      colour: red"),
         "unknown keys ['colour']"),
        (("value: queue.depth", "value: queue.depth\n      labels: {queue: name}"),
         "labels need 'each'"),
        (("value: queue.depth", "value: d\n      each: q\n      labels: {target: name}"),
         "labels: 'target' is not a label name of its own"),
        (("type: gauge", "type: state"), "states: a list of distinct lowercase words"),
        (("value: queue.depth", "value: d\n      each: q\n      max_series: 0"),
         "max_series: expected a whole number from 1 to 1000"),
        (("metrics:", "metric:"), "svc.yml line 2: mapping 'svc': unknown keys ['metric']"),
        (("  metrics:", "  metrics: [\n"), "svc.yml: not valid YAML"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_file_line_and_field(
    change: tuple[str, str], message: str
) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(MappingError) as err:
        load_text(text, "svc.yml")
    assert message in str(err.value)


def test_a_key_given_twice_is_refused_naming_its_line() -> None:
    with pytest.raises(MappingError, match=r"svc\.yml: line 7: key 'type' given twice"):
        load_text(GOOD + "      type: counter\n", "svc.yml")
