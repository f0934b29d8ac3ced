"""Training alerts on model serving: models that fail to load or load slowly."""

from __future__ import annotations

from generator.catalogue.training._common import (
    ESCALATE,
    MODEL,
    SEL,
)
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    Runbook,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import gauge as _const

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
        escalation=ESCALATE,
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
        escalation=ESCALATE,
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
