"""Application alerts on external integrations: external APIs, quotas, deliveries.

Panels on the external integrations dashboard (``promfleet-application-integrations``).
"""

from __future__ import annotations

from generator.catalogue.application._common import (
    APP,
    DELIVERIES,
    DELIVERY_FAILURES,
    ESCALATE_ENG,
    EXTERNAL_CALLS,
    EXTERNAL_FAILURES,
    EXTERNAL_MEAN,
    SEL,
)
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import counter as _counter
from generator.testseries import gauge as _gauge

UNAVAILABLE = "server_error|timeout|connection_error|error"

# Minimum traffic before a share can page or warn (the alerting policy).
MIN_EXTERNAL_CALLS_PER_SECOND = 0.1  # 30 calls in 5 minutes
MIN_DELIVERIES_PER_SECOND = 0.1  # 30 deliveries in 5 minutes

RECORDING_RULES = (
    RecordingRule(
        EXTERNAL_FAILURES,
        "sum without (outcome) "
        f'(rate(promfleet_app_external_requests_total{{outcome=~"{UNAVAILABLE}"}}[5m]))\n'
        "/ sum without (outcome) (rate(promfleet_app_external_requests_total[5m]))",
    ),
    RecordingRule(
        EXTERNAL_CALLS,
        "sum without (outcome) (rate(promfleet_app_external_requests_total[5m]))",
    ),
    RecordingRule(
        EXTERNAL_MEAN,
        "rate(promfleet_app_external_request_duration_seconds_sum[5m])\n"
        "/ rate(promfleet_app_external_request_duration_seconds_count[5m])",
    ),
    RecordingRule(
        DELIVERY_FAILURES,
        'sum without (outcome) (rate(promfleet_app_deliveries_total{outcome="failure"}[5m]))\n'
        "/ sum without (outcome) (rate(promfleet_app_deliveries_total[5m]))",
    ),
    RecordingRule(DELIVERIES, "sum without (outcome) (rate(promfleet_app_deliveries_total[5m]))"),
)

EXTERNAL = (*APP, ("target", "payments"))

EXTERNAL_UNAVAILABLE = Threshold(
    name="AppExternalAPIUnavailable",
    signal=EXTERNAL_FAILURES,
    op=">",
    guard=(f"and on (instance, job, target) {EXTERNAL_CALLS} >= {MIN_EXTERNAL_CALLS_PER_SECOND:g}"),
    levels=(
        Level(
            Severity.WARNING,
            0.05,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    _counter(
                        "promfleet_app_external_requests_total",
                        (*EXTERNAL, ("outcome", "success")),
                        90,
                    ),
                    _counter(
                        "promfleet_app_external_requests_total",
                        (*EXTERNAL, ("outcome", "timeout")),
                        10,
                    ),
                ),
                quiet=(
                    _counter(
                        "promfleet_app_external_requests_total",
                        (*EXTERNAL, ("outcome", "success")),
                        99,
                    ),
                    _counter(
                        "promfleet_app_external_requests_total",
                        (*EXTERNAL, ("outcome", "timeout")),
                        1,
                    ),
                ),
                labels=EXTERNAL,
                value=0.1,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="External API {{ $labels.target }} fails {{ $value | humanizePercentage }} of calls",
    description=(
        "More than 5 % of the calls {{ $labels.instance }} made to {{ $labels.target }} in "
        "the last 5 minutes failed with a 5xx, a timeout or a connection error "
        "(now {{ $value | humanizePercentage }}), at 0.1 calls per second or more."
    ),
    runbook=Runbook(
        meaning="An external API the service depends on is failing or unreachable. A cause, "
        "not a symptom: when users notice, AppHighErrorRate or AppWorkflowFailureRate pages.",
        impact="Features that use it fail or degrade; workflows through it fail.",
        diagnosis=(
            f"Unavailable share: `{EXTERNAL_FAILURES}`",
            f"Calls per second (the alert needs 0.1): `{EXTERNAL_CALLS}`",
            "By outcome: `sum by (target, outcome) "
            "(rate(promfleet_app_external_requests_total[5m]))`",
            "The provider's status page, and whether our quota is used up: "
            "`promfleet_app_external_quota_used / promfleet_app_external_quota_limit`",
        ),
        mitigation=(
            "Switch to a fallback provider or degrade the feature gracefully.",
            "Lower retries so that our calls do not make the outage worse.",
        ),
        escalation="Open a ticket with the provider; page the owning team when its "
        "requests or workflows fail too (AppHighErrorRate, AppWorkflowFailureRate).",
    ),
    panel=Panel(
        title="External API unavailable ratio",
        dashboard="integrations",
        expr=f"{EXTERNAL_FAILURES}{{{SEL}}}",
        unit="percentunit",
        description="Share of calls to each external API that failed (5xx, timeout, connect).",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
)

EXTERNAL_SLOW = Threshold(
    name="AppExternalAPISlow",
    signal=EXTERNAL_MEAN,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            5,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    _counter("promfleet_app_external_request_duration_seconds_count", EXTERNAL, 60),
                    _counter("promfleet_app_external_request_duration_seconds_sum", EXTERNAL, 480),
                ),
                quiet=(
                    _counter("promfleet_app_external_request_duration_seconds_count", EXTERNAL, 60),
                    _counter("promfleet_app_external_request_duration_seconds_sum", EXTERNAL, 60),
                ),
                labels=EXTERNAL,
                value=8,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Calls to {{ $labels.target }} take {{ $value | humanizeDuration }} on average",
    description=(
        "Calls from {{ $labels.instance }} to the external API {{ $labels.target }} have "
        "averaged more than 5 s for 5 minutes (now {{ $value | humanizeDuration }})."
    ),
    runbook=Runbook(
        meaning="An external API answers, but slowly.",
        impact="Requests and workflows that call it slow down and may time out.",
        diagnosis=(
            f"Mean call time: `{EXTERNAL_MEAN}`",
            "p90 per target: `histogram_quantile(0.9, sum by (target, le) "
            "(rate(promfleet_app_external_request_duration_seconds_bucket[5m])))`",
        ),
        mitigation=("Lower the call timeout; cache answers; move calls off the request path.",),
        escalation="Hand over to the owning team; open a ticket with the provider.",
    ),
    guard=(
        "and on (instance, job, target) "
        "rate(promfleet_app_external_request_duration_seconds_count[5m])"
        f" >= {MIN_EXTERNAL_CALLS_PER_SECOND:g}"
    ),
    panel=Panel(
        title="External API mean call time",
        dashboard="integrations",
        expr=f"{EXTERNAL_MEAN}{{{SEL}}}",
        unit="s",
        description="Average duration of calls to each external API, over 5 minutes.",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
)

QUOTA_HIGH = Threshold(
    name="AppExternalQuotaHigh",
    signal="promfleet_app_external_quota_used / (promfleet_app_external_quota_limit > 0)",
    op=">",
    levels=(
        Level(
            Severity.INFO,
            0.8,
            for_seconds=300,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(
                    _gauge("promfleet_app_external_quota_used", EXTERNAL, 90),
                    _gauge("promfleet_app_external_quota_limit", EXTERNAL, 100),
                ),
                quiet=(
                    _gauge("promfleet_app_external_quota_used", EXTERNAL, 50),
                    _gauge("promfleet_app_external_quota_limit", EXTERNAL, 100),
                ),
                labels=EXTERNAL,
                value=0.9,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanizePercentage }} of the {{ $labels.target }} quota is used",
    description=(
        "{{ $labels.instance }} has used more than 80 % of its quota at the external API "
        "{{ $labels.target }} (now {{ $value | humanizePercentage }}). Calls are refused "
        "once it is exhausted."
    ),
    runbook=Runbook(
        meaning="The service is close to its rate limit at an external API.",
        impact="Nothing yet; once the quota runs out, the API refuses calls (429).",
        diagnosis=(
            "Quota used: `promfleet_app_external_quota_used / promfleet_app_external_quota_limit`",
            "Call rate: `sum by (target) (rate(promfleet_app_external_requests_total[5m]))`",
        ),
        mitigation=("Cache or batch calls; ask the provider for a larger quota.",),
        escalation="Informational; the owning team reads it in the daily digest.",
    ),
    panel=Panel(
        title="External API quota used",
        dashboard="integrations",
        expr=(
            f"promfleet_app_external_quota_used{{{SEL}}} / "
            f"promfleet_app_external_quota_limit{{{SEL}}}"
        ),
        unit="percentunit",
        description="Share of each external API's quota used in its current window.",
        legend="{{instance}} {{target}}",
        expect_data=False,
    ),
)

CHANNEL = (*APP, ("channel", "webhook"))

DELIVERY_FAILING = Threshold(
    name="AppDeliveryFailures",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal=DELIVERY_FAILURES,
    op=">",
    guard=f"and on (instance, job, channel) {DELIVERIES} >= {MIN_DELIVERIES_PER_SECOND:g}",
    levels=(
        Level(
            Severity.WARNING,
            0.1,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    _counter(
                        "promfleet_app_deliveries_total", (*CHANNEL, ("outcome", "success")), 80
                    ),
                    _counter(
                        "promfleet_app_deliveries_total", (*CHANNEL, ("outcome", "failure")), 20
                    ),
                ),
                quiet=(
                    _counter(
                        "promfleet_app_deliveries_total", (*CHANNEL, ("outcome", "success")), 99
                    ),
                    _counter(
                        "promfleet_app_deliveries_total", (*CHANNEL, ("outcome", "failure")), 1
                    ),
                ),
                labels=CHANNEL,
                value=0.2,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanizePercentage }} of {{ $labels.channel }} deliveries fail",
    description=(
        "More than 10 % of the {{ $labels.channel }} deliveries from {{ $labels.instance }} "
        "failed in the last 5 minutes (now {{ $value | humanizePercentage }}), at 0.1 "
        "deliveries per second or more."
    ),
    runbook=Runbook(
        meaning="Webhook or websocket messages are not reaching their receivers.",
        impact="Subscribers miss events; they act on stale data or poll instead.",
        diagnosis=(
            f"Failure ratio: `{DELIVERY_FAILURES}`",
            f"Deliveries per second (the alert needs 0.1): `{DELIVERIES}`",
            "Failures: `sum by (channel) "
            '(rate(promfleet_app_deliveries_total{outcome="failure"}[5m]))`',
        ),
        mitigation=(
            "Check whether one subscriber fails (disable it) or all do (our side).",
            "Make sure failed deliveries are retried once the receiver is back.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Delivery failure ratio",
        dashboard="integrations",
        expr=f"{DELIVERY_FAILURES}{{{SEL}}}",
        unit="percentunit",
        description="Share of webhook and websocket deliveries that failed, over 5 minutes.",
        legend="{{instance}} {{channel}}",
        expect_data=False,
    ),
)

PANELS = (
    Panel(
        title="External API calls by outcome",
        expr=(
            "sum by (instance, target, outcome) "
            f"(rate(promfleet_app_external_requests_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="reqps",
        description="Calls to external APIs per second, by configured target and outcome.",
        legend="{{instance}} {{target}} {{outcome}}",
        expect_data=False,
        dashboard="integrations",
    ),
    Panel(
        title="Deliveries by outcome",
        expr=(
            "sum by (instance, channel, outcome) "
            f"(rate(promfleet_app_deliveries_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="ops",
        description="Webhook and websocket deliveries per second, by channel and outcome.",
        legend="{{instance}} {{channel}} {{outcome}}",
        expect_data=False,
        dashboard="integrations",
    ),
)
