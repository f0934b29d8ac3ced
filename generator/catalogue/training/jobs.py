"""Training alerts on training jobs: failed, stalled, queued too long.

Panels beside them: job states, progress, loss, evaluation metric, throughput.
"""

from __future__ import annotations

from generator.catalogue.training._common import (
    ESCALATE,
    HOST,
    JOB_ID,
    SEL,
    STATUS_DIR,
)
from generator.model import (
    AlertTest,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import gauge as _const
from generator.testseries import series

JOB_UPDATE_AGE = "instance_job_id:promfleet_training_job_update_age:seconds"

RECORDING_RULES = (
    RecordingRule(
        JOB_UPDATE_AGE,
        "(time() - promfleet_training_job_last_update_timestamp_seconds)\n"
        "and on (instance, job, model, job_id) (promfleet_training_job_running == 1)",
    ),
)

FAILED_AGE = "time() - promfleet_training_job_failed_timestamp_seconds"
FAILED_WINDOW_S = 1800

# A failed job is an event, not a state: the alert counts from the trainer's own end
# time, so each failed job warns once (one alert per job_id) and clears 30 minutes later,
# whatever the exporter's retention window, and an exporter restart neither repeats an
# old failure nor loses a recent one.
JOB_FAILED = Threshold(
    name="TrainingJobFailed",
    signal=FAILED_AGE,
    op="<",
    single_event=(
        "A job that ended in state failed is over: there is nothing to wait for, and the "
        "alert clears by itself 30 minutes after the failure."
    ),
    levels=(
        Level(
            # Warning, not a page: the served model keeps serving while a training run is
            # retried; the ML team works it within the hour (see the escalation).
            Severity.WARNING,
            FAILED_WINDOW_S,
            for_seconds=0,
            cooldown_seconds=3600,  # longer than the window: one notification per failure
            test=AlertTest(
                # Failed at t=0: 2 minutes ago at t=120.
                firing=(_const("promfleet_training_job_failed_timestamp_seconds", JOB_ID, 0),),
                # Failed more than a day before t=0: still within a long retention, silent.
                quiet=(_const("promfleet_training_job_failed_timestamp_seconds", JOB_ID, -100000),),
                labels=JOB_ID,
                value=120,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Training job {{ $labels.job_id }} of {{ $labels.model }} failed",
    description=(
        "Training job {{ $labels.job_id }} of model {{ $labels.model }} on "
        "{{ $labels.instance }} ended in state failed {{ $value | humanizeDuration }} ago. "
        "The model it was training is not being updated. The alert clears 30 minutes after "
        "the failure, or when a retry under the same job id replaces the record."
    ),
    runbook=Runbook(
        meaning="A trainer wrote a status record saying its job ended in state failed, "
        "less than 30 minutes ago (one alert per failed job).",
        impact=(
            "The model is not retrained: a scheduled refresh is missed, and GPUs reserved "
            "for the job may sit idle until it is retried. The served model keeps serving."
        ),
        diagnosis=(
            f"Which jobs, and how long ago they failed: `{FAILED_AGE}`",
            "Failed jobs still within the retention window: "
            '`promfleet_training_jobs{state="failed"}`',
            "How far it got before failing: `promfleet_training_job_progress_ratio`",
            f"The trainer's own record and logs: ```sh\n{STATUS_DIR}\n"
            "cat /var/lib/promfleet/training/job-JOB_ID.json\n```",
        ),
        mitigation=(
            "Read the trainer's log for the cause (out of memory, a bad batch, a lost node).",
            "Fix the cause and retry the job; a retry under the same job id replaces the "
            "failed record and the alert resolves.",
        ),
        escalation=ESCALATE,
    ),
    panel=Panel(
        title="Seconds since each failed job ended",
        expr=f"time() - promfleet_training_job_failed_timestamp_seconds{{{SEL}}}",
        unit="s",
        description="How long ago each failed job (within the retention window) ended; "
        "under 30 minutes it warns.",
        legend="{{model}} {{job_id}}",
        expect_data=False,
    ),
)

JOB_STALLED = Threshold(
    name="TrainingJobStalled",
    signal=JOB_UPDATE_AGE,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            900,
            for_seconds=60,
            cooldown_seconds=3600,
            test=AlertTest(
                # The trainer wrote its record at t=0 and never again: 19 minutes old by t=1140.
                firing=(
                    _const("promfleet_training_job_last_update_timestamp_seconds", JOB_ID, 0),
                    _const("promfleet_training_job_running", JOB_ID, 1),
                ),
                quiet=(
                    series(
                        "promfleet_training_job_last_update_timestamp_seconds", JOB_ID, "0+60x40"
                    ),
                    _const("promfleet_training_job_running", JOB_ID, 1),
                ),
                labels=JOB_ID,
                value=1140,
                warmup_seconds=960,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Training job {{ $labels.job_id }} of {{ $labels.model }} has stalled",
    description=(
        "Running job {{ $labels.job_id }} (model {{ $labels.model }}) on "
        "{{ $labels.instance }} has not updated its status for "
        "{{ $value | humanizeDuration }}, more than 15 minutes."
    ),
    runbook=Runbook(
        meaning="A running job stopped writing its status record: no progress for 15 minutes.",
        impact="The job may be hung (a dead data loader, a collective waiting on a lost "
        "worker) while it keeps its GPUs.",
        diagnosis=(
            f"Which jobs and for how long: `{JOB_UPDATE_AGE}`. A record not rewritten for "
            "the exporter's --records.max-age (1 hour by default) is outdated: the job leaves "
            "the metrics, this alert resolves and TrainingStatusRecordsRejected "
            "(reason outdated) takes over.",
            "Whether its GPUs still work: `promfleet_training_gpu_utilisation_ratio`",
            f"When the record was last written: ```sh\n{STATUS_DIR}\n```",
        ),
        mitigation=(
            "Take a stack dump of the trainer (py-spy dump --pid PID) to see where it waits.",
            "Kill and restart the job from its last checkpoint.",
        ),
        escalation=ESCALATE,
    ),
    panel=Panel(
        title="Seconds since each running job's last update",
        expr=f"{JOB_UPDATE_AGE}{{{SEL}}}",
        unit="s",
        description="How long ago each running job wrote its status; a stall grows without bound.",
        legend="{{model}} {{job_id}}",
    ),
)

QUEUE_LONG = Threshold(
    name="TrainingQueueLong",
    signal="promfleet_training_pending_jobs",
    op=">",
    levels=(
        Level(
            Severity.INFO,
            10,
            for_seconds=900,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(_const("promfleet_training_pending_jobs", HOST, 14),),
                quiet=(_const("promfleet_training_pending_jobs", HOST, 3),),
                labels=HOST,
                value=14,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value }} training jobs are waiting on {{ $labels.instance }}",
    description=(
        "More than 10 training jobs have been pending on {{ $labels.instance }} for 15 "
        "minutes (now {{ $value }}). Jobs wait longer than they run."
    ),
    runbook=Runbook(
        meaning="The queue of jobs waiting to start has held more than 10 jobs for 15 minutes.",
        impact="Training results arrive late; nothing is broken yet.",
        diagnosis=(
            "Queue length over the day: `promfleet_training_pending_jobs`",
            'Which models wait: `promfleet_training_jobs{state="pending"} > 0`',
            "Whether the GPUs are busy: `promfleet_training_gpu_utilisation_ratio`",
        ),
        mitigation=(
            "Add GPU capacity or reprioritise the queue.",
            "Cancel duplicate or abandoned submissions.",
        ),
        escalation="Raise it in the ML team's planning when the queue stays long for days.",
    ),
    panel=Panel(
        title="Pending jobs",
        expr=f"promfleet_training_pending_jobs{{{SEL}}}",
        unit="short",
        description="Jobs waiting to start, over all models.",
    ),
)

PANELS = (
    Panel(
        title="Jobs by state",
        expr=f"sum by (state) (promfleet_training_jobs{{{SEL}}})",
        unit="short",
        description="Training jobs per state; completed and failed count jobs that ended "
        "within the exporter's retention window.",
        legend="{{state}}",
    ),
    Panel(
        title="Job progress",
        expr=f"promfleet_training_job_progress_ratio{{{SEL}}}",
        unit="percentunit",
        description="Share of each active job done.",
        legend="{{model}} {{job_id}}",
        expect_data=False,
    ),
    Panel(
        title="Training loss",
        expr=f"promfleet_training_job_loss{{{SEL}}}",
        unit="short",
        description="Latest training loss of each active job: the loss curve.",
        legend="{{model}} {{job_id}}",
        expect_data=False,
    ),
    Panel(
        title="Evaluation metric",
        expr=f"promfleet_training_job_eval_metric{{{SEL}}}",
        unit="short",
        description="Latest evaluation metric of each active job (named in its record).",
        legend="{{model}} {{job_id}}",
        expect_data=False,
    ),
    Panel(
        title="Training throughput",
        expr=f"promfleet_training_job_samples_per_second{{{SEL}}}",
        unit="short",
        description="Samples per second of each active job.",
        legend="{{model}} {{job_id}}",
        expect_data=False,
    ),
)
