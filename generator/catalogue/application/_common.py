"""What the parts of the ``application`` area share: the labels of its test series, the
dashboard selector, the names of its recording rules (several parts' runbooks read
another part's rules) and the escalation texts. No alert, rule or panel lives here."""

from __future__ import annotations

APP = (("instance", "app-1:8080"), ("job", "app"))
PROBE = (("instance", "probe-1:9115"), ("job", "probe"), ("target", "api"))
SEL = 'job=~"$job",instance=~"$instance"'

# Recording rules, made in the part named beside each group.
# service
ERRORS = "instance:promfleet_app_http_errors:ratio_rate5m"
ERRORS_RATIO_1M = "instance:promfleet_app_http_errors:ratio_rate1m"
ERRORS_1M = "instance:promfleet_app_http_errors:increase1m"
REQUESTS = "instance:promfleet_app_http_requests:rate5m"
LATENCY_P50 = "instance:promfleet_app_http_request_duration_seconds:p50_5m"
LATENCY_P95 = "instance:promfleet_app_http_request_duration_seconds:p95_5m"
LATENCY_MEAN = "instance:promfleet_app_http_request_duration_seconds:mean5m"
LATENCY_P99 = "instance:promfleet_app_http_request_duration_seconds:p99_5m"
REVOCATIONS_5M = "instance:promfleet_app_token_revocations:rate5m"
REVOCATIONS_1H = "instance:promfleet_app_token_revocations:rate1h"
# jobs
JOB_SUCCESS = "instance_job_name:promfleet_app_job_runs:success_ratio_rate1h"
JOB_RUNS = "instance_job_name:promfleet_app_job_runs:increase1h"
WORKFLOW_FAILURES = "instance_workflow:promfleet_app_workflows:failure_ratio_rate5m"
WORKFLOWS_FINISHED = "instance_workflow:promfleet_app_workflows_finished:rate5m"
WORKFLOW_MEAN = "instance_workflow:promfleet_app_workflow_duration_seconds:mean30m"
JOB_EXPECTED = "instance_job_name:promfleet_app_job_expected_runtime_seconds:or_default"
JOB_RUN_AGE = "instance_job_name:promfleet_app_job_oldest_run:age_ratio_expected"
# integrations
EXTERNAL_FAILURES = "instance_target:promfleet_app_external_requests:unavailable_ratio_rate5m"
EXTERNAL_CALLS = "instance_target:promfleet_app_external_requests:rate5m"
EXTERNAL_MEAN = "instance_target:promfleet_app_external_request_duration_seconds:mean5m"
DELIVERY_FAILURES = "instance_channel:promfleet_app_deliveries:failure_ratio_rate5m"
DELIVERIES = "instance_channel:promfleet_app_deliveries:rate5m"
# business
MEMORY_FAILURES = "instance_tier:promfleet_app_memory_operations:failure_ratio_rate5m"
MEMORY_OPERATIONS = "instance_tier:promfleet_app_memory_operations:rate5m"
# probes
HEALTH = "target:promfleet_probe_health:level"
SUCCESS_1H = "target:promfleet_probe_success:avg1h"
UPTIME_1D = "target:promfleet_probe_uptime:ratio1d"
UPTIME_30D = "target:promfleet_probe_uptime:ratio30d"

ESCALATE_ENG = (
    "Page the owning engineering team's on-call if user-facing and not resolved within "
    "30 minutes; raise an incident when several services show it at once."
)
ESCALATE_OPS = "Page the ops on-call engineer when it is not resolved within 30 minutes."
