"""Application alerts on background work: job runs, queues, scheduled jobs, workflows.

Panels on the jobs and workflows dashboard (``promfleet-application-jobs``).
"""

from __future__ import annotations

from generator.catalogue.application._common import (
    APP,
    ESCALATE_ENG,
    EXTERNAL_FAILURES,
    EXTERNAL_MEAN,
    JOB_EXPECTED,
    JOB_RUN_AGE,
    JOB_RUNS,
    JOB_SUCCESS,
    SEL,
    WORKFLOW_FAILURES,
    WORKFLOW_MEAN,
    WORKFLOWS_FINISHED,
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
from generator.testseries import series

# Minimum traffic before a share or a mean can warn (the alerting policy).
MIN_WORKFLOWS_PER_SECOND = 0.1  # 30 finished in 5 minutes: one failure is 3 %, silent
MIN_WORKFLOWS_PER_30M = 3  # a mean of fewer finished workflows is one slow workflow
MIN_JOB_RUNS_PER_HOUR = 10  # one failed run of fewer than ten is not a trend
# A run may take this long when its job declares no expected runtime (the seed's 5
# minutes); the library's DEFAULT_EXPECTED_RUNTIME_SECONDS says the same (a test holds it).
DEFAULT_EXPECTED_RUNTIME_SECONDS = 300

RECORDING_RULES = (
    RecordingRule(
        JOB_EXPECTED,
        # Every job the library knows has a job_running series (0 when idle): those that
        # declared no expected runtime get the default.
        "promfleet_app_job_expected_runtime_seconds\n"
        f"or 0 * promfleet_app_job_running + {DEFAULT_EXPECTED_RUNTIME_SECONDS}",
    ),
    RecordingRule(
        JOB_RUN_AGE,
        # +Inf start time (nothing running) gives -Inf: never above the limit.
        "(time() - promfleet_app_job_oldest_run_start_time_seconds)\n"
        f"/ on (instance, job, job_name) {JOB_EXPECTED}",
    ),
    RecordingRule(
        JOB_SUCCESS,
        # A job whose every run failed has no success series: it counts as 0, not absent.
        '(sum without (outcome) (rate(promfleet_app_job_runs_total{outcome="success"}[1h]))\n'
        "  or 0 * sum without (outcome) (rate(promfleet_app_job_runs_total[1h])))\n"
        "/ sum without (outcome) (rate(promfleet_app_job_runs_total[1h]))",
    ),
    RecordingRule(JOB_RUNS, "sum without (outcome) (increase(promfleet_app_job_runs_total[1h]))"),
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
)

JOB = (*APP, ("job_name", "report"))

JOB_TOO_LONG = Threshold(
    name="AppJobRunningTooLong",
    signal=JOB_RUN_AGE,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=60,
            cooldown_seconds=1800,
            test=AlertTest(
                # A job that declares nothing: held to the default 5 minutes.
                firing=(
                    series("promfleet_app_job_oldest_run_start_time_seconds", JOB, "-1000+0x40"),
                    _gauge("promfleet_app_job_running", JOB, 1),
                ),
                # The same run of a job that declared an hour: 20 minutes is on time.
                quiet=(
                    series("promfleet_app_job_oldest_run_start_time_seconds", JOB, "-1000+0x40"),
                    _gauge("promfleet_app_job_running", JOB, 1),
                    _gauge("promfleet_app_job_expected_runtime_seconds", JOB, 3600),
                ),
                labels=JOB,
                value=1180 / DEFAULT_EXPECTED_RUNTIME_SECONDS,  # 1000 s before t=0, at 180 s
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Job {{ $labels.job_name }} on {{ $labels.instance }} has run for "
    "{{ $value | humanize }} times its expected runtime",
    description=(
        "A run of {{ $labels.job_name }} on {{ $labels.instance }} has gone on for longer "
        "than the job's own expected runtime (5 minutes unless the job declares one), now "
        "{{ $value | humanize }} times it: it is stuck or far slower than it should be."
    ),
    runbook=Runbook(
        meaning="A background job or agent run has been going for longer than its job "
        "declared it may take (`expected_runtime_seconds` in the instrumentation library, "
        "published as `promfleet_app_job_expected_runtime_seconds`), or longer than 5 "
        "minutes when the job declares nothing (the Mini-XDR scheduler's limit). A model "
        "retraining that declares an hour is silent at 30 minutes and warns past its hour. "
        "The value is the run's age divided by that limit: 2 means twice as long.",
        impact="Its work is late; a stuck run may hold locks or block the next runs. A "
        "warning, not a page: no request fails because of it; when it blocks users, "
        "AppHighErrorRate or AppWorkflowFailureRate pages.",
        diagnosis=(
            f"Age against the limit: `{JOB_RUN_AGE}`",
            f"The limit each job is held to (declared, or the 5-minute default): "
            f"`{JOB_EXPECTED}`",
            "How long: `time() - promfleet_app_job_oldest_run_start_time_seconds`",
            "Runs in progress: `promfleet_app_job_running`",
            "Usual duration: `histogram_quantile(0.9, sum by (job_name, le) "
            "(rate(promfleet_app_job_duration_seconds_bucket[1h])))`",
        ),
        mitigation=(
            "Find what the run waits on (a lock, an external API, a large input).",
            "Cancel and restart the run when it is stuck; make the job time out.",
            "If the job is long by design, declare it: `instr.job(name, "
            "expected_runtime_seconds=3600)` (or `instr.expect_runtime(name, 3600)`).",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Oldest job run against its expected runtime",
        dashboard="jobs",
        expr=f"{JOB_RUN_AGE}{{{SEL}}} > 0",
        unit="percentunit",
        description="Age of the oldest unfinished run of each job, as a share of the job's "
        "expected runtime (100 % is the limit; 5 minutes unless the job declares one).",
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
        escalation=ESCALATE_ENG,
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
        escalation=ESCALATE_ENG,
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
        escalation=ESCALATE_ENG,
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
                    _counter("promfleet_app_workflow_duration_seconds_sum", WORKFLOW_LABELS, 12000),
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
        escalation=ESCALATE_ENG,
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

PANELS = (
    Panel(
        title="Oldest job run in progress",
        expr=f"time() - promfleet_app_job_oldest_run_start_time_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since the oldest unfinished run of each job started.",
        legend="{{instance}} {{job_name}}",
        expect_data=False,
        dashboard="jobs",
    ),
    Panel(
        title="Expected job runtime",
        expr=f"{JOB_EXPECTED}{{{SEL}}}",
        unit="s",
        description="How long one run of each job may take before AppJobRunningTooLong "
        "warns: what the job declared, or 5 minutes.",
        legend="{{instance}} {{job_name}}",
        dashboard="jobs",
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
)
