"""Training alerts on the exporter's status source: unreadable, records rejected."""

from __future__ import annotations

from generator.catalogue.training._common import (
    ESCALATE,
    HOST,
    SEL,
    STATUS_DIR,
)
from generator.model import (
    AlertTest,
    Level,
    Panel,
    Runbook,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import gauge as _const

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
        escalation=ESCALATE,
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
        escalation=ESCALATE,
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
