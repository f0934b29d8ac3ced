"""The helpers the five monitored systems asked for: a job's declared expected runtime
(Mini-XDR), memory-tier operations, data quality, abandoned steps and business cases
(B2BValue), user operations and active sessions (BlindspotX); and the demo publishing
them all."""

from __future__ import annotations

import math
import time

import pytest
from prometheus_client import CollectorRegistry

from exporters.app import METRICS, Instrumentation, InstrumentationConfig
from exporters.app.metrics import DEFAULT_EXPECTED_RUNTIME_SECONDS
from generator.catalogue.application import jobs as job_alerts
from tests.app.test_app_demo import demo
from tests.helpers import (
    assert_matches_declaration,
    post_json,
    promtool_check_metrics,
    sample_value,
    scrape,
)

EXPECTED = "promfleet_app_job_expected_runtime_seconds"
MEMORY = "promfleet_app_memory_operations_total"


def fresh(**config: object) -> Instrumentation:
    return Instrumentation(InstrumentationConfig(**config), registry=CollectorRegistry())  # type: ignore[arg-type]


def value(instr: Instrumentation, name: str, **labels: str) -> float | None:
    return instr.registry.get_sample_value(name, labels)


def test_a_job_declares_its_expected_runtime_before_its_first_run_ends() -> None:
    instr = fresh()
    with instr.job("model-retraining", expected_runtime_seconds=3600):
        assert value(instr, EXPECTED, job_name="model-retraining") == 3600
    instr.scheduled_job("nightly", 86400, expected_runtime_seconds=900)
    instr.expect_runtime("backfill", 7200)
    assert value(instr, EXPECTED, job_name="nightly") == 900
    assert value(instr, EXPECTED, job_name="backfill") == 7200
    # A job that declares nothing publishes nothing: the rules hold it to the default.
    with instr.job("report"):
        pass
    assert value(instr, EXPECTED, job_name="report") is None
    assert value(instr, "promfleet_app_job_running", job_name="backfill") == 0


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_an_expected_runtime_that_is_not_a_positive_number_is_refused(bad: float) -> None:
    instr = fresh()
    with pytest.raises(ValueError, match="expected_runtime_seconds"):
        instr.job("x", expected_runtime_seconds=bad)
    with pytest.raises(ValueError, match="expected_runtime_seconds"):
        instr.expect_runtime("x", bad)
    assert value(instr, EXPECTED, job_name="x") is None


def test_the_library_and_the_alert_agree_on_the_default_expected_runtime() -> None:
    assert job_alerts.DEFAULT_EXPECTED_RUNTIME_SECONDS == DEFAULT_EXPECTED_RUNTIME_SECONDS == 300


def test_memory_operations_are_counted_by_operation_tier_and_outcome() -> None:
    instr = fresh()
    instr.memory_operation("store", "episodic")
    instr.memory_operation("search", "episodic", success=False)
    assert value(instr, MEMORY, operation="store", tier="episodic", outcome="success") == 1
    # The first operation of a kind creates its failure series at 0: the ratio is 0, not absent.
    assert value(instr, MEMORY, operation="store", tier="episodic", outcome="failure") == 0
    assert value(instr, MEMORY, operation="search", tier="episodic", outcome="failure") == 1
    with pytest.raises(RuntimeError), instr.memory("retrieve", "semantic"):
        raise RuntimeError("vector store down")
    with instr.memory("retrieve", "semantic"):
        pass
    assert value(instr, MEMORY, operation="retrieve", tier="semantic", outcome="failure") == 1
    assert value(instr, MEMORY, operation="retrieve", tier="semantic", outcome="success") == 1
    with pytest.raises(ValueError, match="memory operation"):
        instr.memory_operation("delete", "episodic")
    with pytest.raises(ValueError, match="memory operation"):
        instr.memory("delete", "episodic")


def test_memory_tiers_and_datasets_past_the_cap_become_other_and_are_counted() -> None:
    instr = fresh(max_label_values=2)
    for tier in ("a", "b", "c", "d"):
        instr.memory_operation("store", tier)
    for dataset in ("x", "y", "z"):
        instr.set_data_quality(dataset, 0.9)
    assert value(instr, MEMORY, operation="store", tier="other", outcome="success") == 2
    assert value(instr, "promfleet_app_label_values_dropped_total", label="tier") == 2
    assert value(instr, "promfleet_app_data_quality_ratio", dataset="other") == 0.9
    assert value(instr, "promfleet_app_label_values_dropped_total", label="dataset") == 1


@pytest.mark.parametrize("bad", [-0.1, 1.5, 85, math.nan])
def test_a_data_quality_score_outside_0_to_1_is_refused_and_the_last_one_kept(bad: float) -> None:
    instr = fresh()
    instr.set_data_quality("cases", 0.92)
    with pytest.raises(ValueError, match="ratio between 0 and 1"):
        instr.set_data_quality("cases", bad)
    assert value(instr, "promfleet_app_data_quality_ratio", dataset="cases") == 0.92


def test_abandoned_steps_and_business_cases_are_counted_with_bounded_labels() -> None:
    instr = fresh(tenants=frozenset({"acme"}), max_label_values=1)
    instr.step_abandoned("onboarding", "pricing")
    instr.step_abandoned("onboarding", "contract")  # a second step: past the cap of 1
    instr.business_case_created("acme")
    instr.business_case_created("unknown-tenant")
    instr.business_case_created()
    steps = "promfleet_app_workflow_steps_abandoned_total"
    assert value(instr, steps, workflow="onboarding", step="pricing") == 1
    assert value(instr, steps, workflow="onboarding", step="other") == 1
    cases = "promfleet_app_business_cases_total"
    assert value(instr, cases, tenant="acme") == 1
    assert value(instr, cases, tenant="other") == 1
    assert value(instr, cases, tenant="") == 1


def test_user_operations_outside_the_closed_set_become_other() -> None:
    instr = fresh()
    instr.user_operation("role_change")
    instr.user_operation("delete", success=False)
    instr.user_operation("impersonate-admin")
    ops = "promfleet_app_user_operations_total"
    assert value(instr, ops, operation="role_change", outcome="success") == 1
    assert value(instr, ops, operation="delete", outcome="failure") == 1
    assert value(instr, ops, operation="other", outcome="success") == 1


def test_active_sessions_can_be_set_from_a_shared_store_and_bad_counts_are_refused() -> None:
    instr = fresh()
    instr.set_active_sessions(42)
    assert value(instr, "promfleet_app_active_sessions") == 42
    for bad in (-1, math.nan):
        with pytest.raises(ValueError, match="active sessions"):
            instr.set_active_sessions(bad)
    assert value(instr, "promfleet_app_active_sessions") == 42


def test_the_demo_publishes_the_new_series_and_fails_memory_operations_on_demand() -> None:
    with demo("--job-interval", "0.1") as url:
        text = scrape(f"{url}/metrics")[2]
        assert sample_value(text, EXPECTED, {"job_name": "model-retraining"}) == 3600
        assert sample_value(text, EXPECTED, {"job_name": "demo-sync"}) == 60
        assert sample_value(text, "promfleet_app_data_quality_ratio",
                            {"dataset": "business-cases"}) == 0.97  # fmt: skip
        chaos = {"memory_failure_rate": 1, "data_quality": 0.5}
        assert post_json(f"{url}/chaos", chaos)[0] == 200
        assert post_json(f"{url}/chaos?memory_failure_rate=2")[0] == 400
        failed = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the scheduler ticks every 0.1 s
            text = scrape(f"{url}/metrics")[2]
            labels = {"operation": "store", "tier": "working", "outcome": "failure"}
            failed = sample_value(text, MEMORY, labels)
            quality = sample_value(
                text, "promfleet_app_data_quality_ratio", {"dataset": "business-cases"}
            )
            if failed and quality == 0.5:
                break
            time.sleep(0.1)
    assert failed is not None and failed >= 1
    assert quality == 0.5
    for name, labels in (
        ("promfleet_app_token_operations_total", {"operation": "revoke", "outcome": "success"}),
        ("promfleet_app_user_operations_total", {"operation": "update", "outcome": "success"}),
        ("promfleet_app_workflow_steps_abandoned_total",
         {"workflow": "value-case", "step": "pricing"}),
        ("promfleet_app_business_cases_total", {"tenant": ""}),
        ("promfleet_app_workflows_completed_total", {"workflow": "value-case", "tenant": ""}),
    ):  # fmt: skip
        assert (sample_value(text, name, labels) or 0) >= 1, name
    assert sample_value(text, "promfleet_app_active_sessions", {}) == 3
    assert promtool_check_metrics(text) == []
    assert_matches_declaration(
        text,
        METRICS,
        allow_missing={
            "promfleet_app_http_exceptions_total",
            "promfleet_app_http_requests_total",
            "promfleet_app_http_request_duration_seconds",
            "promfleet_app_logins_total",
            "promfleet_app_workflows_failed_total",
            "promfleet_app_external_requests_total",
            "promfleet_app_external_request_duration_seconds",
            "promfleet_app_external_quota_used",
            "promfleet_app_external_quota_limit",
            "promfleet_app_deliveries_total",
        },
    )


def test_memory_load_multiplies_the_demos_memory_traffic_and_bad_loads_are_refused() -> None:
    # Every scheduler tick validates one token and, per tier, makes ``memory_load`` rounds
    # of store, retrieve and search: the searches per validation are the load, exactly.
    search = {"operation": "search", "tier": "long-term", "outcome": "success"}
    validate = {"operation": "validate", "outcome": "success"}
    tokens = "promfleet_app_token_operations_total"
    with demo("--job-interval", "0.1") as url:

        def counts() -> tuple[float, float]:
            text = scrape(f"{url}/metrics")[2]
            return (sample_value(text, MEMORY, search) or 0.0,
                    sample_value(text, tokens, validate) or 0.0)

        def searches_per_tick() -> float:
            searches, ticks = counts()
            deadline = time.monotonic() + 30
            while True:  # at least three ticks, however slow the machine
                time.sleep(0.3)
                now_searches, now_ticks = counts()
                if now_ticks - ticks >= 3 or time.monotonic() > deadline:
                    break
            assert now_ticks > ticks, "the scheduler never ticked"
            return (now_searches - searches) / (now_ticks - ticks)

        for bad in ("0", "1001", "many", "2.5"):
            status, body = post_json(f"{url}/chaos?memory_load={bad}")
            assert status == 400 and "memory_load" in body, (bad, body)
        assert searches_per_tick() == 1
        assert post_json(f"{url}/chaos?memory_load=50")[0] == 200
        assert searches_per_tick() == 50
        assert post_json(f"{url}/chaos?memory_load=1")[0] == 200
        assert searches_per_tick() == 1
