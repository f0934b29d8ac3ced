"""The application's service-level objectives: the instrumented service's availability and
latency, and each probed service's availability. Not a part (no alert, rule or panel
lives here): the area's ``__init__`` passes ``SLOS`` to :func:`gather`, and the SLO
renderers make their rules, alerts, tests, dashboard and runbooks."""

from __future__ import annotations

from generator.catalogue.application._common import (
    ERRORS,
    ESCALATE_ENG,
    ESCALATE_OPS,
    HEALTH,
    LATENCY_P99,
    REQUESTS,
)
from generator.model import (
    SLO,
    BooleanGaugeSLI,
    ErrorRatioSLI,
    LatencySLI,
    SLORunbook,
    Team,
)

APP_LABELS = (
    ("instance", "app-1:8080"),
    ("job", "app"),
    ("method", "GET"),
    ("route", "/api/items/{item_id}"),
)

APP_AVAILABILITY = SLO(
    name="AppAvailabilitySLO",
    slo="app-availability",
    service="app",
    title="App availability",
    description="Share of the HTTP requests the service answers without a server error (5xx).",
    objective_percent=99.9,
    sli=ErrorRatioSLI(
        bad='promfleet_app_http_requests_total{job="app",status="5xx"}',
        total='promfleet_app_http_requests_total{job="app"}',
        good_labels=(("status", "2xx"),),
    ),
    team=Team.ENGINEERING,
    test_labels=APP_LABELS,
    runbook=SLORunbook(
        impact="Users see server errors; the month's promise of 99.9 % good answers is being "
        "spent faster than it can last.",
        diagnosis=(
            f"Which instances fail, over 5 minutes: `{ERRORS}`",
            f"Traffic per instance: `{REQUESTS}`",
            "Which routes fail: `sum by (route) "
            '(rate(promfleet_app_http_requests_total{job="app",status="5xx"}[5m]))`',
            "Unhandled exceptions by route: "
            "`sum by (route) (rate(promfleet_app_http_exceptions_total[5m]))`",
            "Whether a dependency is down: `promfleet_probe_dependency_up == 0`",
        ),
        mitigation=(
            "Roll back the last deployment if the burn started with it.",
            "Restore the failing dependency, or switch the feature that uses it off.",
        ),
        escalation=ESCALATE_ENG,
        supersedes=(
            (
                "AppHighErrorRate",
                "kept: it judges each instance over 5 minutes, so one broken instance behind "
                "healthy ones (a share of the service too small to burn its budget fast) "
                "still pages, and it names the instance",
            ),
            (
                "AppAPIErrorBurst",
                "kept: it warns of a quiet service failing, which the SLO's minimum-traffic "
                "guard deliberately does not page for",
            ),
        ),
    ),
)

APP_LATENCY = SLO(
    name="AppLatencySLO",
    slo="app-latency",
    service="app",
    title="App latency",
    description="Share of the HTTP requests the service answers within 0.5 seconds.",
    objective_percent=99.0,
    sli=LatencySLI(
        histogram="promfleet_app_http_request_duration_seconds",
        bound_seconds=0.5,
        matchers='job="app"',
    ),
    team=Team.ENGINEERING,
    test_labels=APP_LABELS[:2] + APP_LABELS[2:],
    runbook=SLORunbook(
        impact="Users wait: more than 1 request in 100 takes over half a second, faster than "
        "the month's budget allows.",
        diagnosis=(
            f"The 99th percentile per instance: `{LATENCY_P99}`",
            "Slow routes: `histogram_quantile(0.99, sum by (route, le) "
            '(rate(promfleet_app_http_request_duration_seconds_bucket{job="app"}[5m])))`',
            "Slow external calls: `instance_target:promfleet_app_external_request_duration_"
            "seconds:mean5m`",
            f"Traffic per instance (load drives latency): `{REQUESTS}`",
        ),
        mitigation=(
            "Scale out or shed load if traffic grew; roll back a deployment that slowed a route.",
            "Cut the timeout of a slow dependency, or switch the feature off.",
        ),
        escalation=ESCALATE_ENG,
        supersedes=(
            (
                "AppHighP99Latency",
                "kept: a warning on the tail per instance, below what burns the budget",
            ),
            (
                "AppSlowResponses",
                "kept: a warning on the mean per instance, which moves before the share "
                "over 0.5 s does",
            ),
        ),
    ),
)

PROBE_AVAILABILITY = SLO(
    name="ProbedServiceAvailabilitySLO",
    slo="probe-availability",
    service="probed-services",
    title="Probed services availability",
    description="Share of the probe's checks of each target that succeeded (its uptime).",
    objective_percent=99.5,
    sli=BooleanGaugeSLI(metric='promfleet_probe_success{job="probe"}'),
    by=("job", "target"),
    team=Team.OPS,
    test_labels=(("instance", "probe-1:9115"), ("job", "probe"), ("target", "api")),
    runbook=SLORunbook(
        impact="The probed service does not answer its health endpoint: its users are "
        "probably cut off, and its month's 99.5 % uptime is being spent.",
        diagnosis=(
            "Which targets fail now: `promfleet_probe_success == 0`",
            "Why: `promfleet_probe_failure == 1` (timeout, connection, status, TLS)",
            f"Health the endpoint reports: `{HEALTH}`",
            "Uptime over the last day: "
            '`1 - slo:sli_error:ratio_rate1d{slo="probe-availability"}`',
        ),
        mitigation=(
            "Restart or fail over the service behind the target.",
            "If the probe itself cannot reach it (network, DNS, certificate), fix that path.",
        ),
        escalation=ESCALATE_OPS,
        supersedes=(
            (
                "AppServiceUnhealthy",
                "kept: it reads the health the endpoint reports (degraded, unhealthy), which "
                "the probe's success alone does not",
            ),
        ),
    ),
)

SLOS = (APP_AVAILABILITY, APP_LATENCY, PROBE_AVAILABILITY)
