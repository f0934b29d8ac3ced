"""Alert rules the monitored systems' own documents state, and the catalogue alert that
carries each: a rule is mapped onto an existing alert rather than written twice.

BlindspotX rates its rules high, medium or low. promfleet's severities are urgency (the
alerting policy): high maps onto critical (a page) where a human must act now, medium
onto warning (worked within the hour), low onto info (the daily digest). Where a rule
rated high is not a symptom to wake for, its entry says so and keeps the warning.
Each carrying alert's runbook quotes its rule (:func:`seed_note`); a test holds every
rule here to an alert of the stated severity.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.model import Severity

BLINDSPOTX_SEVERITY: dict[str, Severity] = {
    "high": Severity.CRITICAL,
    "medium": Severity.WARNING,
    "low": Severity.INFO,
}


@dataclass(frozen=True)
class SeedRule:
    """One rule as a system's document writes it, and where promfleet carries it."""

    system: str
    rule: str  # "authentication failures 5 in 300 s"
    rating: str  # the system's own: high, medium, low
    alert: str  # the catalogue alert that carries it
    severity: Severity  # the carrying alert's severity for this rule
    how: str  # how the alert expresses the rule, and why that severity


BLINDSPOTX_RULES = (
    SeedRule(
        "BlindspotX",
        "authentication failures 5 in 300 s",
        "high",
        "SecurityBruteForce",
        BLINDSPOTX_SEVERITY["high"],
        "the same numbers are the brute-force policy (5 failures from one source within "
        "300 s), which pages; failures spread over many sources are counted by "
        "SecurityAuthFailuresHigh (more than 50 an hour, a warning), since 5 failed logins "
        "in 5 minutes across all users would page a busy service all day",
    ),
    SeedRule(
        "BlindspotX",
        "API errors 10 in 60 s",
        "medium",
        "AppAPIErrorBurst",
        BLINDSPOTX_SEVERITY["medium"],
        "10 or more 5xx answers in the last 60 s, held for 2 minutes, and more than 5 % of "
        "the requests (so that 10 errors among 60,000 a minute stay quiet)",
    ),
    SeedRule(
        "BlindspotX",
        "drift detected 1 in 3,600 s",
        "high",
        "TrainingConceptDrift",
        Severity.WARNING,
        "it fires on each detection (counted over 15 minutes, or the monitor's last "
        "detection time) and repeats every hour while it holds (its cooldown, 3,600 s). "
        "Rated high, it stays a warning: a drift verdict is worked within the hour "
        "(retrain, check the data pipeline), and nothing a human does at 3 a.m. changes "
        "it; when predictions visibly degrade, TrainingModelAccuracyBelowFloor warns too",
    ),
)


def seed_note(alert: str) -> str:
    """The runbook sentence quoting every seed rule ``alert`` carries ("" if none)."""
    notes = []
    for rule in BLINDSPOTX_RULES:
        if rule.alert == alert:
            notes.append(
                f"{rule.system}'s rule \"{rule.rule}\" ({rule.rating}) is this alert, as "
                f"{rule.severity.value}: {rule.how}. {rule.system}'s high maps onto critical "
                "where a human must act now, medium onto warning, low onto info."
            )
    return " ".join(notes)
