"""Training alerts on model quality: accuracy under its floor or dropping, concept drift."""

from __future__ import annotations

from generator.catalogue._seeds import seed_note
from generator.catalogue.training._common import (
    ESCALATE,
    MODEL,
    SEL,
)
from generator.model import (
    AlertTest,
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

ACCURACY_MARGIN = "instance_model:promfleet_training_model_accuracy_floor:margin"
ACCURACY_DROP = "instance_model:promfleet_training_model_accuracy:drop1d"
DRIFT = "instance_model_type:promfleet_training_drift_detections:increase1h"
DRIFT_15M = "instance_model_type:promfleet_training_drift_detections:increase15m"

RECORDING_RULES = (
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
        escalation=ESCALATE,
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
        escalation=ESCALATE,
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
        "minutes old). " + seed_note("TrainingConceptDrift"),
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
        escalation=ESCALATE,
    ),
    panel=Panel(
        title="Drift detections in the last hour",
        expr=f"{DRIFT}{{{SEL}}}",
        unit="short",
        description="Detections per model and drift type over the last hour.",
        legend="{{model}} {{type}}",
    ),
)
