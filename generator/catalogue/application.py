"""Catalogue area ``application``: requests, jobs, workflows, integrations and health probes.

Signals come from the instrumentation library (``promfleet_app_*``, declared in
``exporters.app``) and from the probe exporter (``promfleet_probe_*``); recording rules
turn counters and histograms into ``instance:...`` ratios, means and quantiles. Panels
are split across three dashboards: requests and health (``promfleet-application``), jobs
and workflows (``-jobs``), external integrations (``-integrations``).
"""

from __future__ import annotations

from generator.model import (
    AlertTest,
    Area,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import counter as _counter
from generator.testseries import gauge as _gauge
from generator.testseries import series

APP = (("instance", "app-1:8080"), ("job", "app"))
PROBE = (("instance", "probe-1:9115"), ("job", "probe"), ("target", "api"))
SEL = 'job=~"$job",instance=~"$instance"'
HTTP_ROUTE = (("method", "GET"), ("route", "/api/items/{item_id}"), ("tenant", ""))
HTTP_DROP = "method, route, status, tenant"

ERRORS = "instance:promfleet_app_http_errors:ratio_rate5m"
ERRORS_RATIO_1M = "instance:promfleet_app_http_errors:ratio_rate1m"
ERRORS_1M = "instance:promfleet_app_http_errors:increase1m"
REQUESTS = "instance:promfleet_app_http_requests:rate5m"
LATENCY_P95 = "instance:promfleet_app_http_request_duration_seconds:p95_5m"
LATENCY_MEAN = "instance:promfleet_app_http_request_duration_seconds:mean5m"
LATENCY_P99 = "instance:promfleet_app_http_request_duration_seconds:p99_5m"
JOB_SUCCESS = "instance_job_name:promfleet_app_job_runs:success_ratio_rate1h"
JOB_RUNS = "instance_job_name:promfleet_app_job_runs:increase1h"
WORKFLOW_FAILURES = "instance_workflow:promfleet_app_workflows:failure_ratio_rate5m"
WORKFLOWS_FINISHED = "instance_workflow:promfleet_app_workflows_finished:rate5m"
WORKFLOW_MEAN = "instance_workflow:promfleet_app_workflow_duration_seconds:mean30m"
EXTERNAL_FAILURES = "instance_target:promfleet_app_external_requests:unavailable_ratio_rate5m"
EXTERNAL_CALLS = "instance_target:promfleet_app_external_requests:rate5m"
EXTERNAL_MEAN = "instance_target:promfleet_app_external_request_duration_seconds:mean5m"
DELIVERY_FAILURES = "instance_channel:promfleet_app_deliveries:failure_ratio_rate5m"
DELIVERIES = "instance_channel:promfleet_app_deliveries:rate5m"
HEALTH = "target:promfleet_probe_health:level"

UNAVAILABLE = "server_error|timeout|connection_error|error"

# Minimum traffic before a share can page or warn (the alerting policy): below these, a
# handful of failures is a large share by chance, and what breaks a quiet service is
# caught by the absolute floors (AppAPIErrorBurst) and the health probe instead.
MIN_REQUESTS_PER_SECOND = 1  # 300 requests in 5 minutes: a 10 % share is 30 failures
MIN_WORKFLOWS_PER_SECOND = 0.1  # 30 finished in 5 minutes: one failure is 3 %, silent
MIN_EXTERNAL_CALLS_PER_SECOND = 0.1  # 30 calls in 5 minutes
# A mean or a percentile of a handful of requests is one slow request, not a trend.
MIN_LATENCY_REQUESTS_PER_SECOND = 0.1  # 30 requests in 5 minutes
MIN_WORKFLOWS_PER_30M = 3  # a mean of fewer finished workflows is one slow workflow
MIN_DELIVERIES_PER_SECOND = 0.1  # 30 deliveries in 5 minutes
MIN_JOB_RUNS_PER_HOUR = 10  # one failed run of fewer than ten is not a trend

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
        LATENCY_MEAN,
        "sum without (method, route) (rate(promfleet_app_http_request_duration_seconds_sum[5m]))\n"
        "/ sum without (method, route) "
        "(rate(promfleet_app_http_request_duration_seconds_count[5m]))",
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
    RecordingRule(
        JOB_SUCCESS,
        # A job whose every run failed has no success series: it counts as 0, not absent.
        '(sum without (outcome) (rate(promfleet_app_job_runs_total{outcome="success"}[1h]))\n'
        "  or 0 * sum without (outcome) (rate(promfleet_app_job_runs_total[1h])))\n"
        "/ sum without (outcome) (rate(promfleet_app_job_runs_total[1h]))",
    ),
    RecordingRule(
        JOB_RUNS, "sum without (outcome) (increase(promfleet_app_job_runs_total[1h]))"
    ),
    RecordingRule(
        WORKFLOW_FAILURES,
        # A workflow that never completed has no completed series: it counts as 0.
        "sum without (tenant) (rate(promfleet_app_workflows_failed_total[5m]))\n"
        "/ (sum without (tenant) (rate(promfleet_app_workflows_failed_total[5m]))\n"
        "   + (sum without (tenant) (rate(promfleet_app_workflows_completed_total[5m]))\n"
        "      or 0 * sum without (tenant) (rate(promfleet_app_workflows_failed_total[5m]))))",
    ),
    RecordingRule(
        WORKFLOWS_FINISHED,
        "sum without (tenant) (rate(promfleet_app_workflows_failed_total[5m]))\n"
        "+ (sum without (tenant) (rate(promfleet_app_workflows_completed_total[5m]))\n"
        "   or 0 * sum without (tenant) (rate(promfleet_app_workflows_failed_total[5m])))",
    ),
    RecordingRule(
        WORKFLOW_MEAN,
        "rate(promfleet_app_workflow_duration_seconds_sum[30m])\n"
        "/ rate(promfleet_app_workflow_duration_seconds_count[30m])",
    ),
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
    RecordingRule(
        DELIVERIES, "sum without (outcome) (rate(promfleet_app_deliveries_total[5m]))"
    ),
    RecordingRule(
        HEALTH,
        # 0 healthy, 1 degraded, 2 unhealthy or not answering.
        "max without (status) (\n"
        '  promfleet_probe_health_status{status="degraded"}\n'
        '  or promfleet_probe_health_status{status="unhealthy"} * 2\n'
        '  or label_replace((1 - promfleet_probe_success) * 2, "status", "down", "", "")\n'
        ")",
    ),
)

_ESCALATE_ENG = (
    "Page the owning engineering team's on-call if user-facing and not resolved within "
    "30 minutes; raise an incident when several services show it at once."
)
_ESCALATE_OPS = "Page the ops on-call engineer when it is not resolved within 30 minutes."


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
        escalation=_ESCALATE_ENG,
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
        escalation=_ESCALATE_ENG,
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
            f"p95 beside it (how wide the tail is): `{LATENCY_P95}`",
            "p99 per route: `histogram_quantile(0.99, sum by (route, le) "
            "(rate(promfleet_app_http_request_duration_seconds_bucket[5m])))`",
            "Jobs competing for the same resources: `promfleet_app_job_running > 0`",
        ),
        mitigation=(
            "Find the slow route and its slow dependency; add a timeout or a cache.",
            "Move heavy work off the request path into a background job.",
        ),
        escalation=_ESCALATE_ENG,
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
        "AppHighErrorRate needs) and a share too small to page.",
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
            # Repeats inside the daily digest window at most every 5 minutes.
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
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Starts in the last 30 minutes",
        expr=f"changes(promfleet_app_start_time_seconds{{{SEL}}}[30m])",
        unit="short",
        description="How often a worker of the service started within the last 30 minutes.",
    ),
)

JOB = (*APP, ("job_name", "report"))

JOB_TOO_LONG = Threshold(
    name="AppJobRunningTooLong",
    signal="time() - promfleet_app_job_oldest_run_start_time_seconds",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            300,
            for_seconds=60,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    series("promfleet_app_job_oldest_run_start_time_seconds", JOB, "-1000+0x40"),
                ),
                quiet=(
                    series(
                        "promfleet_app_job_oldest_run_start_time_seconds", JOB, "9999999999+0x40"
                    ),
                ),
                labels=JOB,
                value=1180,  # 1000 s before t=0, evaluated at 180 s
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Job {{ $labels.job_name }} on {{ $labels.instance }} has run for over 5 minutes",
    description=(
        "A run of {{ $labels.job_name }} on {{ $labels.instance }} started more than 5 "
        "minutes ago and has not finished: it is stuck or far slower than it should be."
    ),
    runbook=Runbook(
        meaning="A background job or agent run has been going for more than five minutes.",
        impact="Its work is late; a stuck run may hold locks or block the next runs. A "
        "warning, not a page: no request fails because of it; when it blocks users, "
        "AppHighErrorRate or AppWorkflowFailureRate pages.",
        diagnosis=(
            "How long: `time() - promfleet_app_job_oldest_run_start_time_seconds`",
            "Runs in progress: `promfleet_app_job_running`",
            "Usual duration: `histogram_quantile(0.9, sum by (job_name, le) "
            "(rate(promfleet_app_job_duration_seconds_bucket[1h])))`",
        ),
        mitigation=(
            "Find what the run waits on (a lock, an external API, a large input).",
            "Cancel and restart the run when it is stuck; make the job time out.",
        ),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Oldest job run in progress",
        dashboard="jobs",
        expr=f"time() - promfleet_app_job_oldest_run_start_time_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since the oldest unfinished run of each job started.",
        legend="{{instance}} {{job_name}}",
        expect_data=False,
    ),
)

JOB_SUCCESS_LOW = Threshold(
    name="AppJobSuccessRateLow",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal=JOB_SUCCESS,
    op="<",
    guard=f"and on (instance, job, job_name) {JOB_RUNS} >= {MIN_JOB_RUNS_PER_HOUR}",
    levels=(
        Level(
            Severity.WARNING,
            0.95,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _counter("promfleet_app_job_runs_total", (*JOB, ("outcome", "success")), 9),
                    _counter("promfleet_app_job_runs_total", (*JOB, ("outcome", "failure")), 1),
                ),
                quiet=(
                    _counter("promfleet_app_job_runs_total", (*JOB, ("outcome", "success")), 10),
                    _counter("promfleet_app_job_runs_total", (*JOB, ("outcome", "failure")), 0),
                ),
                labels=JOB,
                value=0.9,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Job {{ $labels.job_name }} succeeds in only {{ $value | humanizePercentage }} of runs",
    description=(
        "Over the last hour, fewer than 95 % of the runs of {{ $labels.job_name }} on "
        "{{ $labels.instance }} succeeded (now {{ $value | humanizePercentage }}), out of "
        "10 runs or more."
    ),
    runbook=Runbook(
        meaning="More than one run in twenty of a background job failed in the last hour, "
        "out of at least ten runs (a job that runs rarely is watched by "
        "AppScheduledJobStopped instead).",
        impact="Its work is incomplete or late: reports, imports or syncs are missing data.",
        diagnosis=(
            f"Success ratio: `{JOB_SUCCESS}`",
            f"Runs in the last hour (the alert needs 10): `{JOB_RUNS}`",
            'Failures per hour: `increase(promfleet_app_job_runs_total{outcome="failure"}[1h])`',
            "The job's logs for the failed runs.",
        ),
        mitigation=(
            "Fix the cause in the logs (bad input, a dependency down), then re-run.",
            "Pause the job if each failed run does damage (partial writes).",
        ),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Job success ratio (1 h)",
        dashboard="jobs",
        expr=f"{JOB_SUCCESS}{{{SEL}}}",
        unit="percentunit",
        description="Share of each job's runs in the last hour that succeeded.",
        legend="{{instance}} {{job_name}}",
    ),
)

QUEUE = (*APP, ("queue", "emails"))

QUEUE_BACKLOG = Threshold(
    name="AppQueueBacklog",
    signal="promfleet_app_queue_depth",
    op=">",
    levels=(
        Level(
            Severity.INFO,
            10,
            for_seconds=300,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(_gauge("promfleet_app_queue_depth", QUEUE, 25),),
                quiet=(_gauge("promfleet_app_queue_depth", QUEUE, 3),),
                labels=QUEUE,
                value=25,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Queue {{ $labels.queue }} on {{ $labels.instance }} holds {{ $value | humanize }}",
    description=(
        "More than 10 items have waited in {{ $labels.queue }} on {{ $labels.instance }} for "
        "5 minutes (now {{ $value | humanize }}): workers do not keep up."
    ),
    runbook=Runbook(
        meaning="Work is queueing faster than the workers take it.",
        impact="Queued work is delayed; a growing queue eventually uses all its memory.",
        diagnosis=(
            "Depth: `promfleet_app_queue_depth`",
            "Growth: `deriv(promfleet_app_queue_depth[15m])`",
            "Workers busy: `promfleet_app_job_running`",
        ),
        mitigation=("Add workers, or find why each item got slower.",),
        escalation="Informational; the owning team reads it in the daily digest.",
    ),
    panel=Panel(
        title="Queue depth",
        dashboard="jobs",
        expr=f"promfleet_app_queue_depth{{{SEL}}}",
        unit="short",
        description="Items waiting in each work queue.",
        legend="{{instance}} {{queue}}",
    ),
)

SCHEDULED = (*APP, ("job_name", "nightly-sync"))

SCHEDULED_STOPPED = Threshold(
    name="AppScheduledJobStopped",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal=(
        "(time() - promfleet_app_job_last_success_time_seconds)\n"
        "/ promfleet_app_job_schedule_interval_seconds"
    ),
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            2,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series("promfleet_app_job_last_success_time_seconds", SCHEDULED, "-1000+0x40"),
                    _gauge("promfleet_app_job_schedule_interval_seconds", SCHEDULED, 60),
                ),
                quiet=(
                    series("promfleet_app_job_last_success_time_seconds", SCHEDULED, "0+60x40"),
                    _gauge("promfleet_app_job_schedule_interval_seconds", SCHEDULED, 60),
                ),
                labels=SCHEDULED,
                value=1420 / 60,  # 1000 s before t=0, evaluated at 420 s
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Scheduled job {{ $labels.job_name }} on {{ $labels.instance }} stopped succeeding",
    description=(
        "{{ $labels.job_name }} on {{ $labels.instance }} has not succeeded for more than "
        "two of its scheduling intervals: its runs fail, or the scheduler stopped running it."
    ),
    runbook=Runbook(
        meaning="A scheduled job missed at least two of its runs.",
        impact="What it maintains (syncs, cleanups, reports) is going stale.",
        diagnosis=(
            "Intervals missed: `(time() - promfleet_app_job_last_success_time_seconds) "
            "/ promfleet_app_job_schedule_interval_seconds`",
            "Failing or not running: `increase(promfleet_app_job_runs_total[1h])` by outcome",
        ),
        mitigation=(
            "Failing runs: read their logs and fix the cause.",
            "No runs: restart the scheduler; check it holds its leader lock.",
        ),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Time since last successful run",
        dashboard="jobs",
        expr=f"time() - promfleet_app_job_last_success_time_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since each scheduled job last succeeded.",
        legend="{{instance}} {{job_name}}",
        alert_thresholds=False,
    ),
)

WORKFLOW = (*APP, ("tenant", ""), ("workflow", "checkout"))
WORKFLOW_LABELS = (*APP, ("workflow", "checkout"))

WORKFLOW_FAILING = Threshold(
    name="AppWorkflowFailureRate",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal=WORKFLOW_FAILURES,
    op=">",
    guard=(
        f"and on (instance, job, workflow) {WORKFLOWS_FINISHED} >= {MIN_WORKFLOWS_PER_SECOND:g}"
    ),
    levels=(
        Level(
            Severity.CRITICAL,
            0.05,
            for_seconds=300,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(
                    _counter("promfleet_app_workflows_completed_total", WORKFLOW, 18),
                    _counter("promfleet_app_workflows_failed_total", WORKFLOW, 2),
                ),
                quiet=(
                    _counter("promfleet_app_workflows_completed_total", WORKFLOW, 20),
                    _counter("promfleet_app_workflows_failed_total", WORKFLOW, 0),
                ),
                labels=WORKFLOW_LABELS,
                value=0.1,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanizePercentage }} of {{ $labels.workflow }} workflows fail",
    description=(
        "More than 5 % of the {{ $labels.workflow }} workflows that finished on "
        "{{ $labels.instance }} in the last 5 minutes failed "
        "(now {{ $value | humanizePercentage }}), at 30 or more finished workflows."
    ),
    runbook=Runbook(
        meaning="More than one business workflow in twenty fails.",
        impact="Customers cannot complete what they came for (orders, sign-ups, payments).",
        diagnosis=(
            f"Failure ratio: `{WORKFLOW_FAILURES}`",
            f"Finished per second (the page needs 0.1): `{WORKFLOWS_FINISHED}`",
            "Per tenant: `sum by (tenant) (rate(promfleet_app_workflows_failed_total[5m]))`",
            "External APIs failing: `" + EXTERNAL_FAILURES + " > 0`",
        ),
        mitigation=(
            "Roll back a deploy that changed the workflow.",
            "Restore the step that fails (usually an external API or a database).",
        ),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Workflow failure ratio",
        dashboard="jobs",
        expr=f"{WORKFLOW_FAILURES}{{{SEL}}}",
        unit="percentunit",
        description="Share of finished workflows that failed, over 5 minutes.",
        legend="{{instance}} {{workflow}}",
        expect_data=False,
    ),
)

WORKFLOW_SLOW = Threshold(
    name="AppWorkflowSlow",
    signal=WORKFLOW_MEAN,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            1800,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _counter("promfleet_app_workflow_duration_seconds_count", WORKFLOW_LABELS, 5),
                    _counter(
                        "promfleet_app_workflow_duration_seconds_sum", WORKFLOW_LABELS, 12000
                    ),
                ),
                quiet=(
                    _counter("promfleet_app_workflow_duration_seconds_count", WORKFLOW_LABELS, 5),
                    _counter("promfleet_app_workflow_duration_seconds_sum", WORKFLOW_LABELS, 3000),
                ),
                labels=WORKFLOW_LABELS,
                value=2400,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $labels.workflow }} workflows take {{ $value | humanizeDuration }} on average",
    description=(
        "Over the last 30 minutes, {{ $labels.workflow }} workflows on {{ $labels.instance }} "
        "took more than 30 minutes on average to complete "
        "(now {{ $value | humanizeDuration }})."
    ),
    runbook=Runbook(
        meaning="Business workflows complete, but far more slowly than they should.",
        impact="Customers wait; time-limited steps (payment holds, tokens) may expire.",
        diagnosis=(
            f"Mean completion time: `{WORKFLOW_MEAN}`",
            "Queues in front of the workflow: `promfleet_app_queue_depth`",
            "Slow external calls: `" + EXTERNAL_MEAN + "`",
        ),
        mitigation=("Relieve the slow step: add workers, or fix the slow dependency.",),
        escalation=_ESCALATE_ENG,
    ),
    guard=(
        "and on (instance, job, workflow) sum without (tenant) "
        "(increase(promfleet_app_workflow_duration_seconds_count[30m]))"
        f" >= {MIN_WORKFLOWS_PER_30M}"
    ),
    panel=Panel(
        title="Mean workflow completion time",
        dashboard="jobs",
        expr=f"{WORKFLOW_MEAN}{{{SEL}}}",
        unit="s",
        description="Average time from start to completion of workflows, over 30 minutes.",
        legend="{{instance}} {{workflow}}",
        expect_data=False,
    ),
)

EXTERNAL = (*APP, ("target", "payments"))

EXTERNAL_UNAVAILABLE = Threshold(
    name="AppExternalAPIUnavailable",
    signal=EXTERNAL_FAILURES,
    op=">",
    guard=(
        f"and on (instance, job, target) {EXTERNAL_CALLS} >= {MIN_EXTERNAL_CALLS_PER_SECOND:g}"
    ),
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
        escalation=_ESCALATE_ENG,
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


def _health(degraded: int, unhealthy: int, success: int = 1) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_probe_health_status", (*PROBE, ("status", "degraded")), degraded),
        _gauge("promfleet_probe_health_status", (*PROBE, ("status", "unhealthy")), unhealthy),
        _gauge("promfleet_probe_success", PROBE, success),
    )


SERVICE_UNHEALTHY = Threshold(
    name="AppServiceUnhealthy",
    category=Category.SYSTEM_OUTAGE,
    signal=HEALTH,
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_health(1, 0), quiet=_health(0, 0), labels=PROBE, value=1),
        ),
        Level(
            Severity.CRITICAL,
            2,
            for_seconds=60,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=_health(0, 1, success=0),
                quiet=_health(1, 0),
                labels=PROBE,
                value=2,
                quiet_value=1,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Service {{ $labels.target }} reports itself degraded or unhealthy",
    description=(
        "The health endpoint of {{ $labels.target }} (probed by {{ $labels.instance }}) "
        "reports degraded (1) or unhealthy or unreachable (2); now {{ $value }}."
    ),
    runbook=Runbook(
        meaning="A service's own health check says it is degraded, unhealthy, or not answering.",
        impact="Degraded: some features fail. Unhealthy: the service is effectively down.",
        diagnosis=(
            f"Health level (0 ok, 1 degraded, 2 down): `{HEALTH}`",
            "Which dependency it blames: `promfleet_probe_dependency_up == 0`",
            "Why the probe failed: `promfleet_probe_failure == 1`",
            "The endpoint itself: ```sh\ncurl -s http://SERVICE/healthz\n```",
        ),
        mitigation=(
            "Restore the dependency the health body names.",
            "Restart or fail over the service when it does not answer at all.",
        ),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Service health (0 ok, 1 degraded, 2 down)",
        expr=f'{HEALTH}{{job=~"$job",instance=~"$instance"}}',
        unit="short",
        description="Health level from each probed health endpoint.",
        legend="{{target}}",
    ),
)

DEPENDENCY = (*PROBE[:2], ("dependency", "redis"), PROBE[2])

DEPENDENCY_DOWN = Threshold(
    name="AppDependencyDown",
    signal="promfleet_probe_dependency_up",
    op="<",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=120,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(_gauge("promfleet_probe_dependency_up", DEPENDENCY, 0),),
                quiet=(_gauge("promfleet_probe_dependency_up", DEPENDENCY, 1),),
                labels=DEPENDENCY,
                value=0,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $labels.target }} reports its dependency {{ $labels.dependency }} down",
    description=(
        "For 2 minutes the health endpoint of {{ $labels.target }} has reported "
        "{{ $labels.dependency }} as down."
    ),
    runbook=Runbook(
        meaning="A service says one of the things it depends on is unavailable to it.",
        impact="Features that need the dependency fail; the service may be degraded.",
        diagnosis=(
            "Which: `promfleet_probe_dependency_up == 0`",
            "The dependency's own alerts (database, redis) on the overview dashboard.",
        ),
        mitigation=("Restore the dependency, or the network path from the service to it.",),
        escalation=_ESCALATE_ENG,
    ),
    panel=Panel(
        title="Dependencies up",
        expr=f"promfleet_probe_dependency_up{{{SEL}}}",
        unit="short",
        description="1 when a probed service reports the dependency up, 0 when down.",
        legend="{{target}} {{dependency}}",
    ),
)

CERT_EXPIRING = Threshold(
    name="AppTLSCertificateExpiring",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_probe_tls_certificate_expiry_timestamp_seconds - time()",
    op="<",
    # The probe keeps publishing an expired certificate's date (verified but for its
    # dates); if the series still vanishes (the endpoint stops answering, the probe
    # fails), the page stays up rather than reading "resolved".
    keep_firing_seconds=1800,
    levels=(
        Level(
            Severity.CRITICAL,
            3 * 86400,
            for_seconds=300,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "86400+0x40",
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "864000+0x40",
                    ),
                ),
                labels=PROBE,
                value=86400 - 420,  # 1 day from t=0, evaluated at 420 s
                quiet_value=864000 - 420,  # 10 days: the warning's, not yet held for 10m
            ),
        ),
        Level(
            Severity.WARNING,
            14 * 86400,
            for_seconds=600,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "864000+0x40",
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "99999999999+0x40",
                    ),
                ),
                labels=PROBE,
                value=864000 - 720,  # 10 days from t=0, evaluated at 720 s
            ),
        ),
    ),
    team=Team.OPS,
    summary="The TLS certificate of {{ $labels.target }} expires within 14 days, or has "
    "expired",
    description=(
        "The certificate served by {{ $labels.target }} (probed by {{ $labels.instance }}) "
        "has {{ $value | humanizeDuration }} left (negative: it has expired). Warning under "
        "14 days; critical under 3 days or once expired, when clients refuse the connection."
    ),
    runbook=Runbook(
        meaning="A served TLS certificate is close to its expiry date (warning: under 14 "
        "days), or under 3 days from it or past it (critical: renewal has failed and there is "
        "no time left to wait for it).",
        impact="Under 14 days, nothing yet; once expired, every client refuses to connect "
        "(the probe then fails with reason tls, and still reports the expired date).",
        diagnosis=(
            "Days left: `(promfleet_probe_tls_certificate_expiry_timestamp_seconds - time()) "
            "/ 86400`",
            "The certificate: ```sh\nopenssl s_client -connect HOST:443 </dev/null "
            "| openssl x509 -noout -enddate\n```",
        ),
        mitigation=(
            "Renew the certificate and reload the server that serves it.",
            "If renewal is automated (ACME), find why it failed: its logs, DNS, rate limits.",
        ),
        escalation=_ESCALATE_OPS,
    ),
    panel=Panel(
        title="TLS certificate time left",
        dashboard="integrations",
        expr=f"promfleet_probe_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()",
        unit="s",
        description="Seconds until each probed endpoint's certificate expires.",
        legend="{{target}}",
        expect_data=False,
    ),
)

AREA = Area(
    name="application",
    title="Application",
    description=(
        "Instrumented services: request rate, errors and latency; jobs and workflows; "
        "external integrations; health endpoints and certificates as the probe sees them."
    ),
    recording_rules=RECORDING_RULES,
    thresholds=(
        HIGH_ERROR_RATE,
        SLOW_RESPONSES,
        HIGH_P99,
        ERROR_BURST,
        RESTARTED,
        CRASH_LOOP,
        JOB_TOO_LONG,
        JOB_SUCCESS_LOW,
        QUEUE_BACKLOG,
        SCHEDULED_STOPPED,
        WORKFLOW_FAILING,
        WORKFLOW_SLOW,
        EXTERNAL_UNAVAILABLE,
        EXTERNAL_SLOW,
        QUOTA_HIGH,
        DELIVERY_FAILING,
        SERVICE_UNHEALTHY,
        DEPENDENCY_DOWN,
        CERT_EXPIRING,
    ),
    panels=(
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
            expr=" or ".join(
                f'label_replace(histogram_quantile({q}, sum by (instance, le) '
                "(rate(promfleet_app_http_request_duration_seconds_bucket"
                f'{{{SEL}}}[$__rate_interval]))), "quantile", "p{name}", "", "")'
                for q, name in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
            ),
            unit="s",
            description="Median, 95th and 99th percentile of the response time.",
            legend="{{instance}} {{quantile}}",
        ),
        Panel(
            title="Requests in flight",
            expr=f"promfleet_app_http_requests_in_flight{{{SEL}}}",
            unit="short",
            description="HTTP requests being served right now.",
        ),
        Panel(
            title="Job runs by outcome",
            expr=(
                "sum by (instance, job_name, outcome) "
                f"(rate(promfleet_app_job_runs_total{{{SEL}}}[$__rate_interval]))"
            ),
            unit="ops",
            description="Finished background job runs per second, by outcome.",
            legend="{{instance}} {{job_name}} {{outcome}}",
            dashboard="jobs",
        ),
        Panel(
            title="Job runs in progress",
            expr=f"sum by (instance, job_name) (promfleet_app_job_running{{{SEL}}})",
            unit="short",
            description="Background job and agent runs in progress now, by job name.",
            legend="{{instance}} {{job_name}}",
            dashboard="jobs",
        ),
        Panel(
            title="Workflows by outcome",
            expr=(
                "label_replace(sum by (instance, workflow) (rate(promfleet_app_workflows_"
                f'completed_total{{{SEL}}}[$__rate_interval])), "outcome", "completed", "", "")'
                " or label_replace(sum by (instance, workflow) (rate(promfleet_app_workflows_"
                f'failed_total{{{SEL}}}[$__rate_interval])), "outcome", "failed", "", "")'
            ),
            unit="ops",
            description="Workflows finished per second, completed or failed.",
            legend="{{instance}} {{workflow}} {{outcome}}",
            expect_data=False,
            dashboard="jobs",
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
        Panel(
            title="Probe duration",
            expr=f"promfleet_probe_duration_seconds{{{SEL}}}",
            unit="s",
            description="How long each health endpoint took to answer the probe.",
            legend="{{target}}",
        ),
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
    ),
    dashboards=(("jobs", "Jobs and workflows"), ("integrations", "External integrations")),
)
