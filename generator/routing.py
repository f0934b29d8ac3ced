"""Who gets what: the receivers, the (team, severity) -> receivers table with a fallback
for every severity, the escalation to management, and how urgently each severity is
delivered. Rendered to ``alertmanager/alertmanager.yml``; the README shows the table.

The policy fails safe: every critical alert reaches at least one receiver that wakes a
person and at least two different integrations, whatever its team label (a team no
route knows, or none, falls back to the ops pager); an alert with no known severity
pages the ops on-call engineer too. Secrets are never here: each receiver's secret
lives in a file, ``<secrets_dir>/<receiver>.<key>`` (see
``generator.render.alertmanager``).
"""

from __future__ import annotations

from generator.model import Receiver, Route, RoutingPolicy, Severity, SeverityPolicy, Team

SMTP = (
    ("from", "alertmanager@example.org"),
    ("smarthost", "smtp.example.org:587"),
    ("auth_username", "alertmanager@example.org"),
)

RECEIVERS: tuple[Receiver, ...] = (
    Receiver("ops-pager", "pagerduty", reaches="the ops on-call engineer's phone"),
    Receiver(
        "ops-email",
        "email",
        (("to", "ops@example.org"), *SMTP),
        reaches="the ops team's mailbox: a record of every page",
    ),
    Receiver(
        "critical-chat",
        "slack",
        (("channel", "#critical-alerts"),),
        reaches="the #critical-alerts channel",
    ),
    Receiver(
        "monitoring-chat",
        "slack",
        (("channel", "#monitoring"),),
        reaches="the #monitoring channel, for standard alerts",
    ),
    Receiver(
        "tickets",
        "webhook",
        (("url", "https://tickets.example.org/hooks/alertmanager"),),
        reaches="the ticket queue (one ticket per alert group, assigned by its team label)",
    ),
    Receiver(
        "engineering-pager",
        "opsgenie",
        (("team", "engineering"),),
        reaches="the engineering on-call rota in Opsgenie",
    ),
    Receiver("security-pager", "pushover", reaches="the security on-call engineer's phone"),
    Receiver(
        "security-siem",
        "webhook",
        (("url", "https://siem.example.org/hooks/promfleet"),),
        reaches="the SIEM, which opens a security incident",
    ),
    Receiver(
        "management-pager",
        "pagerduty",
        reaches="the management tier's escalation service",
    ),
    Receiver(
        "daily-digest",
        "email",
        (("to", "monitoring-digest@example.org"), *SMTP),
        reaches="one digest mail a day for every team's info alerts",
    ),
    Receiver(
        "deadmans-switch",
        "webhook",
        (("url", "https://deadmans-switch.example.org/ping/promfleet"),),
        send_resolved=False,
        no_resolved_reason=(
            "a heartbeat service counts any request as a heartbeat, so a resolved "
            "notification would hide a dead pipeline for one period"
        ),
        reaches="an external heartbeat service that pages when the Watchdog stops",
    ),
)

CRITICAL_ALSO = ("ops-email", "critical-chat")
STANDARD = ("tickets", "monitoring-chat")
DIGEST = ("daily-digest",)

ROUTES: tuple[Route, ...] = (
    Route(Team.OPS, Severity.CRITICAL, ("ops-pager", *CRITICAL_ALSO)),
    Route(Team.ENGINEERING, Severity.CRITICAL, ("engineering-pager", *CRITICAL_ALSO)),
    # The security on-call engineer is paged, and the SIEM opens its incident.
    Route(Team.SECURITY, Severity.CRITICAL, ("security-pager", "security-siem", *CRITICAL_ALSO)),
    Route(Team.MANAGEMENT, Severity.CRITICAL, ("management-pager", *CRITICAL_ALSO)),
    # An unknown or missing team still pages a human: the ops on-call engineer.
    Route(None, Severity.CRITICAL, ("ops-pager", *CRITICAL_ALSO)),
    Route(Team.OPS, Severity.WARNING, STANDARD),
    Route(Team.ENGINEERING, Severity.WARNING, STANDARD),
    Route(Team.SECURITY, Severity.WARNING, ("security-siem", *STANDARD)),
    Route(Team.MANAGEMENT, Severity.WARNING, STANDARD),
    Route(None, Severity.WARNING, STANDARD),
    Route(Team.OPS, Severity.INFO, DIGEST),
    Route(Team.ENGINEERING, Severity.INFO, DIGEST),
    Route(Team.SECURITY, Severity.INFO, DIGEST),
    Route(Team.MANAGEMENT, Severity.INFO, DIGEST),
    Route(None, Severity.INFO, DIGEST),
)

POLICY = RoutingPolicy(
    receivers=RECEIVERS,
    routes=ROUTES,
    severities=(
        # Critical: at once (a few seconds to batch a burst), updates every 5 minutes.
        SeverityPolicy(Severity.CRITICAL, group_wait_seconds=10, group_interval_seconds=300),
        # Warning: within the hour.
        SeverityPolicy(Severity.WARNING, group_wait_seconds=300, group_interval_seconds=900),
        # Info: one digest a day for every team, the first 15 minutes after Alertmanager
        # starts. It holds every info alert that fired since the last one, resolved or not.
        SeverityPolicy(
            Severity.INFO, group_wait_seconds=900, group_interval_seconds=86_400, digest=True
        ),
    ),
    default_receiver="ops-pager",
    deadmans_switch_receiver="deadmans-switch",
    escalation_receiver="management-pager",
    escalation_delay_seconds=1800,
)
