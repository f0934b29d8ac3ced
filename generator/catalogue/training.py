"""Catalogue area ``training``: model training jobs, model serving, drift, federated learning, GPUs.

Signals come from the training exporter (``promfleet_training_*``): status records that
trainers, model servers, drift monitors and federated coordinators write, and GPUs read
through NVML. Every alert goes to the engineering team.
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
from generator.testseries import gauge as _const
from generator.testseries import series

HOST = (("instance", "trainer-1:9108"), ("job", "training"))
MODEL = (*HOST, ("model", "resnet50"))
JOB_ID = (*MODEL, ("job_id", "run-42"))
GPU = (*HOST, ("gpu", "0"))
SEL = 'job=~"$job",instance=~"$instance"'
STATUS_DIR = "ls -l --time-style=+%FT%T /var/lib/promfleet/training"

JOB_UPDATE_AGE = "instance_job_id:promfleet_training_job_update_age:seconds"
ACCURACY_MARGIN = "instance_model:promfleet_training_model_accuracy_floor:margin"
ACCURACY_DROP = "instance_model:promfleet_training_model_accuracy:drop1d"
DRIFT = "instance_model_type:promfleet_training_drift_detections:increase1h"
DRIFT_15M = "instance_model_type:promfleet_training_drift_detections:increase15m"
FED_MISSING = "instance_model:promfleet_training_federated_participants:missing"
FED_AGE = "instance_model:promfleet_training_federated_last_aggregation:age_seconds"
GPU_MEMORY = "instance_gpu:promfleet_training_gpu_memory:usage_ratio"

RECORDING_RULES = (
    RecordingRule(
        JOB_UPDATE_AGE,
        "(time() - promfleet_training_job_last_update_timestamp_seconds)\n"
        "and on (instance, job, model, job_id) (promfleet_training_job_running == 1)",
    ),
    RecordingRule(
        ACCURACY_MARGIN,
        "promfleet_training_model_accuracy_ratio - promfleet_training_model_accuracy_floor_ratio",
    ),
    RecordingRule(
        ACCURACY_DROP,
        "promfleet_training_model_accuracy_ratio offset 1d\n"
        "- promfleet_training_model_accuracy_ratio",
    ),
    RecordingRule(DRIFT, "increase(promfleet_training_drift_detections_total[1h])"),
    RecordingRule(DRIFT_15M, "increase(promfleet_training_drift_detections_total[15m])"),
    RecordingRule(
        FED_MISSING,
        "promfleet_training_federated_participants_expected\n"
        "- promfleet_training_federated_participants",
    ),
    RecordingRule(
        FED_AGE, "time() - promfleet_training_federated_last_aggregation_timestamp_seconds"
    ),
    RecordingRule(
        GPU_MEMORY,
        "promfleet_training_gpu_memory_used_bytes\n"
        "/ (promfleet_training_gpu_memory_total_bytes > 0)",
    ),
)

_ESCALATE = (
    "Hand over to the owning ML team in working hours; page the engineering on-call "
    "engineer when a production model or a deadline-bound training run is affected."
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
                quiet=(
                    _const("promfleet_training_job_failed_timestamp_seconds", JOB_ID, -100000),
                ),
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
        escalation=_ESCALATE,
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
        escalation=_ESCALATE,
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

MODEL_LOAD_FAILED = Threshold(
    name="TrainingModelLoadFailed",
    category=Category.BUSINESS_PROCESS_FAILURE,
    signal='promfleet_training_model_state{state="failed"}',
    op="==",
    levels=(
        Level(
            Severity.CRITICAL,
            1,
            # A state, not an event: a server that retries and loads within 2 minutes
            # does not page.
            for_seconds=120,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_model_state", (*MODEL, ("state", "failed")), 1),
                ),
                quiet=(_const("promfleet_training_model_state", (*MODEL, ("state", "failed")), 0),),
                labels=(*MODEL, ("state", "failed")),
                value=1,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Model {{ $labels.model }} failed to load on {{ $labels.instance }}",
    description=(
        "For 2 minutes the model server on {{ $labels.instance }} has reported that model "
        "{{ $labels.model }} failed to load. Requests for it fail or fall back to an older "
        "model."
    ),
    runbook=Runbook(
        meaning="A model server wrote a record saying loading the model failed.",
        impact="Predictions for this model fail, or come from a stale fallback.",
        diagnosis=(
            'Which models: `promfleet_training_model_state{state="failed"} == 1`',
            "Memory the model needed when it last loaded: `promfleet_training_model_memory_bytes`",
            "The model server's log around the load, and the artefact it tried to read.",
        ),
        mitigation=(
            "Roll back to the previous model version.",
            "Fix the artefact (missing file, wrong format) or give the server more memory, "
            "then reload.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Model states",
        expr=f"promfleet_training_model_state{{{SEL}}} == 1",
        unit="short",
        description="Each model's current loading state (loading, loaded, failed, unloaded).",
        legend="{{model}} {{state}}",
        kind="table",
    ),
)

MODEL_LOAD_SLOW = Threshold(
    name="TrainingModelLoadingSlow",
    # How long the load in progress has taken, as the model server reports it: a load
    # under 10 minutes is routine and not even pending (the state alone, held by a 10m
    # `for`, pended through every load).
    signal=(
        "(promfleet_training_model_load_duration_seconds"
        ' and on (instance, job, model) promfleet_training_model_state{state="loading"} == 1)'
    ),
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            600,
            for_seconds=60,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_model_state", (*MODEL, ("state", "loading")), 1),
                    _const("promfleet_training_model_load_duration_seconds", MODEL, 900),
                ),
                # A load in progress for 5 minutes: routine.
                quiet=(
                    _const("promfleet_training_model_state", (*MODEL, ("state", "loading")), 1),
                    _const("promfleet_training_model_load_duration_seconds", MODEL, 300),
                ),
                labels=MODEL,
                value=900,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Model {{ $labels.model }} has been loading for 10 minutes on {{ $labels.instance }}",
    description=(
        "Model {{ $labels.model }} on {{ $labels.instance }} has been loading for "
        "{{ $value | humanizeDuration }}, more than 10 minutes. The server may be stuck "
        "downloading or deserialising it."
    ),
    runbook=Runbook(
        meaning="A model has been loading for more than ten minutes.",
        impact="The new model version is not serving; the old one (or none) answers.",
        diagnosis=(
            "How far it got: `promfleet_training_model_load_progress_ratio`",
            "How long loads usually take: `promfleet_training_model_load_duration_seconds`",
            "Disk and network of the host: the system dashboard.",
        ),
        mitigation=(
            "Restart the load; check the artefact store is reachable and fast.",
            "Roll back to the previous model if the new one cannot load.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Model load progress",
        expr=f"promfleet_training_model_load_progress_ratio{{{SEL}}}",
        unit="percentunit",
        description="Share of each model loaded.",
        legend="{{model}}",
        alert_thresholds=False,
    ),
)

ACCURACY_LOW = Threshold(
    name="TrainingModelAccuracyBelowFloor",
    signal=ACCURACY_MARGIN,
    op="<",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=900,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_model_accuracy_ratio", MODEL, 0.75),
                    _const("promfleet_training_model_accuracy_floor_ratio", MODEL, 0.875),
                ),
                quiet=(
                    _const("promfleet_training_model_accuracy_ratio", MODEL, 0.9375),
                    _const("promfleet_training_model_accuracy_floor_ratio", MODEL, 0.875),
                ),
                labels=MODEL,
                value=-0.125,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Model {{ $labels.model }} is below its accuracy floor",
    description=(
        "The accuracy of model {{ $labels.model }} on {{ $labels.instance }} has been "
        "{{ $value | humanizePercentage }} against its floor for 15 minutes."
    ),
    runbook=Runbook(
        meaning="The served model's measured accuracy is below the floor its owners set.",
        impact="Predictions are wrong more often than the product accepts.",
        diagnosis=(
            "Accuracy and floor: `promfleet_training_model_accuracy_ratio`, "
            "`promfleet_training_model_accuracy_floor_ratio`",
            f"Whether drift was detected: `{DRIFT} > 0`",
        ),
        mitigation=(
            "Roll back to the last model version that met the floor.",
            "Retrain on recent data when the inputs have drifted.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Model accuracy",
        expr=f"promfleet_training_model_accuracy_ratio{{{SEL}}}",
        unit="percentunit",
        description="Each served model's latest measured accuracy.",
        legend="{{model}}",
        alert_thresholds=False,
    ),
)


def _accuracy(day_ago: float, now: float) -> tuple[TestSeries, ...]:
    """Minute samples: ``day_ago`` for the first 24 hours, then ``now`` (the 5-minute
    lookback needs samples at least that often, or ``for`` restarts between them)."""
    return (
        series(
            "promfleet_training_model_accuracy_ratio", MODEL, f"{day_ago:g}+0x1439 {now:g}+0x40"
        ),
    )


ACCURACY_DROPPED = Threshold(
    name="TrainingModelAccuracyDropped",
    signal=ACCURACY_DROP,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.05,
            for_seconds=900,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=_accuracy(0.875, 0.75),
                quiet=_accuracy(0.875, 0.85),
                labels=MODEL,
                value=0.125,
                warmup_seconds=86400,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Model {{ $labels.model }} lost accuracy since yesterday",
    description=(
        "The accuracy of model {{ $labels.model }} on {{ $labels.instance }} is "
        "{{ $value | humanizePercentage }} lower than a day ago, more than 5 points."
    ),
    runbook=Runbook(
        meaning="The model's accuracy fell by more than five points against the same time "
        "yesterday.",
        impact="Predictions got noticeably worse; users may notice before the floor is reached.",
        diagnosis=(
            f"How much, per model: `{ACCURACY_DROP}`",
            f"Concept or data drift in the last hour: `{DRIFT} > 0`",
            "Whether a new model version was deployed in the last day.",
        ),
        mitigation=(
            "Roll back a model deployed since yesterday.",
            "Retrain on recent data when the inputs have drifted.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Accuracy change against a day ago",
        expr=f"{ACCURACY_DROP}{{{SEL}}}",
        unit="percentunit",
        description="Accuracy a day ago minus accuracy now: positive is a loss.",
        legend="{{model}}",
    ),
)

DRIFT_TYPE = (*MODEL, ("type", "concept"))

# increase() never counts a series' first sample, so a monitor first seen with a count
# already above zero (it detected drift before its first scrape) would go unnoticed; the
# monitor's own last-detection time covers that, and old counts stay quiet.
DRIFT_RECENT = (
    "or on (instance, job, model, type) ((time() - "
    'promfleet_training_drift_last_detection_timestamp_seconds{type="concept"} < bool 900) > 0)'
)

CONCEPT_DRIFT = Threshold(
    name="TrainingConceptDrift",
    # A single event counted over 15 minutes (the alerting policy's longest window for an
    # alert without a for): it fires once per detection, then resolves.
    signal=f'{DRIFT_15M}{{type="concept"}}',
    op=">",
    guard=DRIFT_RECENT,
    single_event=(
        "One detection is the drift monitor's verdict on a whole window of data, already "
        "checked by the monitor: nothing gets surer by waiting."
    ),
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                # A monitor first scraped with one detection, made at t=0: increase() sees
                # nothing, the last-detection time does.
                firing=(
                    _const("promfleet_training_drift_detections_total", DRIFT_TYPE, 1),
                    _const(
                        "promfleet_training_drift_last_detection_timestamp_seconds", DRIFT_TYPE, 0
                    ),
                ),
                # Three detections, the last two hours before the monitor was first scraped.
                quiet=(
                    _const("promfleet_training_drift_detections_total", DRIFT_TYPE, 3),
                    _const(
                        "promfleet_training_drift_last_detection_timestamp_seconds",
                        DRIFT_TYPE,
                        -7200,
                    ),
                ),
                labels=DRIFT_TYPE,
                value=1,
                warmup_seconds=120,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Concept drift detected for model {{ $labels.model }}",
    description=(
        "The drift monitor of model {{ $labels.model }} on {{ $labels.instance }} detected "
        "concept drift within the last 15 minutes: the relation between inputs and outcomes "
        "changed."
    ),
    runbook=Runbook(
        meaning="A drift monitor reported concept drift at least once within the last 15 "
        "minutes (its detection count rose, or its last detection time is less than 15 "
        "minutes old).",
        impact="The model's predictions degrade as the world it learnt no longer holds.",
        diagnosis=(
            f"How often, per model: `{DRIFT}`",
            "When the monitor last detected drift: "
            "`time() - promfleet_training_drift_last_detection_timestamp_seconds`",
            "Whether accuracy follows: `promfleet_training_model_accuracy_ratio`",
        ),
        mitigation=(
            "Retrain on recent data, or schedule a retraining when accuracy still holds.",
            "Check the upstream data pipeline for a change that explains the shift.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Drift detections in the last hour",
        expr=f"{DRIFT}{{{SEL}}}",
        unit="short",
        description="Detections per model and drift type over the last hour.",
        legend="{{model}} {{type}}",
    ),
)

FED_PARTICIPANTS = Threshold(
    name="TrainingFederatedParticipantsMissing",
    signal=FED_MISSING,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_federated_participants", MODEL, 7),
                    _const("promfleet_training_federated_participants_expected", MODEL, 10),
                ),
                quiet=(
                    _const("promfleet_training_federated_participants", MODEL, 10),
                    _const("promfleet_training_federated_participants_expected", MODEL, 10),
                ),
                labels=MODEL,
                value=3,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value }} federated participants missing for {{ $labels.model }}",
    description=(
        "The federated-learning coordinator of {{ $labels.model }} on {{ $labels.instance }} "
        "has missed {{ $value }} of its expected participants for 10 minutes."
    ),
    runbook=Runbook(
        meaning="Fewer participants are connected to the coordinator than it expects.",
        impact="Rounds aggregate fewer updates: slower convergence, a less representative model.",
        diagnosis=(
            "Connected and expected: `promfleet_training_federated_participants`, "
            "`promfleet_training_federated_participants_expected`",
            "The coordinator's log: which participants dropped, and their last error.",
        ),
        mitigation=(
            "Reconnect or restart the missing participants; check their network and credentials.",
            "Lower the expected count if participants were retired on purpose.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Federated participants connected",
        expr=f"promfleet_training_federated_participants{{{SEL}}}",
        unit="short",
        description="Participants connected to each coordinator.",
        legend="{{model}}",
        alert_thresholds=False,
    ),
)

FED_STALLED = Threshold(
    name="TrainingFederatedAggregationStalled",
    signal=FED_AGE,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            1800,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    _const(
                        "promfleet_training_federated_last_aggregation_timestamp_seconds",
                        MODEL,
                        0,
                        80,
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_training_federated_last_aggregation_timestamp_seconds",
                        MODEL,
                        "0+60x80",
                    ),
                ),
                labels=MODEL,
                value=2280,
                warmup_seconds=1860,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Federated aggregation of {{ $labels.model }} has stalled",
    description=(
        "The coordinator of {{ $labels.model }} on {{ $labels.instance }} has not completed "
        "an aggregation round for {{ $value | humanizeDuration }}, more than 30 minutes."
    ),
    runbook=Runbook(
        meaning="No aggregation round completed in the last 30 minutes.",
        impact="The federated model stops improving; participants' work is wasted.",
        diagnosis=(
            f"Seconds since the last round: `{FED_AGE}`",
            "Rounds over time: `increase(promfleet_training_federated_rounds_total[1h])`",
            f"Whether participants are missing: `{FED_MISSING} > 0`",
        ),
        mitigation=(
            "Restart the coordinator's round when it waits on a participant that left.",
            "Lower the round's minimum participants if too few remain.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Seconds since the last aggregation",
        expr=f"{FED_AGE}{{{SEL}}}",
        unit="s",
        description="How long ago each coordinator completed a round.",
        legend="{{model}}",
    ),
)


def _gpu_memory(used_gib: int) -> tuple[TestSeries, ...]:
    return (
        _const("promfleet_training_gpu_memory_total_bytes", GPU, 80 * 2**30),
        _const("promfleet_training_gpu_memory_used_bytes", GPU, used_gib * 2**30),
    )


GPU_MEMORY_HIGH = Threshold(
    name="TrainingGPUMemoryHigh",
    signal=GPU_MEMORY,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0.9,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_gpu_memory(76), quiet=_gpu_memory(40), labels=GPU, value=0.95),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} is "
    "{{ $value | humanizePercentage }} full",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has used more than 90 % of its "
        "memory for 5 minutes (now {{ $value | humanizePercentage }}). The next larger "
        "batch or model fails with out of memory."
    ),
    runbook=Runbook(
        meaning="A GPU's memory is more than 90 % used.",
        impact="Allocations fail with CUDA out of memory: jobs crash, model loads fail.",
        diagnosis=(
            f"Which GPUs: `{GPU_MEMORY}`",
            "On the host, which processes hold it: ```sh\nnvidia-smi\n```",
        ),
        mitigation=(
            "Lower the batch size, or enable gradient checkpointing or mixed precision.",
            "Move a job or a model to another GPU.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="GPU memory utilisation",
        expr=f"{GPU_MEMORY}{{{SEL}}}",
        unit="percentunit",
        description="Share of each GPU's memory in use.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)

GPU_IDLE = Threshold(
    name="TrainingGPUIdleWhileJobRuns",
    signal="promfleet_training_gpu_utilisation_ratio",
    op="<",
    guard="and on (instance, job, gpu) (promfleet_training_gpu_jobs_running > 0)",
    levels=(
        Level(
            Severity.INFO,
            0.1,
            for_seconds=900,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(
                    _const("promfleet_training_gpu_utilisation_ratio", GPU, 0.02),
                    _const("promfleet_training_gpu_jobs_running", GPU, 1),
                ),
                quiet=(
                    _const("promfleet_training_gpu_utilisation_ratio", GPU, 0.02),
                    _const("promfleet_training_gpu_jobs_running", GPU, 0),
                ),
                labels=GPU,
                value=0.02,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} idles while its job runs",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has been "
        "{{ $value | humanizePercentage }} busy for 15 minutes although a running job "
        "names it. The job is starved (input pipeline, network) or hung."
    ),
    runbook=Runbook(
        meaning="A GPU assigned to a running job is busy less than 10 % of the time.",
        impact="Expensive hardware is wasted and the job takes far longer than it should.",
        diagnosis=(
            "Utilisation per GPU: `promfleet_training_gpu_utilisation_ratio`",
            "Throughput of the jobs on it: `promfleet_training_job_samples_per_second`",
            "On the host: ```sh\nnvidia-smi dmon -c 5\n```",
        ),
        mitigation=(
            "Speed up the input pipeline (more loader workers, local data copies).",
            "Restart a job that hangs; release GPUs of a job that does not use them.",
        ),
        escalation="Raise it with the job's owner in working hours.",
    ),
    panel=Panel(
        title="GPU utilisation",
        expr=f"promfleet_training_gpu_utilisation_ratio{{{SEL}}}",
        unit="percentunit",
        description="Share of the last sample period each GPU was busy.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)


def _temperature(celsius: int) -> tuple[TestSeries, ...]:
    return (_const("promfleet_training_gpu_temperature_celsius", GPU, celsius),)


GPU_HOT = Threshold(
    name="TrainingGPUTemperatureHigh",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_training_gpu_temperature_celsius",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            85,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_temperature(88), quiet=_temperature(70), labels=GPU, value=88),
        ),
        Level(
            Severity.CRITICAL,
            92,
            for_seconds=120,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=_temperature(95),
                quiet=_temperature(88),
                labels=GPU,
                value=95,
                quiet_value=88,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="GPU {{ $labels.gpu }} on {{ $labels.instance }} is at {{ $value }} °C",
    description=(
        "GPU {{ $labels.gpu }} on {{ $labels.instance }} has run at {{ $value }} °C. Above "
        "about 85 °C GPUs slow their clocks; near 95 °C they shut down."
    ),
    runbook=Runbook(
        meaning="A GPU runs hot enough to throttle, or close to its shutdown temperature.",
        impact="Training slows down as clocks drop; at the limit the GPU stops and jobs fail.",
        diagnosis=(
            "Temperature and power: `promfleet_training_gpu_temperature_celsius`, "
            "`promfleet_training_gpu_power_watts`",
            "On the host: ```sh\nnvidia-smi -q -d TEMPERATURE,PERFORMANCE\n```",
        ),
        mitigation=(
            "Check the fans and the room's cooling; clear blocked air flow.",
            "Lower the power limit (nvidia-smi -pl) or move work off the hot GPU.",
        ),
        escalation=(
            "Call the data-centre or cloud provider when cooling fails; page the "
            "engineering on-call engineer at critical."
        ),
    ),
    panel=Panel(
        title="GPU temperature",
        expr=f"promfleet_training_gpu_temperature_celsius{{{SEL}}}",
        unit="celsius",
        description="Core temperature of each GPU.",
        legend="{{instance}} GPU {{gpu}}",
    ),
)

SOURCE = (*HOST, ("source", "directory"))
REJECTED = (*SOURCE, ("reason", "outdated"))

SOURCE_DOWN = Threshold(
    name="TrainingStatusSourceDown",
    signal="promfleet_training_source_up",
    op="==",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(_const("promfleet_training_source_up", SOURCE, 0),),
                quiet=(_const("promfleet_training_source_up", SOURCE, 1),),
                labels=SOURCE,
                value=0,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="The training exporter on {{ $labels.instance }} cannot read its "
    "{{ $labels.source }} source",
    description=(
        "The training exporter on {{ $labels.instance }} has not been able to read its "
        "{{ $labels.source }} status source for 5 minutes. Every job, model, drift and "
        "federated series from it is gone, so the training alerts that depend on them "
        "cannot fire (and the ones that fired have resolved)."
    ),
    runbook=Runbook(
        meaning="The status directory is missing or unreadable, or Redis refuses, times out "
        "or rejects the exporter's credentials.",
        impact="Training alerts are blind: a failed or stalled job, a model that cannot load, "
        "drift and federated problems all go unseen.",
        diagnosis=(
            "Which source: `promfleet_training_source_up == 0`",
            "The reason: the exporter's log line `status source unreadable` (its error field).",
            f"The directory and its permissions: ```sh\n{STATUS_DIR}\n```",
            'Redis from the exporter\'s host: ```sh\nredis-cli -u "$REDIS_URL" ping\n```',
        ),
        mitigation=(
            "Recreate the directory or fix its permissions (the exporter needs read and "
            "execute on it); the exporter reads it again on the next scrape.",
            "Restore Redis, or correct the URL or password file the exporter was given.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Status sources up",
        expr=f"promfleet_training_source_up{{{SEL}}}",
        unit="short",
        description="1 when the exporter read the source (directory, redis) in its last scrape.",
        legend="{{instance}} {{source}}",
    ),
)

RECORDS_REJECTED = Threshold(
    name="TrainingStatusRecordsRejected",
    signal="promfleet_training_records_rejected",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=900,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=(_const("promfleet_training_records_rejected", REJECTED, 2),),
                quiet=(_const("promfleet_training_records_rejected", REJECTED, 0),),
                labels=REJECTED,
                value=2,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $value }} {{ $labels.reason }} status records on {{ $labels.instance }}",
    description=(
        "The training exporter on {{ $labels.instance }} has ignored {{ $value }} record(s) "
        "of its {{ $labels.source }} source as {{ $labels.reason }} for 15 minutes: the jobs "
        "and models they describe are not monitored. Outdated means a writer stopped "
        "rewriting its record without ending it (a trainer killed or hung for longer than "
        "the exporter's records.max-age)."
    ),
    runbook=Runbook(
        meaning="Status records exist that the exporter cannot use: malformed (not a JSON "
        "object or hash), invalid (a field missing or out of range), unsupported_version, "
        "outdated (not rewritten within --records.max-age), too_large or unreadable.",
        impact="What those records describe is invisible: a hung trainer whose record went "
        "outdated no longer raises TrainingJobStalled, a broken writer's jobs never alert.",
        diagnosis=(
            "Which source and reason: `promfleet_training_records_rejected > 0`",
            "Which records and why: the exporter's log lines `status record rejected` "
            "(record and detail fields; each is logged once).",
            f"The oldest records: ```sh\n{STATUS_DIR}\n```",
        ),
        mitigation=(
            "Outdated: find the trainer or server that wrote the record; restart a hung one, "
            "or remove the record of one that is gone for good (StatusWriter.remove).",
            "Malformed, invalid or unsupported_version: fix the writer (use the shipped "
            "StatusWriter, or validate against status.schema.json); the next good write "
            "replaces the record.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Status records rejected",
        expr=f"promfleet_training_records_rejected{{{SEL}}}",
        unit="short",
        description="Records the exporter could not use, by source and reason "
        "(malformed, invalid, outdated, ...).",
        legend="{{source}} {{reason}}",
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
    Panel(
        title="GPU power",
        expr=f"promfleet_training_gpu_power_watts{{{SEL}}}",
        unit="watt",
        description="Power draw of each GPU.",
        legend="{{instance}} GPU {{gpu}}",
        expect_data=False,
    ),
    Panel(
        title="GPUs reported",
        expr=f"promfleet_training_gpu_devices{{{SEL}}}",
        unit="short",
        description="GPUs NVML reports; 0 with gpu_unavailable_info saying why.",
    ),
)

AREA = Area(
    name="training",
    title="ML training",
    description="Model training jobs, model serving, drift, federated learning and GPUs.",
    recording_rules=RECORDING_RULES,
    thresholds=(
        JOB_FAILED,
        JOB_STALLED,
        QUEUE_LONG,
        MODEL_LOAD_FAILED,
        MODEL_LOAD_SLOW,
        ACCURACY_LOW,
        ACCURACY_DROPPED,
        CONCEPT_DRIFT,
        FED_PARTICIPANTS,
        FED_STALLED,
        GPU_MEMORY_HIGH,
        GPU_IDLE,
        GPU_HOT,
        SOURCE_DOWN,
        RECORDS_REJECTED,
    ),
    panels=PANELS,
)
