"""Application alerts on the business side of a service: agent memory and data quality.

Panels on the business workflows dashboard (``promfleet-application-business``):
workflows completed and failed, abandoned steps, business cases created, data quality and
agent memory operations. What each agent process uses (CPU, memory) is on the jobs
dashboard, from the system exporter's process groups.
"""

from __future__ import annotations

from generator.catalogue.application._common import (
    APP,
    ESCALATE_ENG,
    MEMORY_FAILURES,
    MEMORY_OPERATIONS,
    SEL,
    WORKFLOW_FAILURES,
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
)
from generator.testseries import counter as _counter
from generator.testseries import gauge as _gauge

# Minimum traffic before the memory failure share can warn (the alerting policy): at one
# operation a second, 1 % of five minutes is 3 failures; at less, one failure would be
# more than 1 % by itself.
MIN_MEMORY_OPERATIONS_PER_SECOND = 1
MEMORY_FAILURE_SHARE = 0.01
DATA_QUALITY_FLOOR = 0.85
AGENT_GROUPS = 'group=~"agent-.*"'

RECORDING_RULES = (
    RecordingRule(
        MEMORY_FAILURES,
        "sum without (operation, outcome) "
        '(rate(promfleet_app_memory_operations_total{outcome="failure"}[5m]))\n'
        "/ sum without (operation, outcome) (rate(promfleet_app_memory_operations_total[5m]))",
    ),
    RecordingRule(
        MEMORY_OPERATIONS,
        "sum without (operation, outcome) (rate(promfleet_app_memory_operations_total[5m]))",
    ),
)

TIER = (*APP, ("tier", "episodic"))


def _memory(per_minute_ok: float, per_minute_failed: float) -> tuple[TestSeries, ...]:
    return tuple(
        _counter(
            "promfleet_app_memory_operations_total",
            (*TIER, ("operation", "retrieve"), ("outcome", outcome)),
            per_minute,
        )
        for outcome, per_minute in (("success", per_minute_ok), ("failure", per_minute_failed))
    )


MEMORY_FAILING = Threshold(
    name="AppMemoryOperationFailures",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal=MEMORY_FAILURES,
    op=">",
    guard=(
        f"and on (instance, job, tier) {MEMORY_OPERATIONS} >= {MIN_MEMORY_OPERATIONS_PER_SECOND}"
    ),
    levels=(
        Level(
            Severity.WARNING,
            MEMORY_FAILURE_SHARE,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                # 120 operations a minute, 3 of them failing: 2.5 %.
                firing=_memory(117, 3),
                # 120 a minute, one failing every other minute: 0.4 %.
                quiet=_memory(119.5, 0.5),
                labels=TIER,
                value=0.025,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value | humanizePercentage }} of memory operations on tier {{ $labels.tier }} "
    "fail",
    description=(
        "More than 1 % of the store, retrieve and search operations {{ $labels.instance }} "
        "made on its {{ $labels.tier }} memory tier in the last 5 minutes failed (now "
        "{{ $value | humanizePercentage }}), at one operation per second or more."
    ),
    runbook=Runbook(
        meaning="The agents' memory (a vector store, a cache, a database behind a tier) "
        "refuses or loses more than one operation in a hundred, while the tier serves at "
        "least one operation a second (below that one failure is more than 1 % by itself). "
        "B2BValue's rule: memory-operation failure rate above 1 %, a warning.",
        impact="Agents work without what they should remember or fail to record what they "
        "learnt: answers get worse and business cases miss context. When workflows fail "
        "because of it, AppWorkflowFailureRate pages.",
        diagnosis=(
            f"Failure share per tier: `{MEMORY_FAILURES}`",
            f"Operations per second (the warning needs 1): `{MEMORY_OPERATIONS}`",
            "Which operation fails: `sum by (tier, operation) "
            '(rate(promfleet_app_memory_operations_total{outcome="failure"}[5m]))`',
            "The store behind the tier: its own alerts (Redis, PostgreSQL) and "
            "`promfleet_probe_dependency_up == 0`",
        ),
        mitigation=(
            "Restore the store behind the failing tier (memory, connections, disk).",
            "If one operation fails (search), roll back the change to its index or query.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Memory operation failure ratio",
        dashboard="business",
        expr=f"{MEMORY_FAILURES}{{{SEL}}}",
        unit="percentunit",
        description="Share of store, retrieve and search operations that failed, per "
        "memory tier, over 5 minutes.",
        legend="{{instance}} {{tier}}",
    ),
)

DATASET = (*APP, ("dataset", "business-cases"))

DATA_QUALITY_LOW = Threshold(
    name="AppDataQualityLow",
    signal="promfleet_app_data_quality_ratio",
    op="<",
    levels=(
        Level(
            Severity.INFO,
            DATA_QUALITY_FLOOR,
            for_seconds=900,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(_gauge("promfleet_app_data_quality_ratio", DATASET, 0.75),),
                quiet=(_gauge("promfleet_app_data_quality_ratio", DATASET, 0.9375),),
                labels=DATASET,
                value=0.75,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Data quality of {{ $labels.dataset }} is {{ $value | humanizePercentage }}",
    description=(
        "The data-quality score {{ $labels.instance }} computes for {{ $labels.dataset }} "
        "has been below 85 % for 15 minutes (now {{ $value | humanizePercentage }})."
    ),
    runbook=Runbook(
        meaning="The service's own data-quality checks (completeness, validity, freshness, "
        "whatever it scores) rate a dataset below 85 %. B2BValue's rule: data-quality score "
        "below 85 %, for information. Held 15 minutes, since scores are recomputed "
        "periodically and one bad batch is not a trend.",
        impact="Reports and business cases built on the dataset are less reliable; nothing "
        "fails outright.",
        diagnosis=(
            "Score per dataset: `promfleet_app_data_quality_ratio`",
            "Its trend over the week: `min_over_time(promfleet_app_data_quality_ratio[1d])`",
            "Which checks fail: the service's data-quality report for the dataset.",
        ),
        mitigation=(
            "Fix the upstream source or import that brought the bad records; re-run it.",
            "Quarantine the records that fail the checks until they are corrected.",
        ),
        escalation="Informational; the owning team reads it in the daily digest.",
    ),
    panel=Panel(
        title="Data quality",
        dashboard="business",
        expr=f"promfleet_app_data_quality_ratio{{{SEL}}}",
        unit="percentunit",
        description="Data-quality score of each dataset, as the service's checks compute it.",
        legend="{{instance}} {{dataset}}",
    ),
)

PANELS = (
    Panel(
        title="Workflows completed and failed",
        expr=(
            "label_replace(sum by (instance, workflow) (rate(promfleet_app_workflows_"
            f'completed_total{{{SEL}}}[$__rate_interval])), "outcome", "completed", "", "")'
            " or label_replace(sum by (instance, workflow) (rate(promfleet_app_workflows_"
            f'failed_total{{{SEL}}}[$__rate_interval])), "outcome", "failed", "", "")'
        ),
        unit="ops",
        description="Business workflows finished per second, completed or failed.",
        legend="{{instance}} {{workflow}} {{outcome}}",
        dashboard="business",
    ),
    Panel(
        title="Workflow failure share",
        expr=f"{WORKFLOW_FAILURES}{{{SEL}}}",
        unit="percentunit",
        description="Share of finished workflows that failed, over 5 minutes "
        "(AppWorkflowFailureRate pages above 5 %).",
        legend="{{instance}} {{workflow}}",
        dashboard="business",
    ),
    Panel(
        title="Abandoned workflow steps",
        expr=(
            "3600 * sum by (instance, workflow, step) (rate("
            f"promfleet_app_workflow_steps_abandoned_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="short",
        description="Workflow steps users or callers leave unfinished, per hour, by "
        "workflow and step: where people give up.",
        legend="{{instance}} {{workflow}} {{step}}",
        dashboard="business",
    ),
    Panel(
        title="Business cases created",
        expr=(
            "3600 * sum by (instance, tenant) "
            f"(rate(promfleet_app_business_cases_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="short",
        description="Business cases created per hour, by tenant.",
        legend="{{instance}} {{tenant}}",
        dashboard="business",
    ),
    Panel(
        title="Memory operations by tier and outcome",
        expr=(
            "sum by (instance, tier, operation, outcome) "
            f"(rate(promfleet_app_memory_operations_total{{{SEL}}}[$__rate_interval]))"
        ),
        unit="ops",
        description="Store, retrieve and search operations per second on each agent memory "
        "tier, by outcome.",
        legend="{{instance}} {{tier}} {{operation}} {{outcome}}",
        dashboard="business",
    ),
    # Per-agent resource use, from the system exporter's process groups named agent-*
    # (exporters/system/example.yml): on the jobs dashboard, beside the agents' runs.
    Panel(
        title="Agent CPU",
        expr=(
            "sum by (instance, group) (rate(promfleet_system_process_cpu_seconds_total"
            f"{{{SEL},{AGENT_GROUPS}}}[$__rate_interval]))"
        ),
        unit="short",
        description="CPU cores each agent's processes use (process groups named agent-*).",
        legend="{{instance}} {{group}}",
        expect_data=False,
        dashboard="jobs",
    ),
    Panel(
        title="Agent resident memory",
        expr=f"promfleet_system_process_resident_memory_bytes{{{SEL},{AGENT_GROUPS}}}",
        unit="bytes",
        description="Resident memory of each agent's processes (process groups named agent-*).",
        legend="{{instance}} {{group}}",
        expect_data=False,
        dashboard="jobs",
    ),
)
