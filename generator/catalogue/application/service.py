"""Application alerts on the service itself: HTTP errors and latency, restarts, crash loops.

Panels on the main dashboard (``promfleet-application``).
"""

from __future__ import annotations

from generator.catalogue._seeds import seed_note
from generator.catalogue.application._common import (
    APP,
    ERRORS,
    ERRORS_1M,
    ERRORS_RATIO_1M,
    ESCALATE_ENG,
    EXTERNAL_MEAN,
    LATENCY_MEAN,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
    REQUESTS,
    REVOCATIONS_1H,
    REVOCATIONS_5M,
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
    TestSeries,
    Threshold,
    scraped_since,
)
from generator.testseries import counter as _counter
from generator.testseries import series

HTTP_ROUTE = (("method", "GET"), ("route", "/api/items/{item_id}"), ("tenant", ""))
HTTP_DROP = "method, route, status, tenant"

# Minimum traffic before a share can page or warn (the alerting policy): below these, a
# handful of failures is a large share by chance, and what breaks a quiet service is
# caught by the absolute floors (AppAPIErrorBurst) and the health probe instead.
MIN_REQUESTS_PER_SECOND = 1  # 300 requests in 5 minutes: a 10 % share is 30 failures
# A mean or a percentile of a handful of requests is one slow request, not a trend.
MIN_LATENCY_REQUESTS_PER_SECOND = 0.1  # 30 requests in 5 minutes

RECORDING_RULES = (
    RecordingRule(
        ERRORS,
        f"sum without ({HTTP_DROP}) "
        '(rate(promfleet_app_http_requests_total{status="5xx"}[5m]))\n'
        f"/ sum without ({HTTP_DROP}) (rate(promfleet_app_http_requests_total[5m]))",
    ),
    RecordingRule(
        ERRORS_RATIO_1M,
        f"sum without ({HTTP_DROP}) "
        '(rate(promfleet_app_http_requests_total{status="5xx"}[1m]))\n'
        f"/ sum without ({HTTP_DROP}) (rate(promfleet_app_http_requests_total[1m]))",
    ),
    RecordingRule(
        REQUESTS,
        f"sum without ({HTTP_DROP}) (rate(promfleet_app_http_requests_total[5m]))",
    ),
    RecordingRule(
        ERRORS_1M,
        f"sum without ({HTTP_DROP}) "
        '(increase(promfleet_app_http_requests_total{status="5xx"}[1m]))',
    ),
    RecordingRule(
        REVOCATIONS_5M,
        "sum without (operation, outcome) "
        '(rate(promfleet_app_token_operations_total{operation="revoke"}[5m]))',
    ),
    RecordingRule(
        REVOCATIONS_1H,
        "sum without (operation, outcome) "
        '(rate(promfleet_app_token_operations_total{operation="revoke"}[1h]))',
    ),
    RecordingRule(
        LATENCY_MEAN,
        "sum without (method, route) (rate(promfleet_app_http_request_duration_seconds_sum[5m]))\n"
        "/ sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_count[5m]))",
    ),
    RecordingRule(
        LATENCY_P50,
        "histogram_quantile(0.5, sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_bucket[5m])))",
    ),
    RecordingRule(
        LATENCY_P95,
        "histogram_quantile(0.95, sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_bucket[5m])))",
    ),
    RecordingRule(
        LATENCY_P99,
        "histogram_quantile(0.99, sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_bucket[5m])))",
    ),
)


def _requests(status: str, per_minute: float, samples: int = 40) -> TestSeries:
    labels = (*APP, *HTTP_ROUTE, ("status", status))
    return series("promfleet_app_http_requests_total", labels, f"0+{per_minute:g}x{samples}")


HIGH_ERROR_RATE = Threshold(
    name="AppHighErrorRate",
    category=Category.SLA_VIOLATION,
    signal=ERRORS,
    op=">",
    guard=f"and on (instance, job) {REQUESTS} >= {MIN_REQUESTS_PER_SECOND}",
    levels=(
        Level(
            Severity.CRITICAL,
            0.1,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(_requests("2xx", 80), _requests("5xx", 20)),
                quiet=(_requests("2xx", 98), _requests("5xx", 2)),
                labels=APP,
                value=0.2,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanizePercentage }} of requests to {{ $labels.instance }} fail",
    description=(
        "More than 10 % of the HTTP requests {{ $labels.instance }} served in the last 5 "
        "minutes answered 5xx (now {{ $value | humanizePercentage }}), at 1 request per "
        "second or more. Users see errors."
    ),
    runbook=Runbook(
        meaning="More than one request in ten ends in a server error (5xx), while the "
        "service answers at least one request per second (below that a few failures are a "
        "large share by chance; AppAPIErrorBurst warns of a quiet service that fails).",
        impact="Users see failures; retries add load; dependent services may fail in turn.",
        diagnosis=(
            f"Which instances: `{ERRORS}`",
            f"Traffic (the page needs 1 request per second or more): `{REQUESTS}`",
            "Which routes fail: `sum by (route) "
            '(rate(promfleet_app_http_requests_total{status="5xx"}[5m]))`',
            "Unhandled exceptions by route: "
            "`sum by (route) (rate(promfleet_app_http_exceptions_total[5m]))`",
            "Whether a dependency is down: `promfleet_probe_dependency_up == 0`",
        ),
        mitigation=(
            "Roll back the last deployment if the errors started with it.",
            "Restore the failing dependency, or switch the feature that uses it off.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="HTTP error ratio",
        expr=f"{ERRORS}{{{SEL}}}",
        unit="percentunit",
        description="Share of HTTP requests answered with a 5xx status, over 5 minutes.",
    ),
)

SLOW_RESPONSES = Threshold(
    name="AppSlowResponses",
    signal=LATENCY_MEAN,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    _counter("promfleet_app_http_request_duration_seconds_count", APP, 60),
                    _counter("promfleet_app_http_request_duration_seconds_sum", APP, 120),
                ),
                quiet=(
                    _counter("promfleet_app_http_request_duration_seconds_count", APP, 60),
                    _counter("promfleet_app_http_request_duration_seconds_sum", APP, 12),
                ),
                labels=APP,
                value=2,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Requests to {{ $labels.instance }} take {{ $value | humanizeDuration }} on average",
    description=(
        "The mean response time of {{ $labels.instance }} has been above 1 s for 5 minutes "
        "(now {{ $value | humanizeDuration }})."
    ),
    runbook=Runbook(
        meaning="The average HTTP request takes more than a second.",
        impact="Pages load slowly; clients time out and retry, which adds load.",
        diagnosis=(
            f"Mean response time: `{LATENCY_MEAN}`",
            "Slowest routes: `topk(5, sum by (route) "
            "(rate(promfleet_app_http_request_duration_seconds_sum[5m])) / sum by (route) "
            "(rate(promfleet_app_http_request_duration_seconds_count[5m])))`",
            "Requests waiting: `promfleet_app_http_requests_in_flight`",
            "Slow external calls: `" + EXTERNAL_MEAN + "`",
        ),
        mitigation=(
            "Scale out when the service is saturated (in-flight requests keep rising).",
            "Find the slow dependency (database, external API) and relieve it.",
        ),
        escalation=ESCALATE_ENG,
    ),
    guard=(
        "and on (instance, job) sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_count[5m]))"
        f" >= {MIN_LATENCY_REQUESTS_PER_SECOND:g}"
    ),
    panel=Panel(
        title="Mean response time",
        expr=f"{LATENCY_MEAN}{{{SEL}}}",
        unit="s",
        description="Average time from request to response headers, over 5 minutes.",
    ),
)


def _buckets(counts: dict[str, float]) -> tuple[TestSeries, ...]:
    return tuple(
        _counter(
            "promfleet_app_http_request_duration_seconds_bucket",
            (*APP, *HTTP_ROUTE[:2], ("le", le)),
            per_minute,
        )
        for le, per_minute in counts.items()
    )


HIGH_P99 = Threshold(
    name="AppHighP99Latency",
    signal=LATENCY_P99,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            2.5,
            for_seconds=600,
            cooldown_seconds=1800,
            test=AlertTest(
                # Every request takes between 2.5 s and 5 s: p99 = 4.975 s.
                firing=_buckets({"0.5": 0, "1": 0, "2.5": 0, "5": 60, "+Inf": 60}),
                quiet=_buckets({"0.5": 60, "1": 60, "2.5": 60, "5": 60, "+Inf": 60}),
                labels=APP,
                value=4.975,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="1 % of requests to {{ $labels.instance }} take over {{ $value | humanizeDuration }}",
    description=(
        "The 99th percentile response time of {{ $labels.instance }} has been above 2.5 s "
        "for 10 minutes (now {{ $value | humanizeDuration }})."
    ),
    runbook=Runbook(
        meaning="The slowest 1 % of requests take more than 2.5 seconds.",
        impact="Some users wait long or time out, even when the average looks fine.",
        diagnosis=(
            f"p99 per instance: `{LATENCY_P99}`",
            f"p50 and p95 beside it (how wide the tail is): `{LATENCY_P50}`, `{LATENCY_P95}`",
            "p99 per route: `histogram_quantile(0.99, sum by (route, le) "
            "(rate(promfleet_app_http_request_duration_seconds_bucket[5m])))`",
            "Jobs competing for the same resources: `promfleet_app_job_running > 0`",
        ),
        mitigation=(
            "Find the slow route and its slow dependency; add a timeout or a cache.",
            "Move heavy work off the request path into a background job.",
        ),
        escalation=ESCALATE_ENG,
    ),
    guard=(
        "and on (instance, job) sum without (method, route, le) "
        '(rate(promfleet_app_http_request_duration_seconds_bucket{le="+Inf"}[5m]))'
        f" >= {MIN_LATENCY_REQUESTS_PER_SECOND:g}"
    ),
    panel=Panel(
        title="p99 response time",
        expr=f"{LATENCY_P99}{{{SEL}}}",
        unit="s",
        description="99th percentile of the response time, over 5 minutes.",
    ),
)

BURST_SHARE = 0.05


def _burst(per_minute_ok: float, per_minute_5xx: float) -> tuple[TestSeries, ...]:
    return (
        series(
            "promfleet_app_http_requests_total",
            (*APP, *HTTP_ROUTE, ("status", "2xx")),
            f"0+{per_minute_ok / 4:g}x160",
        ),
        series(
            "promfleet_app_http_requests_total",
            (*APP, *HTTP_ROUTE, ("status", "5xx")),
            f"0+{per_minute_5xx / 4:g}x160",
        ),
    )


ERROR_BURST = Threshold(
    name="AppAPIErrorBurst",
    signal=ERRORS_1M,
    op=">=",
    # An absolute floor (the threshold) and a share: 10 errors a minute are news on a
    # service that answers 50 requests a minute, and noise on one that answers 60,000.
    guard=f"and on (instance, job) {ERRORS_RATIO_1M} > {BURST_SHARE:g}",
    levels=(
        Level(
            Severity.WARNING,
            10,
            for_seconds=120,
            cooldown_seconds=1800,
            test=AlertTest(
                # 40 requests a minute, 12 of them failing: 30 %.
                firing=_burst(28, 12),
                # 60,000 requests a minute, 12 of them failing: 0.02 %.
                quiet=_burst(59988, 12),
                labels=APP,
                value=12,
                warmup_seconds=60,
                interval_seconds=15,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanize }} API errors on {{ $labels.instance }} within a minute",
    description=(
        "For 2 minutes {{ $labels.instance }} has answered 10 or more requests a minute with "
        "a 5xx status, more than 5 % of its requests (now {{ $value | humanize }} in the "
        "last 60 seconds)."
    ),
    runbook=Runbook(
        meaning="A burst of server errors: ten or more a minute, and more than one request in "
        "twenty, for two minutes. It catches a quiet service that fails (below the traffic "
        "AppHighErrorRate needs) and a share too small to page. " + seed_note("AppAPIErrorBurst"),
        impact="Whatever the failing route serves is broken for its users right now.",
        diagnosis=(
            f"Errors in the last minute: `{ERRORS_1M}`",
            f"Their share of the requests: `{ERRORS_RATIO_1M}`",
            "Which routes: `sum by (route) "
            '(increase(promfleet_app_http_requests_total{status="5xx"}[1m]))`',
        ),
        mitigation=(
            "If it repeats, treat it as AppHighErrorRate: roll back or fix the dependency.",
        ),
        escalation="Hand over to the owning team; it pages only when the error rate alert fires.",
    ),
    panel=Panel(
        title="5xx responses per minute",
        expr=f"{ERRORS_1M}{{{SEL}}}",
        unit="short",
        description="Requests answered with a 5xx status in the last minute.",
        expect_data=False,
    ),
)

# A revocation spike: the last 5 minutes revoke more than three times as fast as the last
# hour, and at 4 a minute or more (20 in 5 minutes). Logouts revoke tokens all day at a
# steady pace; a spike is a mass revocation (a compromised account or client being cut
# off, an admin's bulk action) or a fault revoking what it should not. The hour is a
# baseline only once the instance has been scraped for an hour (scraped_since): a new
# instance at its usual pace would otherwise look like a twelvefold spike.
REVOCATION_SPIKE_FACTOR = 3
MIN_REVOCATIONS_PER_MINUTE = 4
REVOKE = (("operation", "revoke"), ("outcome", "success"))

REVOCATION_SPIKE = Threshold(
    name="AppTokenRevocationSpike",
    category=Category.SECURITY_INCIDENT,
    signal=f"{REVOCATIONS_5M} / ({REVOCATIONS_1H} > 0)",
    op=">",
    guard=f"and on (instance, job) {REVOCATIONS_5M} * 60 >= {MIN_REVOCATIONS_PER_MINUTE} "
    f"{scraped_since(3600)}",
    levels=(
        Level(
            Severity.WARNING,
            REVOCATION_SPIKE_FACTOR,
            for_seconds=120,
            cooldown_seconds=3600,
            test=AlertTest(
                # 1 revocation a minute for an hour, then 100 a minute.
                firing=(
                    series(
                        "promfleet_app_token_operations_total",
                        (*APP, *REVOKE),
                        "0+1x60 160+100x40",
                    ),
                    series("up", APP, "1x100"),
                ),
                # The same spike of issued tokens (a login rush), and a steady 10
                # revocations a minute: neither is a revocation spike.
                quiet=(
                    series(
                        "promfleet_app_token_operations_total",
                        (*APP, ("operation", "issue"), ("outcome", "success")),
                        "0+1x60 160+100x40",
                    ),
                    series("promfleet_app_token_operations_total", (*APP, *REVOKE), "0+10x100"),
                    series("up", APP, "1x100"),
                ),
                labels=APP,
                # At 65 min: 500 in the last 5 minutes, 555 in the last hour.
                value=6000 / 555,
                warmup_seconds=3660,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Token revocations spiked on {{ $labels.instance }}",
    description=(
        "Over the last 5 minutes {{ $labels.instance }} revoked tokens "
        "{{ $value | humanize }} times as fast as over the last hour, at 4 or more a minute."
    ),
    runbook=Runbook(
        meaning="Tokens are being revoked far faster than usual: more than three times the "
        "last hour's pace, and at least 4 a minute (20 in 5 minutes), for 2 minutes. "
        "Logouts revoke at a steady pace and stay quiet; a spike is a bulk revocation. "
        "An instance scraped for less than an hour has no baseline yet and cannot fire "
        "(its hour would hold only a few minutes).",
        impact="Users or clients are being logged out en masse: the response to a "
        "compromised account or client (expected, but someone should know), an attacker "
        "with admin rights cutting users off, or a fault revoking valid tokens.",
        diagnosis=(
            f"Now and the hour: `{REVOCATIONS_5M}`, `{REVOCATIONS_1H}`",
            "All token operations: `sum by (operation, outcome) "
            "(rate(promfleet_app_token_operations_total[5m]))`",
            "Sessions dropping with it: `promfleet_app_active_sessions`",
            "Who revoked, in the audit log: the admin or the client behind the bulk action.",
            "Role changes and deletions at the same time: `sum by (operation) "
            "(rate(promfleet_app_user_operations_total[5m]))`",
        ),
        mitigation=(
            "A planned bulk revocation (an incident response): note it and let it resolve.",
            "Unplanned: disable the account or client issuing the revocations; roll back a "
            "deploy that revokes valid tokens.",
        ),
        escalation="Hand it to the security team's queue within the hour; page the security "
        "on-call engineer when nobody planned it.",
    ),
    panel=Panel(
        title="Token revocations per minute",
        expr=f"{REVOCATIONS_5M}{{{SEL}}} * 60",
        unit="short",
        description="Tokens revoked per minute, over 5 minutes (the spike alert compares "
        "this with the last hour's pace).",
        alert_thresholds=False,
    ),
)

RESTARTED = Threshold(
    name="AppRestarted",
    signal="time() - promfleet_app_start_time_seconds",
    op="<",
    single_event=(
        "One restart is the news itself (a deploy, a crash, the OOM killer): an info note in "
        "the digest, with nothing to wait for; AppCrashLooping warns when restarts repeat."
    ),
    levels=(
        Level(
            Severity.INFO,
            300,
            for_seconds=0,
            # In the next daily digest, resolved or not.
            cooldown_seconds=86_400,
            test=AlertTest(
                firing=(series("promfleet_app_start_time_seconds", APP, "0+60x40"),),
                quiet=(series("promfleet_app_start_time_seconds", APP, "-100000+0x40"),),
                labels=APP,
                value=0,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $labels.instance }} restarted less than 5 minutes ago",
    description=(
        "A worker of {{ $labels.instance }} started less than 5 minutes ago: a deploy, a "
        "crash and restart, or the out-of-memory killer."
    ),
    runbook=Runbook(
        meaning="The service (or one of its workers) started within the last five minutes.",
        impact="In-flight requests of the old process were lost; caches start cold.",
        diagnosis=(
            "Uptime: `time() - promfleet_app_start_time_seconds`",
            "Restarts in the last hour: `changes(promfleet_app_start_time_seconds[1h])`",
            "Whether it was killed: ```sh\njournalctl -k | grep -i 'killed process'\n```",
        ),
        mitigation=(
            "Nothing, if a deploy explains it.",
            "If it repeats: read the logs before the restart; fix the crash or the leak.",
        ),
        escalation="Informational; the owning team reads it in the daily digest.",
    ),
    panel=Panel(
        title="Uptime",
        expr=f"time() - promfleet_app_start_time_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since the newest worker of the service started.",
        kind="stat",
    ),
)

CRASH_LOOP = Threshold(
    name="AppCrashLooping",
    signal="changes(promfleet_app_start_time_seconds[30m])",
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            3,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                # A worker starts again every minute: ten starts by t=600.
                firing=(series("promfleet_app_start_time_seconds", APP, "0+60x40"),),
                # One restart (a deploy) at t=1200.
                quiet=(series("promfleet_app_start_time_seconds", APP, "0+0x20 1200+0x20"),),
                labels=APP,
                value=10,
                warmup_seconds=180,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $labels.instance }} restarted {{ $value }} times in 30 minutes",
    description=(
        "A worker of {{ $labels.instance }} has started {{ $value }} times within the last "
        "30 minutes: it crashes (or is killed) and comes back, over and over. One deploy "
        "restarts it once or twice; three or more restarts are a crash loop."
    ),
    runbook=Runbook(
        meaning="The service keeps restarting: three or more starts within 30 minutes, "
        "for 5 minutes.",
        impact="Requests in flight at each crash fail; caches never warm up; the service "
        "may be down between restarts. When users see it, AppHighErrorRate or "
        "AppServiceUnhealthy pages; this warning names the cause.",
        diagnosis=(
            "Starts in the last 30 minutes: `changes(promfleet_app_start_time_seconds[30m])`",
            "Whether it was killed for memory: ```sh\njournalctl -k | grep -i 'killed "
            "process'\n```",
            "The service's log just before each start (the exception that ended it).",
            "Workers recycled on purpose (a max-requests setting) also count as starts.",
        ),
        mitigation=(
            "Roll back the deploy that started the loop.",
            "Fix the crash or give the service the memory it needs; stop a worker-recycling "
            "setting that restarts workers every few minutes.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Starts in the last 30 minutes",
        expr=f"changes(promfleet_app_start_time_seconds{{{SEL}}}[30m])",
        unit="short",
        description="How often a worker of the service started within the last 30 minutes.",
    ),
)

PANELS = (
    Panel(
        title="Request rate",
        expr=(
            "sum by (instance, route) "
            f"(rate(promfleet_app_http_requests_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="reqps",
        description="HTTP requests served per second, by route template.",
        legend="{{instance}} {{route}}",
    ),
    Panel(
        title="Response time percentiles",
        # The recording rules the latency alerts read, so panel and pager agree.
        expr=" or ".join(
            f'label_replace({rule}{{{SEL}}}, "quantile", "p{name}", "", "")'
            for rule, name in ((LATENCY_P50, "50"), (LATENCY_P95, "95"), (LATENCY_P99, "99"))
        ),
        unit="s",
        description="Median, 95th and 99th percentile of the response time, over 5 minutes.",
        legend="{{instance}} {{quantile}}",
    ),
    Panel(
        title="Requests in flight",
        expr=f"promfleet_app_http_requests_in_flight{{{SEL}}}",
        unit="short",
        description="HTTP requests being served right now.",
    ),
    Panel(
        title="Token operations by type",
        expr=(
            "sum by (instance, operation, outcome) "
            f"(rate(promfleet_app_token_operations_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="ops",
        description="Token operations per second: issue, refresh, revoke, validate, by "
        "outcome.",
        legend="{{instance}} {{operation}} {{outcome}}",
    ),
    Panel(
        title="Active sessions",
        expr=f"promfleet_app_active_sessions{{{SEL}}}",
        unit="short",
        description="Authenticated sessions open now.",
    ),
    Panel(
        title="User operations",
        expr=(
            "sum by (instance, operation, outcome) "
            f"(rate(promfleet_app_user_operations_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="ops",
        description="Operations on user accounts per second (create, update, delete, "
        "invite, role change, password reset, deactivate), by outcome.",
        legend="{{instance}} {{operation}} {{outcome}}",
    ),
    Panel(
        title="Logins by outcome",
        expr=(
            "sum by (instance, outcome, reason) "
            f"(rate(promfleet_app_logins_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="ops",
        description="Login attempts per second, by outcome and reason.",
        legend="{{instance}} {{outcome}} {{reason}}",
        expect_data=False,
    ),
)
