"""The application metric families (``promfleet_app_*``): their declarations and their objects.

``METRICS`` is the contract the generator checks the application rules against;
:class:`AppMetrics` builds the matching prometheus-client objects on a registry the
caller owns (never at import time), with the multi-process mode each gauge needs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from exporters.app.httpstats import HttpStats, InFlight
from exporters.spec import MetricSpec

NAMESPACE = "promfleet_app"
OTHER = "other"

# Requests to a web service: 5 ms to 10 s, dense around the 1 s alert line.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs and agents: 100 ms to an hour; 300 s is the "runs too long" line.
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Business workflows complete in seconds to a day; 1800 s is the "too slow" line.
WORKFLOW_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
# Calls to external APIs: 10 ms to 30 s; 5 s is the "slow" line.
EXTERNAL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

LOGIN_REASONS = frozenset(
    {"ok", "bad_password", "unknown_user", "locked", "expired", "mfa_failed", "rate_limited"}
)
TOKEN_OPERATIONS = frozenset({"issue", "refresh", "revoke", "validate"})
# What a service does to its user accounts; anything else is counted as "other".
USER_OPERATIONS = frozenset(
    {"create", "update", "delete", "invite", "role_change", "password_reset", "deactivate"}
)
# What an agent does to its memory tiers (the tier itself is a capped free-form label).
MEMORY_OPERATIONS = frozenset({"store", "retrieve", "search"})
# A job that declares no expected runtime is held to this by the rules (the seed's 5
# minutes); the catalogue's AppJobRunningTooLong writes the same number (a test holds them).
DEFAULT_EXPECTED_RUNTIME_SECONDS = 300.0
DELIVERY_CHANNELS = frozenset({"webhook", "websocket"})
EXTERNAL_OUTCOMES = (
    "success",
    "client_error",
    "server_error",
    "timeout",
    "connection_error",
    "error",
)


def _n(name: str) -> str:
    return f"{NAMESPACE}_{name}"


METRICS: tuple[MetricSpec, ...] = (
    # HTTP server (middleware) --------------------------------------------------------
    MetricSpec(
        _n("http_requests_total"),
        "counter",
        "HTTP requests served, by method, route template, status class and tenant "
        "(empty when tenants are not configured).",
        ("method", "route", "status", "tenant"),
    ),
    MetricSpec(
        _n("http_request_duration_seconds"),
        "histogram",
        "Seconds from the middleware receiving an HTTP request to the application "
        "returning its response, by route template.",
        ("method", "route"),
    ),
    MetricSpec(_n("http_requests_in_flight"), "gauge", "HTTP requests being served now."),
    MetricSpec(
        _n("http_exceptions_total"),
        "counter",
        "HTTP requests whose handler raised an exception it did not handle.",
        ("method", "route"),
    ),
    MetricSpec(
        _n("start_time_seconds"),
        "gauge",
        "Unix time the newest live worker process of the service started.",
    ),
    MetricSpec(
        _n("label_values_dropped_total"),
        "counter",
        "Label values replaced by 'other' because the label's value set was full.",
        ("label",),
    ),
    # Background jobs and agents --------------------------------------------------------
    MetricSpec(
        _n("job_duration_seconds"),
        "histogram",
        "Duration of finished background job or agent runs.",
        ("job_name",),
    ),
    MetricSpec(
        _n("job_runs_total"),
        "counter",
        "Finished background job or agent runs, by outcome (success, failure).",
        ("job_name", "outcome"),
    ),
    MetricSpec(
        _n("job_running"), "gauge", "Background job or agent runs in progress.", ("job_name",)
    ),
    MetricSpec(
        _n("job_oldest_run_start_time_seconds"),
        "gauge",
        "Unix time the oldest run in progress started; +Inf when none is running.",
        ("job_name",),
    ),
    MetricSpec(
        _n("job_last_success_time_seconds"),
        "gauge",
        "Unix time of the last successful run (scheduled jobs: registration time until one).",
        ("job_name",),
    ),
    MetricSpec(
        _n("job_schedule_interval_seconds"),
        "gauge",
        "How often a scheduled job is meant to succeed.",
        ("job_name",),
    ),
    MetricSpec(
        _n("job_expected_runtime_seconds"),
        "gauge",
        "How long one run of the job is expected to take at most, as the job declared it "
        "(jobs that declare none are held to 300 s by the rules).",
        ("job_name",),
    ),
    MetricSpec(_n("queue_depth"), "gauge", "Items waiting in a work queue.", ("queue",)),
    # Business workflows -----------------------------------------------------------------
    MetricSpec(
        _n("workflows_started_total"), "counter", "Workflows started.", ("workflow", "tenant")
    ),
    MetricSpec(
        _n("workflows_completed_total"),
        "counter",
        "Workflows completed successfully.",
        ("workflow", "tenant"),
    ),
    MetricSpec(
        _n("workflows_failed_total"), "counter", "Workflows that failed.", ("workflow", "tenant")
    ),
    MetricSpec(
        _n("workflow_duration_seconds"),
        "histogram",
        "Time from start to completion of successful workflows.",
        ("workflow",),
    ),
    MetricSpec(
        _n("workflow_steps_abandoned_total"),
        "counter",
        "Workflow steps a user or caller left unfinished, by workflow and step.",
        ("workflow", "step"),
    ),
    MetricSpec(
        _n("business_cases_total"),
        "counter",
        "Business cases created, by tenant (empty when tenants are not configured).",
        ("tenant",),
    ),
    MetricSpec(
        _n("data_quality_ratio"),
        "gauge",
        "Data-quality score of a dataset as the service's own checks computed it, 0 to 1.",
        ("dataset",),
    ),
    # Agent memory -----------------------------------------------------------------------
    MetricSpec(
        _n("memory_operations_total"),
        "counter",
        "Operations on an agent memory tier (store, retrieve, search), by tier and outcome "
        "(success, failure).",
        ("operation", "tier", "outcome"),
    ),
    # Authentication ---------------------------------------------------------------------
    MetricSpec(
        _n("logins_total"),
        "counter",
        "Login attempts, by outcome (success, failure) and reason from a closed set.",
        ("outcome", "reason"),
    ),
    MetricSpec(
        _n("token_operations_total"),
        "counter",
        "Token operations (issue, refresh, revoke, validate) by outcome.",
        ("operation", "outcome"),
    ),
    MetricSpec(_n("active_sessions"), "gauge", "Authenticated sessions open now."),
    MetricSpec(
        _n("user_operations_total"),
        "counter",
        "Operations on user accounts (create, update, delete, invite, role_change, "
        "password_reset, deactivate, other) by outcome.",
        ("operation", "outcome"),
    ),
    # Outbound calls to external APIs ------------------------------------------------------
    MetricSpec(
        _n("external_requests_total"),
        "counter",
        "Calls to external APIs by configured target name and outcome (success, "
        "client_error, server_error, timeout, connection_error, error).",
        ("target", "outcome"),
    ),
    MetricSpec(
        _n("external_request_duration_seconds"),
        "histogram",
        "Duration of calls to external APIs, by configured target name.",
        ("target",),
    ),
    MetricSpec(
        _n("external_quota_used"),
        "gauge",
        "Requests of the external API's quota used in its current window.",
        ("target",),
    ),
    MetricSpec(
        _n("external_quota_limit"),
        "gauge",
        "Requests the external API's quota allows in its window.",
        ("target",),
    ),
    # Outbound deliveries ------------------------------------------------------------------
    MetricSpec(
        _n("deliveries_total"),
        "counter",
        "Webhook and websocket deliveries, by channel and outcome (success, failure).",
        ("channel", "outcome"),
    ),
)


@dataclass(frozen=True)
class InstrumentationConfig:
    """What the service tells the library once, at start-up.

    ``tenants``: the tenant label's allowed values; empty disables the label (it is
    then always ""). ``external_targets``: host name -> target name for outbound calls.
    ``max_label_values``: how many distinct values a free-form label (route, job name,
    workflow, step, queue, target, memory tier, dataset) may take before new ones become "other".
    """

    tenants: frozenset[str] = frozenset()
    external_targets: Mapping[str, str] = field(default_factory=dict)
    max_label_values: int = 100
    tenant_header: str = "X-Tenant"
    quota_limit_header: str = "X-RateLimit-Limit"
    quota_remaining_header: str = "X-RateLimit-Remaining"

    def __post_init__(self) -> None:
        if self.max_label_values < 1:
            raise ValueError("max_label_values must be at least 1")
        for name in self.tenants:
            if not name or name == OTHER:
                raise ValueError(f"tenant name {name!r} is reserved or empty")


class LabelGuard:
    """Caps the distinct values of one label; the overflow becomes "other" and is counted.

    "other" itself always passes, uncounted: a value the guard already replaced may come
    back through it (a helper handing its label to another) and is not a second drop.
    """

    def __init__(self, label: str, limit: int, dropped: Counter) -> None:
        self._label = label
        self._limit = limit
        self._seen: set[str] = {OTHER}
        self._dropped = dropped.labels(label=label)
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) <= self._limit:  # "other" is in the set, beyond the limit
                self._seen.add(value)
                return value
        self._dropped.inc()
        return OTHER


class AppMetrics:
    """The prometheus-client objects behind ``METRICS``, registered on ``registry``.

    Gauges carry the multi-process mode that makes sense when several worker
    processes share ``PROMETHEUS_MULTIPROC_DIR``: sums for counts of things in
    progress, the newest/oldest time for timestamps.
    """

    def __init__(
        self, registry: CollectorRegistry, config: InstrumentationConfig, fast_http: bool = True
    ) -> None:
        self.config = config
        self.fast_http = fast_http
        specs = {spec.name: spec for spec in METRICS}

        def counter(name: str) -> Counter:
            spec = specs[_n(name)]
            return Counter(
                spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry
            )

        def histogram(name: str, buckets: Iterable[float]) -> Histogram:
            spec = specs[_n(name)]
            return Histogram(
                spec.name, spec.help, spec.labels, registry=registry, buckets=tuple(buckets)
            )

        def gauge(name: str, mode: str) -> Gauge:
            spec = specs[_n(name)]
            return Gauge(
                spec.name,
                spec.help,
                spec.labels,
                registry=registry,
                multiprocess_mode=mode,  # type: ignore[arg-type]
            )

        # Requests: plain-Python cells in one process (see httpstats), shared files with
        # several; ``http_in_flight`` has inc()/dec() either way.
        self.http_stats: HttpStats | None = None
        self.http_in_flight: Gauge | InFlight
        if fast_http:
            self.http_stats = HttpStats(
                specs[_n("http_requests_total")],
                specs[_n("http_request_duration_seconds")],
                specs[_n("http_requests_in_flight")],
                HTTP_BUCKETS,
            )
            registry.register(self.http_stats)
            self.http_in_flight = self.http_stats.in_flight
        else:
            self.http_requests = counter("http_requests_total")
            self.http_duration = histogram("http_request_duration_seconds", HTTP_BUCKETS)
            self.http_in_flight = gauge("http_requests_in_flight", "livesum")
        self.http_exceptions = counter("http_exceptions_total")
        self.start_time = gauge("start_time_seconds", "livemax")
        self.dropped = counter("label_values_dropped_total")
        self.job_duration = histogram("job_duration_seconds", JOB_BUCKETS)
        self.job_runs = counter("job_runs_total")
        self.job_running = gauge("job_running", "livesum")
        self.job_oldest_start = gauge("job_oldest_run_start_time_seconds", "livemin")
        self.job_last_success = gauge("job_last_success_time_seconds", "max")
        self.job_interval = gauge("job_schedule_interval_seconds", "max")
        self.job_expected_runtime = gauge("job_expected_runtime_seconds", "max")
        self.queue_depth = gauge("queue_depth", "livemax")
        self.workflows_started = counter("workflows_started_total")
        self.workflows_completed = counter("workflows_completed_total")
        self.workflows_failed = counter("workflows_failed_total")
        self.workflow_duration = histogram("workflow_duration_seconds", WORKFLOW_BUCKETS)
        self.steps_abandoned = counter("workflow_steps_abandoned_total")
        self.business_cases = counter("business_cases_total")
        self.data_quality = gauge("data_quality_ratio", "livemostrecent")
        self.memory_operations = counter("memory_operations_total")
        self.logins = counter("logins_total")
        self.token_operations = counter("token_operations_total")
        self.active_sessions = gauge("active_sessions", "livesum")
        self.user_operations = counter("user_operations_total")
        self.external_requests = counter("external_requests_total")
        self.external_duration = histogram("external_request_duration_seconds", EXTERNAL_BUCKETS)
        self.external_quota_used = gauge("external_quota_used", "livemax")
        self.external_quota_limit = gauge("external_quota_limit", "livemax")
        self.deliveries = counter("deliveries_total")

        limit = config.max_label_values
        self.route_guard = LabelGuard("route", limit, self.dropped)
        self.job_guard = LabelGuard("job_name", limit, self.dropped)
        self.queue_guard = LabelGuard("queue", limit, self.dropped)
        self.workflow_guard = LabelGuard("workflow", limit, self.dropped)
        self.target_guard = LabelGuard("target", limit, self.dropped)
        self.step_guard = LabelGuard("step", limit, self.dropped)
        self.tier_guard = LabelGuard("tier", limit, self.dropped)
        self.dataset_guard = LabelGuard("dataset", limit, self.dropped)

    def tenant(self, value: str | None) -> str:
        """The tenant label for ``value``: "" when disabled or absent, "other" if unknown."""
        if not self.config.tenants or not value:
            return ""
        return value if value in self.config.tenants else OTHER


INF = math.inf
