"""Training alerts on federated learning: missing participants, stalled aggregation."""

from __future__ import annotations

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
    Threshold,
)
from generator.testseries import gauge as _const
from generator.testseries import series

FED_MISSING = "instance_model:promfleet_training_federated_participants:missing"
FED_AGE = "instance_model:promfleet_training_federated_last_aggregation:age_seconds"

RECORDING_RULES = (
    RecordingRule(
        FED_MISSING,
        "promfleet_training_federated_participants_expected\n"
        "- promfleet_training_federated_participants",
    ),
    RecordingRule(
        FED_AGE, "time() - promfleet_training_federated_last_aggregation_timestamp_seconds"
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
        escalation=ESCALATE,
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
        escalation=ESCALATE,
    ),
    panel=Panel(
        title="Seconds since the last aggregation",
        expr=f"{FED_AGE}{{{SEL}}}",
        unit="s",
        description="How long ago each coordinator completed a round.",
        legend="{{model}}",
    ),
)
